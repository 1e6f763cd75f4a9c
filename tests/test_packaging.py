"""The sdist and the wheel `python -m build` makes: what each ships, and the sdist's tests run.

One build (sdist, then the wheel from that sdist, as pip does) serves every test here;
it takes some seconds, so the module is marked `packaging` (`-m "not packaging"` skips it
while iterating; the README's test command and CI run it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# what the tests and the docs build read, beside the package itself
SHIPPED_TREES = ("tests", "docs", "examples", "benchmarks")
SHIPPED_FILES = ("LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "mkdocs.yml", "dev.py")

pytestmark = pytest.mark.packaging


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    # from a copy without build leftovers: setuptools adds the files an old
    # *.egg-info/SOURCES.txt lists to the sdist, which would hide a MANIFEST.in gap
    source = tmp_path_factory.mktemp("source") / "turnix-async"
    leftovers = (".git", ".venv", "build", "dist", "site", "*.egg-info", ".*_cache", "__pycache__")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*leftovers))
    out = tmp_path_factory.mktemp("dist")
    build = [sys.executable, "-m", "build", "--outdir", str(out), str(source)]
    result = subprocess.run(build, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (sdist,) = out.glob("turnix_async-*.tar.gz")
    (wheel,) = out.glob("turnix_async-*.whl")
    return {"sdist": sdist, "wheel": wheel}


def source_files(tree: str) -> set[str]:
    """The files of `tree`, without caches (`__pycache__`, and tools' `.ruff_cache` & co)."""
    paths = (p.relative_to(ROOT) for p in (ROOT / tree).rglob("*") if p.is_file())
    return {
        path.as_posix()
        for path in paths
        if not any(part == "__pycache__" or part.startswith(".") for part in path.parts)
        and path.suffix != ".pyc"
    }


def test_wheel_ships_the_typed_package_and_its_license(dists: dict[str, Path]) -> None:
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        names = set(wheel.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        headers = HeaderParser().parsestr(wheel.read(metadata).decode())
    dist_info = metadata.rsplit("/", 1)[0]
    assert {"turnix_async/py.typed", f"{dist_info}/licenses/LICENSE"} <= names
    assert headers["License-Expression"] == "MIT"
    assert headers.get_all("License-File") == ["LICENSE"]
    assert {name.split("/", 1)[0] for name in names} == {"turnix_async", dist_info}


def test_sdist_ships_what_its_tests_and_docs_read(dists: dict[str, Path]) -> None:
    with tarfile.open(dists["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    wanted = set(SHIPPED_FILES) | {"tests/__init__.py", "tests/conftest.py"}
    for tree in SHIPPED_TREES:
        wanted |= source_files(tree)
    assert wanted - names == set()
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_tests_run_from_the_unpacked_sdist(
    dists: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Every test module imports from the sdist alone; those reading docs/ and examples/ pass."""
    with tarfile.open(dists["sdist"]) as sdist:
        unpacked = tmp_path_factory.mktemp("sdist")
        if hasattr(tarfile, "data_filter"):  # Python 3.10.12+: refuse paths outside `unpacked`
            sdist.extractall(unpacked, filter="data")
        else:
            sdist.extractall(unpacked)
    (source,) = unpacked.iterdir()
    env = {**os.environ, "PYTHONPATH": str(source)}  # the sdist's package, not this checkout's
    where = subprocess.run(
        [sys.executable, "-c", "import turnix_async; print(turnix_async.__file__)"],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(source)

    pytest_in_sdist = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    collect = subprocess.run(
        [*pytest_in_sdist, "--collect-only", "tests"], cwd=source, env=env, capture_output=True
    )
    assert collect.returncode == 0, collect.stdout.decode()[-3000:]
    run = subprocess.run(
        [
            *pytest_in_sdist,
            "tests/test_docs.py",
            "tests/test_signaling_example.py",
            # coturn runs in this checkout's suite; here only what the sdist's files decide
            "--deselect=tests/test_docs.py::test_aiortc_example_relays_through_coturn",
        ],
        cwd=source,
        env=env,
        capture_output=True,
    )
    assert run.returncode == 0, run.stdout.decode()[-3000:]
