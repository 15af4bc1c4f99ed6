"""photoverify installs under one namespace: PyPI's `dedupe` and `verify` stay importable beside it.

The repository keeps its top-level folders dedupe/ and verify/, installed as photoverify.dedupe and
photoverify.verify (pyproject's package-dir). Top-level packages of the same names, as PyPI's
`dedupe` (3.x) and `verify` (1.x) install them, must not break photoverify, nor be shadowed.
"""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _clashing_packages(tmp_path: Path) -> Path:
    site = tmp_path / "other-site"
    for name in ("dedupe", "verify"):
        pkg = site / name
        pkg.mkdir(parents=True)
        # PyPI's dedupe imports sklearn at import time: importing it by mistake must fail loudly
        (pkg / "__init__.py").write_text(f"WHO = 'pypi-{name}'\nimport not_installed_dependency\n")
        (pkg / "index.py").write_text("raise ImportError('the other package')\n")
    return site


def test_photoverify_works_beside_pypi_dedupe_and_verify(tmp_path):
    site = _clashing_packages(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(site)}
    help_run = subprocess.run(
        [sys.executable, "-m", "photoverify", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert help_run.returncode == 0, help_run.stderr
    assert "scan" in help_run.stdout
    # a real command that loads the scanner, the catalog and the verifier
    doctor = subprocess.run(
        [
            sys.executable,
            "-c",
            "import photoverify.cli, photoverify.dedupe.catalog.scan, "
            "photoverify.verify.audit.libraries, photoverify.dedupe.match.index; print('ok')",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert doctor.stdout.strip() == "ok", doctor.stderr


def test_top_level_names_are_the_other_packages(tmp_path):
    site = _clashing_packages(tmp_path)
    for name in ("dedupe", "verify"):
        (site / name / "__init__.py").write_text(f"WHO = 'pypi-{name}'\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = subprocess.run(
        [sys.executable, "-c", "import dedupe, verify; print(dedupe.WHO, verify.WHO)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.stdout.split() == ["pypi-dedupe", "pypi-verify"], run.stderr


def test_wheel_ships_only_the_namespace():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert all(p == "photoverify" or p.startswith("photoverify.") for p in config["packages"])
    # every package folder of the source tree is shipped (a new sub-package must be listed)
    shipped = set(config["packages"])
    for folder, prefix in (
        ("dedupe", "photoverify.dedupe"),
        ("verify", "photoverify.verify"),
        ("photoverify", "photoverify"),
    ):
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            name = ".".join([prefix, *rel.parts]) if rel.parts else prefix
            assert name in shipped, f"{name} is not in pyproject's packages"


def test_every_face_name_is_what_it_says_after_all_modules_load():
    """A package face's name that is also one of its modules' names (`undo`, `scan`) must stay
    the function: importing the module sets the package attribute to the module, which is how
    `from photoverify.dedupe.move import undo` once handed the CLI a module to call."""
    import importlib
    import pkgutil
    import types

    faces = []
    for top in ("photoverify.dedupe", "photoverify.verify"):
        package = importlib.import_module(top)
        for info in pkgutil.walk_packages(package.__path__, top + "."):
            module = importlib.import_module(info.name)
            if info.ispkg:
                faces.append(module)
    assert faces
    for face in faces:
        for name in getattr(face, "__all__", ()):
            value = getattr(face, name)
            assert not isinstance(value, types.ModuleType), f"{face.__name__}.{name} is a module"
