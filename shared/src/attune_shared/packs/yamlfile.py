"""Reading pack YAML: JSON-compatible data only, duplicate keys refused, dates left as strings."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from attune_shared.packs.problems import ROOT, PackProblem, dotted

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class PackYamlLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys and keeps ``2025-01-01`` a string.

    A repeated key would otherwise silently win over the first; a date would become a Python
    object that is not JSON (timer parameters such as ``fire_at`` are strings).
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # unhashable: the base constructor reports it
            if duplicate:
                raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def read_yaml(root: Path, path: Path) -> tuple[dict[str, Any] | None, list[PackProblem]]:
    """The mapping in ``path`` (relative names in problems are from ``root``), or its problems."""
    name = path.relative_to(root).as_posix()
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=PackYamlLoader)
    except OSError as exc:
        return None, [PackProblem(name, ROOT, f"cannot read the file: {exc.strerror}")]
    except UnicodeDecodeError:
        return None, [PackProblem(name, ROOT, "not UTF-8 text")]
    except yaml.YAMLError as exc:
        return None, [PackProblem(name, ROOT, _yaml_message(exc))]
    if not isinstance(data, dict):
        kind = "an empty file" if data is None else f"a {type(data).__name__}"
        return None, [PackProblem(name, ROOT, f"must be a mapping of keys to values, got {kind}")]
    problems = [PackProblem(name, field, message) for field, message in _non_json(data, ())]
    return (None if problems else data), problems


def _yaml_message(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"invalid YAML: {exc.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return f"invalid YAML: {exc}"


def _non_json(value: Any, path: tuple[Any, ...]) -> list[tuple[str, str]]:
    """Where ``value`` holds something JSON cannot: non-string keys, sets, bytes, NaN."""
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            if not isinstance(key, str):
                found.append(
                    (dotted((*path, key)), f"keys must be strings, got {type(key).__name__} {key!r}")
                )
            else:
                found += _non_json(item, (*path, key))
        return found
    if isinstance(value, list):
        return [problem for i, item in enumerate(value) for problem in _non_json(item, (*path, i))]
    if isinstance(value, float) and not math.isfinite(value):
        return [(dotted(path), f"{value} is not a JSON number")]
    if value is None or isinstance(value, str | int | float | bool):
        return []
    return [(dotted(path), f"a {type(value).__name__} is not a JSON value")]
