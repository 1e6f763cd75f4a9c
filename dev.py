#!/usr/bin/env python3
"""Bootstrap and run the project's jobs with nothing but python3 (3.10+).

    python3 dev.py demo         fetch ICE credentials: from the real API when TURNIX_API_TOKEN
                                is set, else from a bundled local Turnix server (offline)
    python3 dev.py test         run the whole test suite
    python3 dev.py lint         ruff check and format --check, mypy --strict, pyright --verifytypes
    python3 dev.py docs         build the documentation site strictly into site/
    python3 dev.py test-matrix  the core suite (no browser, coturn, aiortc) on every Python
                                3.10-3.13 found here, and at the lowest declared dependencies

Every job shares `.venv/` with the package installed in editable mode; each job adds
only the extras it needs (the demo none), once, and again when pyproject.toml changes.
The matrix keeps one venv per interpreter under `.venv/matrix/`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PYPROJECT = ROOT / "pyproject.toml"
VENV = ROOT / ".venv"
STAMPS = VENV / ".turnix-stamps"
MATRIX = VENV / "matrix"
SUPPORTED = ("3.10", "3.11", "3.12", "3.13")

# the extras each job installs into .venv; "dev" holds the test, lint and build tools
JOB_EXTRAS = {
    "demo": (),
    "test": ("dev", "aiortc"),
    "lint": ("dev",),
    "docs": ("docs",),
}
# the core suite: without the real-browser, coturn and aiortc end-to-end tests and the
# packaging build, which the main job (`dev.py test`, end-to-end required) runs once
CORE_SUITE = (
    "-m",
    "not browser",
    "--ignore=tests/test_browser_e2e.py",
    "--ignore=tests/test_relay_e2e.py",
    "--ignore=tests/test_aiortc.py",
    "--ignore=tests/test_packaging.py",
    "--deselect=tests/test_docs.py::test_aiortc_example_relays_through_coturn",
)
PIP_FLAGS = ("--quiet", "--disable-pip-version-check")


def python_in(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def fingerprint(*parts: str) -> str:
    return hashlib.sha256(PYPROJECT.read_bytes() + "\0".join(parts).encode()).hexdigest()


def make_venv(env: Path, base_python: str | None = None) -> Path:
    """Create a venv (of `base_python`, else this interpreter) whose pip does editable installs."""
    python = python_in(env)
    if python.exists():
        return python
    print(f"creating {env} ...", flush=True)
    try:
        if base_python is None:
            venv.create(env, with_pip=True)
        else:
            subprocess.run([base_python, "-m", "venv", str(env)], check=True)
    except Exception as exc:  # e.g. Debian without python3-venv
        shutil.rmtree(env, ignore_errors=True)
        sys.exit(f"cannot create a virtualenv ({exc}); on Debian/Ubuntu: apt install python3-venv")
    pip_version = subprocess.run(
        [str(python), "-c", "import pip; print(pip.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if tuple(int(part) for part in re.findall(r"\d+", pip_version)[:2]) < (21, 3):  # PEP 660
        subprocess.run([str(python), "-m", "pip", "install", *PIP_FLAGS, "-U", "pip"], check=True)
    return python


def ensure_venv(extras: tuple[str, ...]) -> Path:
    """Make .venv hold the package and `extras`; install only what no stamp vouches for."""
    if sys.version_info < (3, 10):  # noqa: UP036 - say so, rather than fail obscurely
        sys.exit(f"turnix-async needs Python 3.10+, this is {sys.version.split()[0]}")
    wanted = fingerprint()
    names = ("package", *extras)
    python = python_in(VENV)
    stale = [name for name in names if not stamp_is(STAMPS / name, wanted)]
    if python.exists() and not stale:
        return python
    python = make_venv(VENV)
    target = f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)
    print(f"installing {target.replace(str(ROOT), 'turnix-async')} into {VENV} ...", flush=True)
    subprocess.run([str(python), "-m", "pip", "install", *PIP_FLAGS, "-e", target], check=True)
    STAMPS.mkdir(exist_ok=True)
    for name in names:
        (STAMPS / name).write_text(wanted)
    return python


def stamp_is(stamp: Path, wanted: str) -> bool:
    return stamp.is_file() and stamp.read_text() == wanted


def run(python: Path, *args: str, env: dict[str, str] | None = None) -> int:
    return subprocess.run([str(python), *args], cwd=ROOT, env=env).returncode


# -- test-matrix -------------------------------------------------------------------------


def lower_bounds() -> tuple[list[str], str]:
    """The runtime dependencies pinned at their declared lower bounds, and the build's setuptools.

    pyproject.toml is read with a regex: tomllib is not in Python 3.10.
    """
    text = PYPROJECT.read_text()
    runtime = re.search(r"^dependencies = \[(.*?)^\]", text, re.M | re.S)
    build = re.search(r"^requires = \[(.*?)\]", text, re.M | re.S)
    assert runtime and build, "pyproject.toml: no [project] dependencies or [build-system] requires"
    pins = [pin(req) for req in re.findall(r'"([^"]+)"', runtime.group(1))]
    (setuptools,) = [pin(r) for r in re.findall(r'"([^"]+)"', build.group(1)) if "setuptools" in r]
    return pins, setuptools


def pin(requirement: str) -> str:
    """`aiohttp>=3.12; marker` -> `aiohttp==3.12; marker`: the version the bound promises works."""
    match = re.fullmatch(r"\s*([\w.-]+)(?:\[[^]]*\])?\s*>=\s*([^,;\s]+)[^;]*(;.*)?", requirement)
    if not match:
        sys.exit(f"pyproject.toml: {requirement!r} has no lower bound (name>=version) to test")
    name, version, marker = match.groups()
    return f"{name}=={version}{marker or ''}"


def interpreters() -> dict[str, str]:
    """Each supported Python this machine has: pyenv's newest patch release, else python3.X."""
    found: dict[str, str] = {}
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for minor in SUPPORTED:
        releases = [p for p in versions.glob(f"{minor}.*") if re.fullmatch(r"[\d.]+", p.name)]
        releases.sort(key=lambda p: [int(part) for part in p.name.split(".")], reverse=True)
        candidates = [str(p / "bin" / f"python{minor}") for p in releases]
        candidates.append(shutil.which(f"python{minor}") or "")
        for exe in filter(None, candidates):
            check = [exe, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"]
            probe = subprocess.run(check, capture_output=True, text=True)
            if probe.returncode == 0 and probe.stdout.strip() == minor:
                found[minor] = exe
                break
    return found


def build_wheel(python: Path, out: Path) -> Path:
    """Build the wheel with `python`'s setuptools (no isolation) from a clean copy of the tree."""
    junk = shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "site", "*.egg-info", ".*_cache", "__pycache__"
    )
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "src"
        shutil.copytree(ROOT, source, ignore=junk)
        shutil.rmtree(out, ignore_errors=True)
        pip_wheel = ["-m", "pip", "wheel", *PIP_FLAGS, "--no-deps", "--no-build-isolation"]
        subprocess.run([str(python), *pip_wheel, "-w", str(out), str(source)], check=True)
    (wheel,) = out.glob("turnix_async-*.whl")
    return wheel


