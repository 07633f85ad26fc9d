"""Reading YAML files (packs, rules, policies, workflows, ``config.yaml``): YAML 1.2, JSON data only.

:func:`load_yaml` is the one reader. It parses YAML 1.2 (the core schema): ``yes``, ``no``, ``on``
and ``off`` are strings, ``0755`` is 755 and ``1:30`` a string, where YAML 1.1 (PyYAML) read a
boolean, an octal and a sexagesimal number. What it returns is JSON data: duplicate keys, keys that
are not strings, binary data, sets, ordered maps, NaN and infinities are refused, and dates stay the
strings they were written as. Every error names the line and column.

Hostile files are refused, not loaded: a file over :data:`MAX_FILE_BYTES`, nesting deeper than
:data:`MAX_DEPTH`, or more than :data:`MAX_NODES` values once aliases are expanded (the "billion
laughs", a few lines of anchors that expand to 10⁹ strings).

StackStorm reads pack files with PyYAML, so a StackStorm pack may write ``enabled: yes``. A plain
(unquoted) ``yes``/``no``/``on``/``off`` is therefore a :class:`Yaml11Bool`: the string YAML 1.2
reads, remembering the boolean YAML 1.1 read. Where a boolean is meant (a field typed
:data:`YamlBool`, a JSON Schema keyword such as ``secret``, a value of a ``type: boolean`` property,
see :mod:`attune_shared.packs.schemas`) it counts as that boolean; everywhere else it is the string.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import BeforeValidator
from ruamel.yaml import YAML, ScalarNode
from ruamel.yaml.constructor import ConstructorError, SafeConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from attune_shared.errors import AttuneError

#: The plain scalars YAML 1.1 (PyYAML's resolver) reads as booleans and YAML 1.2 as strings.
YAML11_BOOLEANS: Final = {
    spelling: meaning
    for word, meaning in {"yes": True, "on": True, "no": False, "off": False}.items()
    for spelling in (word, word.capitalize(), word.upper())
}


#: Bytes of a YAML file: pack files are small, and a larger one is refused before it is parsed.
MAX_FILE_BYTES: Final = 4 * 1024 * 1024
#: Levels of nested mappings and sequences.
MAX_DEPTH: Final = 100
#: Values (scalars, mappings, sequences) in a file, each alias counted as what it stands for.
MAX_NODES: Final = 1_000_000


class Yaml11Bool(str):
    """A plain ``yes``/``no``/``on``/``off``: this string, and :attr:`boolean` where a boolean is meant."""

    boolean: bool

    def __new__(cls, word: str) -> Yaml11Bool:
        value = super().__new__(cls, word)
        value.boolean = YAML11_BOOLEANS[word]
        return value


def yaml11_boolean(value: Any) -> Any:
    """``value``, or the boolean a :class:`Yaml11Bool` stands for."""
    return value.boolean if isinstance(value, Yaml11Bool) else value


#: A boolean field of a file format: ``true``/``false``, or a YAML 1.1 ``yes``/``no``/``on``/``off``.
YamlBool = Annotated[bool, BeforeValidator(yaml11_boolean)]


class YamlError(AttuneError):
    """A YAML file that cannot be read or is not JSON data; ``line``/``column`` are 1-based."""

    def __init__(self, path: str, problem: str, line: int | None = None, column: int | None = None) -> None:
        self.path = path
        self.problem = problem
        self.line = line
        self.column = column
        super().__init__(f"{path}: {self.detail}")

    @property
    def detail(self) -> str:
        """The problem and where it is, without the file name."""
        if self.line is None:
            return self.problem
        return f"{self.problem} (line {self.line}, column {self.column})"


def load_yaml(path: str | Path) -> Any:
    """The JSON data in the YAML 1.2 file at ``path`` (``None`` for an empty file).

    :raises YamlError: the file cannot be read, is not UTF-8, is not YAML (``invalid YAML: …``) or
        holds something JSON cannot (a duplicate or non-string key, binary data, NaN…).
    """
    name = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise YamlError(name, f"the file is {size} bytes; YAML files may have at most {MAX_FILE_BYTES}")
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlError(name, f"cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise YamlError(name, "not UTF-8 text") from None
    if _flow_depth(text) > MAX_DEPTH:  # the parser would take seconds to hit its recursion limit
        raise YamlError(name, f"nested too deeply (at most {MAX_DEPTH} levels)")
    yaml = YAML(typ="safe", pure=True)
    yaml.Constructor = _JsonConstructor
    try:
        data = yaml.load(text)
    except RecursionError:
        raise YamlError(name, f"nested too deeply (at most {MAX_DEPTH} levels)") from None
    except _NotJson as exc:
        raise YamlError(name, exc.problem, *_position(exc)) from None
    except MarkedYAMLError as exc:
        raise YamlError(name, f"invalid YAML: {_problem(exc)}", *_position(exc)) from None
    except YAMLError as exc:
        raise YamlError(name, f"invalid YAML: {exc}") from None
    problem = _shape_problem(data)
    if problem:
        raise YamlError(name, problem)
    return data


_QUOTED: Final = re.compile(r"'[^'\n]*'" + r'|"(?:[^"\\\n]|\\.)*"')
_BRACKET: Final = re.compile(r"[][{}]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _flow_depth(text: str) -> int:
    """The deepest nesting of ``[ ]`` and ``{ }`` outside quoted scalars (an upper bound)."""
    depth = deepest = 0
    for bracket in _BRACKET.finditer(_QUOTED.sub("", text)):
        depth = depth + 1 if bracket.group() in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest


def _shape_problem(data: Any) -> str | None:
    """Why ``data`` is too deep or too large (aliases expanded), else ``None``."""
    pending: list[tuple[Any, int]] = [(data, 0)]
    nodes = 0
    while pending:
        value, depth = pending.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return f"more than {MAX_NODES} values once aliases are expanded (an alias bomb?)"
        if depth > MAX_DEPTH:
            return f"nested too deeply (at most {MAX_DEPTH} levels)"
        if isinstance(value, dict):
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            pending.extend((item, depth + 1) for item in value)
    return None


def _problem(exc: MarkedYAMLError) -> str:
    problem, context = exc.problem or "", exc.context or ""
    # "expected a single document in the stream" + "but found another document"
    return f"{context}, {problem}" if problem.startswith("but ") and context else problem or context


def _position(exc: MarkedYAMLError) -> tuple[int | None, int | None]:
    mark = exc.problem_mark or exc.context_mark
    return (None, None) if mark is None else (mark.line + 1, mark.column + 1)


class _NotJson(ConstructorError):
    """Valid YAML that is not JSON data."""


class _JsonConstructor(SafeConstructor):
    """The safe constructor, building JSON data only (see the module docstring)."""

    def check_mapping_key(self, node: Any, key_node: Any, mapping: Any, key: Any, value: Any) -> bool:
        # the library's message would show both values, which may be secrets (config.yaml)
        if key in mapping:
            raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        if not isinstance(key, str):
            raise _NotJson(
                None, None, f"keys must be strings, got {type(key).__name__} {key!r}", key_node.start_mark
            )
        return True

    def construct_yaml_str(self, node: Any) -> str:
        value: str = super().construct_yaml_str(node)
        if _SURROGATE.search(value):  # a "\ud800" escape: no UTF-8 (nor PostgreSQL) can hold it
            raise _NotJson(None, None, "a string holds a lone surrogate (\\ud800-\\udfff)", node.start_mark)
        if node.style is None and value in YAML11_BOOLEANS:
            return Yaml11Bool(value)
        return value

    def construct_yaml_float(self, node: Any) -> float:
        value: float = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise _NotJson(None, None, f"{node.value} is not a JSON number", node.start_mark)
        return value

    def construct_timestamp_text(self, node: ScalarNode) -> str:
        # JSON has no dates, and a timer's `fire_at` is a string anyway
        return str(node.value)

    def construct_non_json(self, node: Any) -> Any:
        kind = node.tag.rsplit(":", 1)[-1] if isinstance(node.tag, str) else "tagged value"
        raise _NotJson(None, None, f"!!{kind} is not a JSON value", node.start_mark)


_JsonConstructor.add_constructor("tag:yaml.org,2002:str", _JsonConstructor.construct_yaml_str)
_JsonConstructor.add_constructor("tag:yaml.org,2002:float", _JsonConstructor.construct_yaml_float)
_JsonConstructor.add_constructor("tag:yaml.org,2002:timestamp", _JsonConstructor.construct_timestamp_text)
for _tag in ("binary", "set", "omap", "pairs"):
    _JsonConstructor.add_constructor(f"tag:yaml.org,2002:{_tag}", _JsonConstructor.construct_non_json)
