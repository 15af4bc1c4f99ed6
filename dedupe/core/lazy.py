"""A package's names loaded on first use (PEP 562).

Every package of dedupe/ and verify/ names what it offers in its `__init__`, but importing one of
its modules (`dedupe.core.errors`, `dedupe.catalog.walk`) must not load the rest: the start-up of
a command that only reads bytes is paid on every run (`verify --manifest`, `dupes --exact`). So a
package's `__init__` says where each name lives, and the module is imported when the name is
first asked for:

    __getattr__, __dir__, __all__ = exports(__name__, {"Catalog": "store", "walk": "walk"})

A name must not be the name of one of the package's modules: importing the module sets the
package attribute of that name to the module, which then shadows the name
(tests/core/test_lazy.py checks every package for such a pair)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def exports(
    package: str, home: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """The `__getattr__`, `__dir__` and `__all__` of `package`, whose name `n` lives in module
    `home[n]` (relative to the package, or absolute when it holds a dot). A name, once loaded, is
    kept in the package's namespace, so it is looked up once."""

    def __getattr__(name: str) -> object:
        where = home.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(where if "." in where else f"{package}.{where}")
        value = getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *home})

    return __getattr__, __dir__, sorted(home)
