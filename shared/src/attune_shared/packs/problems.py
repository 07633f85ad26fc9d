"""Problems found in a pack: each names a file, a dotted field and what is wrong with it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from attune_shared.errors import AttuneError

#: The field of a problem about a whole file (unreadable, not YAML, not a mapping).
ROOT = "(root)"


@dataclass(frozen=True, order=True)
class PackProblem:
    """One problem: ``file`` is relative to the pack directory, ``field`` a dotted path into it."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.field}: {self.message}"


class InvalidPackError(AttuneError):
    """A pack refused whole; ``problems`` lists every problem found, in file order."""

    def __init__(self, path: str, problems: Sequence[PackProblem]) -> None:
        self.path = path
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"pack {path} is invalid ({count} problem{'s' if count != 1 else ''}):\n{lines}")


def dotted(path: Iterable[object]) -> str:
    """``("criteria", "trigger.x", 0)`` -> ``criteria.trigger.x.0``; the empty path is :data:`ROOT`."""
    return ".".join(str(part) for part in path) or ROOT


def from_validation_error(file: str, exc: ValidationError, model: type[BaseModel]) -> list[PackProblem]:
    """One problem per pydantic error of ``model``, with messages written for pack authors."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        kind = error["type"]
        if kind == "extra_forbidden":
            message = _unknown_key(str(loc[-1]), _model_at(model, loc[:-1]))
        elif kind == "missing":
            message = "required"
        else:
            message = error["msg"].removeprefix("Value error, ")
        problems.append(PackProblem(file, dotted(loc), message))
    return problems


def _unknown_key(key: str, model: type[BaseModel] | None) -> str:
    if model is None:
        return "unknown key"
    known = list(model.model_fields)
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(known)}"
    return f"unknown key ({hint})"


def _model_at(model: type[BaseModel], loc: Sequence[Any]) -> type[BaseModel] | None:
    """The nested model a location points into, when the path goes through model fields only."""
    current: Any = model
    for part in loc:
        field = current.model_fields.get(part) if _is_model(current) else None
        if field is None:
            return None
        current = next((a for a in (field.annotation, *get_args(field.annotation)) if _is_model(a)), None)
    return current if _is_model(current) else None


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)
