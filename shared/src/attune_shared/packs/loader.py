"""Reading a pack directory into the rows it registers, checking every file before anything is written.

Both forms are read: this project's own (``pack.yaml`` with ``ref``) and StackStorm's (``pack.yaml``
with ``name``, ``config.schema.yaml``, the config in ``configs/<pack>.yaml``); each component file
is read in the form it is written in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attune_shared.packs.components import DIRECTORIES, KINDS, Component, ComponentReader, Kind
from attune_shared.packs.format import SEMVER_RE, PackMeta
from attune_shared.packs.problems import ROOT, InvalidPackError, PackProblem
from attune_shared.packs.refs import PACK_REF_RE
from attune_shared.packs.schemas import (
    flat_parameters_schema,
    instance_booleans,
    instance_errors,
    with_defaults,
)
from attune_shared.packs.stackstorm import RESERVED_PACKS, STACKSTORM_PACK_REF, St2Pack, is_stackstorm
from attune_shared.rules.templating import is_template
from attune_shared.yamlfile import YamlError, load_yaml

PACK_FILE = "pack.yaml"
CONFIG_SCHEMA_FILE = "config.schema.yaml"
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedPack:
    """A valid pack directory: the ``pack`` row values and its components by kind.

    ``config_given`` says whether the directory (or its config file) gives the pack's config; when
    it does not, registration keeps the config stored before (StackStorm keeps configs apart from
    packs).
    """

    path: Path
    values: dict[str, Any]
    components: dict[Kind, list[Component]]
    config_given: bool = True

    @property
    def ref(self) -> str:
        ref: str = self.values["ref"]
        return ref

    def of(self, kind: Kind) -> list[Component]:
        return self.components[kind]


def load_pack(path: Path | str, *, configs_dir: Path | None = None) -> LoadedPack:
    """Read and check a pack directory; raise :class:`InvalidPackError` listing every problem.

    Checks every file's keys and types, refs, JSON Schemas (against the meta-schema), the pack
    config against its schema, entry point files and duplicate refs. References to other
    components are checked by :mod:`attune_shared.packs.references`. A StackStorm pack's config is
    read from ``<configs_dir>/<ref>.yaml``; ``configs_dir`` defaults to StackStorm's layout,
    ``configs/`` beside the directory holding the pack (``…/packs/<ref>`` → ``…/configs/<ref>.yaml``).
    """
    root = Path(path).resolve()
    reader = ComponentReader(root)
    pack_ref, values, config_given = _read_pack(reader, configs_dir or root.parent.parent / "configs")
    if pack_ref is None:
        raise InvalidPackError(str(root), reader.problems)
    components = {kind: _read_components(reader, kind, pack_ref) for kind in KINDS}
    _assemble(reader, components)
    if values is None or reader.problems:
        raise InvalidPackError(str(root), reader.problems)
    return LoadedPack(root, values, components, config_given)


def _read_pack(reader: ComponentReader, configs_dir: Path) -> tuple[str | None, dict[str, Any] | None, bool]:
    """The pack ref (when usable, so components can still be checked), the pack row values, and
    whether the config was given."""
    path = reader.root / PACK_FILE
    if not path.is_file():
        reader.problem(PACK_FILE, ROOT, f"not found: {reader.root} is not a pack directory")
        return None, None, False
    data = _read_mapping(reader, path)
    if data is None:
        return None, None, False
    if is_stackstorm("pack", data):
        return _read_stackstorm_pack(reader, data, configs_dir)
    ref = data.get("ref")
    if isinstance(ref, str) and not PACK_REF_RE.match(ref):
        reader.problem(
            PACK_FILE, "ref", f"{ref!r} is not a valid pack ref: lowercase letters, digits, '_' or '-'"
        )
    ref = ref if isinstance(ref, str) and PACK_REF_RE.match(ref) else None
    meta = reader.model(PACK_FILE, data, PackMeta)
    config_schema = _config_schema(reader, meta.config_schema if meta else {})
    if meta is None or ref is None or config_schema is None:
        return ref, None, False
    return (
        ref,
        {
            "ref": meta.ref,
            "label": meta.label or meta.ref,
            "description": meta.description,
            "version": meta.version,
            "config_schema": config_schema,
            "config": _config(reader, PACK_FILE, "config", config_schema, meta.config),
            "path": str(reader.root),
            "metadata": {},
        },
        True,
    )


def _read_stackstorm_pack(
    reader: ComponentReader, data: dict[str, Any], configs_dir: Path
) -> tuple[str | None, dict[str, Any] | None, bool]:
    meta = reader.model(PACK_FILE, data, St2Pack)
    ref = _stackstorm_ref(reader, data)
    if meta is not None and not SEMVER_RE.match(meta.version):
        reader.problem(
            PACK_FILE,
            "version",
            f'Pack version "{meta.version}" doesn\'t follow a valid semver format (MAJOR.MINOR.PATCH, e.g. 1.0.0)',
        )
    config_schema = _config_schema(reader, {})
    if meta is None or ref is None or config_schema is None:
        return ref, None, False
    config_file = configs_dir / f"{ref}.yaml"
    config = with_defaults(config_schema, {})
    if config_file.is_file():
        found, problems = read_mapping(config_file, str(config_file))
        reader.problems += problems
        config = _config(reader, str(config_file), "", config_schema, found or {})
    metadata = meta.model_dump(exclude={"name", "ref", "description", "version"}, exclude_defaults=True)
    return (
        ref,
        {
            "ref": ref,
            "label": meta.name,
            "description": meta.description,
            "version": meta.version,
            "config_schema": config_schema,
            "config": config,
            "path": str(reader.root),
            "metadata": metadata,
        },
        config_file.is_file(),
    )


def _stackstorm_ref(reader: ComponentReader, data: dict[str, Any]) -> str | None:
    """StackStorm's rule: ``ref``, else the directory's name if valid, else ``name`` if valid."""
    written, name = data.get("ref"), data.get("name")
    if written is not None:
        if not isinstance(written, str) or not STACKSTORM_PACK_REF.match(written):
            reader.problem(
                PACK_FILE, "ref", f"{written!r} is not a valid pack ref: lowercase letters, digits, '_'"
            )
            return None
        ref: str = written
    elif STACKSTORM_PACK_REF.match(reader.root.name):
        ref = reader.root.name
    elif isinstance(name, str) and STACKSTORM_PACK_REF.match(name):
        ref = name
    else:
        reader.problem(
            PACK_FILE,
            "name",
            f'Pack name "{name}" contains invalid characters and "ref" attribute is not available: '
            "add a ref of lowercase letters, digits and '_', or change the name to such a word",
        )
        return None
    if ref in RESERVED_PACKS:
        reader.problem(PACK_FILE, "ref", f"{ref!r} is a reserved pack name")
        return None
    return ref


def _config_schema(reader: ComponentReader, written: dict[str, Any]) -> dict[str, Any] | None:
    """The pack's config schema: ``config_schema`` of ``pack.yaml``, or ``config.schema.yaml``
    (StackStorm's parameter style: a boolean ``required``, ``secret`` on each key)."""
    path = reader.root / CONFIG_SCHEMA_FILE
    if path.is_file():
        if written:
            reader.problem(CONFIG_SCHEMA_FILE, ROOT, "give config_schema in pack.yaml or this file, not both")
            return None
        data = _read_mapping(reader, path)
        if data is None:
            return None
        schema = flat_parameters_schema(data)
        return schema if reader.schema(CONFIG_SCHEMA_FILE, ROOT, schema) else None
    return written if reader.schema(PACK_FILE, "config_schema", written) else None


def _config(
    reader: ComponentReader, file: str, base: str, schema: dict[str, Any], values: dict[str, Any]
) -> dict[str, Any]:
    """``values`` with the schema's defaults, checked against it (templated values are rendered at run
    time, so only their presence is checked here)."""
    config = with_defaults(schema, instance_booleans(schema, values))
    static = {key: value for key, value in config.items() if not is_template(value)}
    required = [key for key in schema.get("required", []) if key not in config]
    check = {**schema, "required": required} if "required" in schema else schema
    for where, message in instance_errors(check, static):
        field = base if where == ROOT else (f"{base}.{where}" if base else where)
        reader.problem(file, field or ROOT, message)
    return config


def _read_components(reader: ComponentReader, kind: Kind, pack_ref: str) -> list[Component]:
    directory = reader.root / DIRECTORIES[kind]
    if not directory.is_dir():
        return []
    found: list[Component] = []
    for path in sorted(p for p in directory.iterdir() if p.suffix in YAML_SUFFIXES and p.is_file()):
        data = _read_mapping(reader, path)
        if data is not None:
            found += reader.read(kind, path.relative_to(reader.root).as_posix(), data, pack_ref)
    return found


def _assemble(reader: ComponentReader, components: dict[Kind, list[Component]]) -> None:
    """StackStorm ``action.retry`` policies become their action's ``max_retries``; the triggers a
    sensor defines join the pack's triggers; duplicate refs are problems."""
    sensor_triggers = [c for c in components["sensor"] if c.kind == "trigger"]
    components["sensor"] = [c for c in components["sensor"] if c.kind == "sensor"]
    components["trigger"] = components["trigger"] + sensor_triggers
    actions = {c.ref: c for c in components["action"]}
    for action_ref, (retries, file) in reader.retries.items():
        action = actions.get(action_ref)
        if action is None:
            reader.problem(
                file, "resource_ref", f"action.retry applies to an action of this pack, not {action_ref!r}"
            )
        else:
            action.values["max_retries"] = retries
    for kind in KINDS:
        first: dict[str, Component] = {}
        unique: list[Component] = []
        for component in components[kind]:
            seen = first.setdefault(component.ref, component)
            if seen is not component:
                reader.problem(
                    component.file,
                    component.field_of("ref"),
                    f"duplicate ref {component.ref!r} (also in {seen.file})",
                )
                continue
            unique.append(component)
        components[kind] = unique


def read_mapping(path: Path, name: str) -> tuple[dict[str, Any] | None, list[PackProblem]]:
    """The mapping in the YAML file at ``path`` (``name`` in problems), or its problems."""
    try:
        data = load_yaml(path)
    except YamlError as exc:
        return None, [PackProblem(name, ROOT, exc.detail)]
    if not isinstance(data, dict):
        kind = "an empty file" if data is None else f"a {type(data).__name__}"
        return None, [PackProblem(name, ROOT, f"must be a mapping of keys to values, got {kind}")]
    return data, []


def _read_mapping(reader: ComponentReader, path: Path) -> dict[str, Any] | None:
    """The mapping in one pack file, or ``None`` (its problem recorded)."""
    data, problems = read_mapping(path, path.relative_to(reader.root).as_posix())
    reader.problems += problems
    return data
