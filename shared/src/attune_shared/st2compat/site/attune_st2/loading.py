"""Loading a pack's Python file and finding the class to run in it, as StackStorm does."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any


def load_module(path: str, lib_paths: list[str]) -> ModuleType:
    """Import the file at ``path``; its directory and ``lib_paths`` come first on ``sys.path``."""
    for entry in reversed([str(Path(path).parent), *lib_paths]):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    name = Path(path).stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f'cannot load "{path}"')
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def action_class(module: ModuleType, base: type) -> Any:
    """The first subclass of ``base`` defined in ``module`` (else imported into it), or ``None``."""
    found = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, base) and cls is not base and not inspect.isabstract(cls)
    ]
    own = sorted(
        (cls for cls in found if cls.__module__ == module.__name__),
        key=lambda cls: inspect.getsourcelines(cls)[1],
    )
    candidates = own or found
    return candidates[0] if candidates else None


def sensor_class(module: ModuleType, class_name: str) -> Any:
    """The class ``class_name`` of the sensor module (a dotted name keeps its last part), or ``None``."""
    return getattr(module, class_name.rsplit(".", 1)[-1], None)
