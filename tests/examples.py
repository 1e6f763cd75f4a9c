"""Loading the docs' example files as modules, for the tests that drive them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"


def load(name: str, folder: Path = EXAMPLES) -> ModuleType:
    """Import `folder/name` under a name of its own (docs examples are not a package)."""
    spec = importlib.util.spec_from_file_location(f"docs_example_{name[:-3]}", folder / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