def install_matrix_env(env: Path, base_python: str, wheel: Path, pins: Path | None) -> Path:
    """A venv with the test extra (at the lowest pins with `pins`), then always the fresh wheel."""
    python = make_venv(env, base_python)
    pip = [str(python), "-m", "pip", "install", *PIP_FLAGS]
    stamp = env / ".turnix-stamp"
    wanted = fingerprint(pins.read_text() if pins else "")
    with (env / "install.log").open("w") as log:
        if not stamp_is(stamp, wanted):
            constraints = ["-c", str(pins)] if pins else []
            subprocess.run(
                [*pip, *constraints, f"{wheel}[test]"], check=True, stdout=log, stderr=log
            )
            stamp.write_text(wanted)
        reinstall = [*pip, "--no-deps", "--force-reinstall", str(wheel)]
        subprocess.run(reinstall, check=True, stdout=log, stderr=log)
    return python


def test_matrix(args: list[str]) -> int:
    found = interpreters()
    if not found:
        sys.exit(f"no Python {', '.join(SUPPORTED)} found on PATH or under pyenv")
    missing = [minor for minor in SUPPORTED if minor not in found]
    print(f"interpreters: {found}" + (f"; not on this machine: {missing}" if missing else ""))
    lowest_deps, lowest_setuptools = lower_bounds()
    oldest, newest = next(iter(found)), list(found)[-1]  # found is in SUPPORTED's order
    MATRIX.mkdir(parents=True, exist_ok=True)
    pins = MATRIX / "lowest.txt"
    pins.write_text("\n".join(lowest_deps) + "\n")

    builder = make_venv(MATRIX / f"lowest-py{oldest}", found[oldest])
    print(f"building the wheel with {lowest_setuptools}, no build isolation ...", flush=True)
    pip = [str(builder), "-m", "pip", "install", *PIP_FLAGS]
    subprocess.run([*pip, lowest_setuptools], check=True)
    wheel = build_wheel(builder, MATRIX / "dist")

    envs: dict[str, tuple[Path, str, Path | None]] = {
        f"py{minor}": (MATRIX / f"py{minor}", exe, None) for minor, exe in found.items()
    }
    for minor in dict.fromkeys((oldest, newest)):  # old pins break first on the newest Python
        name = f"lowest on py{minor}: {', '.join(lowest_deps)}"
        envs[name] = (MATRIX / f"lowest-py{minor}", found[minor], pins)
    print(f"installing the test extra into {len(envs)} venvs at once ...", flush=True)
    with ThreadPoolExecutor(max_workers=len(envs)) as pool:
        jobs = {
            name: pool.submit(install_matrix_env, env, exe, wheel, env_pins)
            for name, (env, exe, env_pins) in envs.items()
        }
    pythons = {}
    for name, job in jobs.items():
        if job.exception():
            log = envs[name][0] / "install.log"
            print(log.read_text()[-3000:] if log.exists() else "")
            sys.exit(f"{name}: installing failed ({job.exception()})")
        pythons[name] = job.result()

    env = {key: value for key, value in os.environ.items() if key != "TURNIX_REQUIRE_E2E"}
    results = {}
    for name, python in pythons.items():
        print(f"\n== core suite on {name} ==", flush=True)
        pytest = ["-m", "pytest", "-q", "-p", "no:cacheprovider", *CORE_SUITE, *args]
        results[name] = run(python, *pytest, env=env)
    print("\n== test-matrix ==")
    for name, code in results.items():
        print(f"{'ok  ' if code == 0 else 'FAIL'}  {name}")
    return max(results.values())


