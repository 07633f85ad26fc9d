"""Hypothesis-generated pack, rule, policy, trigger, action and workflow files: the pack either
loads or is refused with problems naming file and field; never another exception, and never a
half-registered pack (the catalog is exactly as it was before a refused registration)."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attune_shared.constants import PACKS_DIR
from attune_shared.packs import InvalidPackError, register_pack
from attune_shared.packs.loader import load_pack
from attune_shared.yamlfile import load_yaml

WORKFLOWS = Path(__file__).parents[1] / "workflows" / "pack" / "actions"
#: files of the base pack: the examples pack and an Orquesta workflow
BASE_FILES = {
    **{
        p.relative_to(PACKS_DIR / "examples").as_posix(): p
        for p in (PACKS_DIR / "examples").rglob("*")
        if p.is_file()
    },
    "actions/sequential.yaml": WORKFLOWS / "sequential.yaml",
    "actions/workflows/sequential.yaml": WORKFLOWS / "workflows" / "sequential.yaml",
}
YAML_FILES = sorted(name for name in BASE_FILES if name.endswith(".yaml"))
TABLES = ("trigger", "sensor", "action", "rule", "policy", "workflow_definition")

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_values = st.recursive(
    scalars | st.sampled_from(["{{ oops", "<% $.x %>", "examples.nope", "../../etc/passwd", "yes", "-1"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any, *, delete: bool = False) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if delete and not rest:
        return (
            {k: v for k, v in value.items() if k != head}
            if isinstance(value, dict)
            else value[:head] + value[head + 1 :]
        )
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _replace(value[head], rest, new, delete=delete)
    return copy


@st.composite
def mutated_file(draw: st.DrawFn) -> tuple[str, str]:
    """One file of the base pack, changed: a value replaced, a key removed or added, or the whole
    file replaced by other JSON or by arbitrary text."""
    name = draw(st.sampled_from(YAML_FILES))
    data = load_yaml(BASE_FILES[name])
    kind = draw(st.sampled_from(["replace", "delete", "add", "whole", "text"]))
    if kind == "text":
        return name, draw(st.text(max_size=200))
    if kind == "whole":
        return name, json.dumps(draw(json_values))
    path = draw(st.sampled_from(_paths(data)))
    if kind == "replace":
        return name, json.dumps(_replace(data, path, draw(json_values)))
    if kind == "delete" and path:
        return name, json.dumps(_replace(data, path, None, delete=True))
    target = _replace(data, (), data)
    parents = [p for p in _paths(data) if isinstance(_get(data, p), dict)]
    where = draw(st.sampled_from(parents))
    key = draw(
        st.text(max_size=10) | st.sampled_from(["ref", "pack", "enabled", "criteria", "tasks", "input"])
    )
    return name, json.dumps(_replace(target, where, {**_get(data, where), key: draw(json_values)}))


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _write_pack(root: Path, mutations: list[tuple[str, str]]) -> None:
    shutil.rmtree(root, ignore_errors=True)
    for name, source in BASE_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, root / name)
    for name, text in mutations:
        (root / name).write_text(text)


def _assert_named(exc: InvalidPackError) -> None:
    assert exc.problems, exc
    for problem in exc.problems:
        assert problem.file and not problem.file.startswith("/") and ".." not in problem.file, problem
        assert problem.field and problem.message, problem


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(mutated_file(), min_size=1, max_size=3))
def test_a_generated_pack_loads_or_names_file_and_field(
    tmp_path_factory: Any, mutations: list[tuple[str, str]]
) -> None:
    root = tmp_path_factory.getbasetemp() / "fuzzed" / "examples"
    _write_pack(root, mutations)
    try:
        load_pack(root)
    except InvalidPackError as exc:
        _assert_named(exc)


async def _catalog(db: asyncpg.Pool) -> list[Any]:
    rows = [tuple(r) for r in await db.fetch("SELECT ref, updated FROM pack WHERE ref = 'examples'")]
    for table in TABLES:
        rows += [
            (table, *r)
            for r in await db.fetch(
                f"SELECT ref, updated FROM {table} WHERE pack_ref = 'examples' ORDER BY ref"
            )
        ]
    return rows


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(mutations=st.lists(mutated_file(), min_size=1, max_size=3))
def test_a_refused_registration_changes_nothing(
    db_pool: asyncpg.Pool, tmp_path_factory: Any, mutations: list[tuple[str, str]]
) -> None:
    root = tmp_path_factory.getbasetemp() / "fuzzed-db" / "examples"
    loop = asyncio.get_event_loop_policy().get_event_loop()

    async def attempt() -> None:
        _write_pack(root, [])
        await register_pack(db_pool, root)  # the valid pack, registered
        before = await _catalog(db_pool)
        _write_pack(root, mutations)
        try:
            await register_pack(db_pool, root)
        except InvalidPackError as exc:
            _assert_named(exc)
            assert await _catalog(db_pool) == before  # nothing half-registered

    loop.run_until_complete(attempt())
