#!/usr/bin/env python3
"""Bootstrap and run the project's jobs with nothing but python3 (3.10+).

    python3 dev.py demo     fetch ICE credentials: from the real API when TURNIX_API_TOKEN
                            is set, else from a bundled local Turnix server (offline)
    python3 dev.py test     run the whole test suite
    python3 dev.py lint     ruff check, ruff format --check, mypy --strict
    python3 dev.py docs     build the documentation site strictly into site/

Each job first makes `.venv/` (once, and again when pyproject.toml changes) with
the package installed in editable mode plus its test and lint tools.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".turnix-installed"
EXTRAS = os.environ.get("TURNIX_EXTRAS", "dev,aiortc,docs")


def ensure_venv() -> None:
    """Create or refresh .venv so it matches pyproject.toml and the requested extras."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + EXTRAS.encode()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted and PYTHON.exists():
        return
    if sys.version_info < (3, 10):
        sys.exit(f"turnix-async needs Python 3.10+, this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"creating {VENV} ...", flush=True)
        try:
            venv.create(VENV, with_pip=True)
        except Exception as exc:  # e.g. Debian without python3-venv
            sys.exit(f"cannot create a virtualenv ({exc}); on Debian/Ubuntu: apt install python3-venv")
    pip = [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    print(f"installing turnix-async[{EXTRAS}] into {VENV} ...", flush=True)
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "--editable", f"{ROOT}[{EXTRAS}]"], check=True)
    STAMP.write_text(wanted)


def run(*args: str) -> int:
    return subprocess.run([str(PYTHON), *args], cwd=ROOT).returncode


def main(argv: list[str]) -> int:
    job, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if job not in {"demo", "test", "lint", "docs"}:
        print(__doc__)
        return 0 if job in {"help", "-h", "--help"} else 2
    ensure_venv()
    if job == "demo":
        if os.environ.get("TURNIX_API_TOKEN"):  # a real account: ask the real API
            return run("-m", "turnix_async", "ice", *rest) or run("-m", "turnix_async", "regions")
        return run("-m", "turnix_async", "demo", *rest)
    if job == "test":
        return run("-m", "pytest", *rest)
    if job == "docs":
        os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
        return run("-m", "mkdocs", "build", "--strict", "--site-dir", "site", *rest)
    checks = [
        ("-m", "ruff", "check", "turnix_async", "tests", "benchmarks", "examples"),
        ("-m", "ruff", "format", "--check", "turnix_async", "tests", "benchmarks", "examples"),
        ("-m", "mypy", "--strict", "turnix_async"),
    ]
    return max(run(*check) for check in checks)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
