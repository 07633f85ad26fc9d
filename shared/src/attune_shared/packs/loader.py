"""Reading a pack directory into the rows it registers, checking every file before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attune_shared.packs.components import DIRECTORIES, KINDS, Component, ComponentReader, Kind
from attune_shared.packs.format import PackMeta
from attune_shared.packs.problems import ROOT, InvalidPackError
from attune_shared.packs.refs import PACK_REF_RE
from attune_shared.packs.schemas import instance_booleans, instance_errors, with_defaults
from attune_shared.yamlfile import YamlError, load_yaml

PACK_FILE = "pack.yaml"
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedPack:
    """A valid pack directory: the ``pack`` row values and its components by kind."""

    path: Path
    values: dict[str, Any]
    components: dict[Kind, list[Component]]

    @property
    def ref(self) -> str:
        ref: str = self.values["ref"]
        return ref

    def of(self, kind: Kind) -> list[Component]:
        return self.components[kind]


def load_pack(path: Path | str) -> LoadedPack:
    """Read and check a pack directory; raise :class:`InvalidPackError` listing every problem.

    Checks every file's keys and types, refs, JSON Schemas (against the meta-schema), the pack
    ``config`` against its ``config_schema``, entry point files and duplicate refs. References to
    other components are checked by :mod:`attune_shared.packs.references`.
    """
    root = Path(path).resolve()
    reader = ComponentReader(root)
    pack_ref, values = _read_pack(reader)
    if pack_ref is None:
        raise InvalidPackError(str(root), reader.problems)
    components = {kind: _read_components(reader, kind, pack_ref) for kind in KINDS}
    if values is None or reader.problems:
        raise InvalidPackError(str(root), reader.problems)
    return LoadedPack(root, values, components)


def _read_pack(reader: ComponentReader) -> tuple[str | None, dict[str, Any] | None]:
    """The pack ref (when usable, so components can still be checked) and the pack row values."""
    path = reader.root / PACK_FILE
    if not path.is_file():
        reader.problem(PACK_FILE, ROOT, f"not found: {reader.root} is not a pack directory")
        return None, None
    data = _read_mapping(reader, path)
    if data is None:
        return None, None
    ref = data.get("ref")
    if isinstance(ref, str) and not PACK_REF_RE.match(ref):
        reader.problem(
            PACK_FILE, "ref", f"{ref!r} is not a valid pack ref: lowercase letters, digits, '_' or '-'"
        )
    ref = ref if isinstance(ref, str) and PACK_REF_RE.match(ref) else None
    meta = reader.model(PACK_FILE, data, PackMeta)
    if meta is None or ref is None:
        return ref, None
    config = with_defaults(meta.config_schema, instance_booleans(meta.config_schema, meta.config))
    if reader.schema(PACK_FILE, "config_schema", meta.config_schema):
        for where, message in instance_errors(meta.config_schema, config):
            reader.problem(PACK_FILE, "config" if where == ROOT else f"config.{where}", message)
    return ref, {
        "ref": meta.ref,
        "label": meta.label or meta.ref,
        "description": meta.description,
        "version": meta.version,
        "config_schema": meta.config_schema,
        "config": config,
        "path": str(reader.root),
    }


def _read_components(reader: ComponentReader, kind: Kind, pack_ref: str) -> list[Component]:
    directory = reader.root / DIRECTORIES[kind]
    if not directory.is_dir():
        return []
    found: list[Component] = []
    by_ref: dict[str, Component] = {}
    for path in sorted(p for p in directory.iterdir() if p.suffix in YAML_SUFFIXES and p.is_file()):
        data = _read_mapping(reader, path)
        if data is None:
            continue
        file = path.relative_to(reader.root).as_posix()
        component = reader.read(kind, file, data, pack_ref)
        if component is None:
            continue
        first = by_ref.setdefault(component.ref, component)
        if first is not component:
            reader.problem(
                file, component.field_of("ref"), f"duplicate ref {component.ref!r} (also in {first.file})"
            )
            continue
        found.append(component)
    return found


def _read_mapping(reader: ComponentReader, path: Path) -> dict[str, Any] | None:
    """The mapping in one pack file, or ``None`` (its problem recorded)."""
    file = path.relative_to(reader.root).as_posix()
    try:
        data = load_yaml(path)
    except YamlError as exc:
        reader.problem(file, ROOT, exc.detail)
        return None
    if not isinstance(data, dict):
        kind = "an empty file" if data is None else f"a {type(data).__name__}"
        reader.problem(file, ROOT, f"must be a mapping of keys to values, got {kind}")
        return None
    return data
