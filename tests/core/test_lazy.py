"""dedupe.core.lazy: a package's names are loaded on first use, and each is what it says."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = [
    "photoverify.dedupe.core",
    "photoverify.dedupe.catalog",
    "photoverify.dedupe.match",
    "photoverify.dedupe.move",
    "photoverify.verify.manifest",
    "photoverify.verify.checks",
    "photoverify.verify.report",
    "photoverify.verify.audit",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_loads_and_none_is_a_module_name(package: str) -> None:
    pkg = importlib.import_module(package)
    folder = Path(pkg.__file__).parent
    modules = {p.stem for p in folder.glob("*.py")} | {
        p.name for p in folder.iterdir() if p.is_dir()
    }
    assert pkg.__all__, package
    for name in pkg.__all__:
        # a name shadowed by its module's would be the module once that module is imported
        assert name not in modules, f"{package}.{name} is also a module's name"
        value = getattr(pkg, name)
        assert not isinstance(value, types.ModuleType), f"{package}.{name}"
        assert name in dir(pkg)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pkg.nope  # noqa: B018


def _loaded_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(m for m in sys.modules if 'photoverify' in m))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    return set(run.stdout.split())


def test_importing_one_module_of_a_package_loads_no_other() -> None:
    loaded = _loaded_after("photoverify.dedupe.core.errors")
    assert "photoverify.dedupe.core.errors" in loaded
    for other in ("records", "hashing", "timeparse", "paths"):
        assert f"photoverify.dedupe.core.{other}" not in loaded, loaded
    loaded = _loaded_after("photoverify.dedupe.catalog.walk")
    assert "photoverify.dedupe.catalog.walk" in loaded
    for other in ("scan", "store", "apple_csv", "executors", "metadata"):
        assert f"photoverify.dedupe.catalog.{other}" not in loaded, loaded