def main(argv: list[str]) -> int:
    job, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if job == "test-matrix":
        return test_matrix(rest)
    if job not in JOB_EXTRAS:
        print(__doc__)
        return 0 if job in {"help", "-h", "--help"} else 2
    python = ensure_venv(JOB_EXTRAS[job])
    if job == "demo":
        if os.environ.get("TURNIX_API_TOKEN"):  # a real account: ask the real API
            return run(python, "-m", "turnix_async", "ice", *rest) or run(
                python, "-m", "turnix_async", "regions"
            )
        return run(python, "-m", "turnix_async", "demo", *rest)
    if job == "test":
        return run(python, "-m", "pytest", *rest)
    if job == "docs":
        os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
        return run(python, "-m", "mkdocs", "build", "--strict", "--site-dir", "site", *rest)
    # pyright --verifytypes looks the package up on the interpreter's path, which an
    # editable install's import hook does not extend: point it at the source tree (and
    # skip its online look-up of a newer release)
    typing_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"}
    sources = ("turnix_async", "tests", "benchmarks", "examples", "dev.py")
    checks = [
        ("-m", "ruff", "check", *sources),
        ("-m", "ruff", "format", "--check", *sources),
        ("-m", "mypy", "--strict", "turnix_async"),
    ]
    codes = [run(python, *check) for check in checks]
    verify = ("--verifytypes", "turnix_async", "--ignoreexternal", "--pythonpath", str(python))
    codes.append(run(python, "-m", "pyright", *verify, env=typing_env))
    return max(codes)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
