"""Workflow files: checked offline (``attune workflow validate``) and registered with their pack.

A workflow that fails inspection still registers, as in StackStorm (real packs ship such files):
its definition keeps the inspection errors, registration reports them (one warning per
workflow), ``attune pack register --strict`` refuses the pack, and running it fails at once with
the errors in ``result.errors``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncpg

from attune_shared.constants import WORKFLOW_RUNNER_TYPE
from attune_shared.errors import DefinitionError
from attune_shared.models import Pack
from attune_shared.packs.problems import PackProblem
from attune_shared.packs.report import Outcome
from attune_shared.repos import ActionRepository, WorkflowDefinitionRepository
from attune_shared.types import Queryable
from attune_shared.workflows.children import action_refs
from attune_shared.workflows.inspection import Catalog, inspect
from attune_shared.workflows.spec import WorkflowSpec, load_workflow

#: Where workflow entry points are, relative to the pack directory.
ACTIONS_DIR = "actions"


@dataclass(frozen=True)
class CheckedWorkflow:
    """A workflow file read and inspected. ``spec`` is ``None`` when the file is not a YAML mapping."""

    file: str
    source: str
    spec: WorkflowSpec | None
    errors: list[dict[str, Any]]

    def problems(self) -> list[PackProblem]:
        """The errors as pack problems: the file, the field (``tasks.<task>.<key>…``), the message."""
        return [PackProblem(self.file, e.get("spec_path") or "(root)", e["message"]) for e in self.errors]


@dataclass
class WorkflowRegistration:
    """What :func:`register_workflows` did: refs by outcome, and each workflow's inspection errors."""

    outcomes: list[tuple[str, Outcome]] = field(default_factory=list)
    failing: dict[str, CheckedWorkflow] = field(default_factory=dict)


async def action_catalog(db: Queryable, refs: Collection[str]) -> Catalog:
    """A catalog for :func:`inspect` with the parameter schemas of the actions ``refs`` that exist."""
    found = await ActionRepository(db).get_by_refs(refs)
    schemas = {ref: action.parameters_schema for ref, action in found.items()}
    return lambda wanted: {ref: schemas[ref] for ref in wanted if ref in schemas}


def read_workflow(path: Path, root: Path) -> CheckedWorkflow:
    """Read a workflow file (not inspected yet: ``errors`` holds only why it cannot be read).
    ``root`` is what the reported file name is relative to."""
    file = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    try:
        source = path.read_text(encoding="utf-8")
        spec = load_workflow(path, root=root)
    except (OSError, UnicodeDecodeError) as exc:
        return CheckedWorkflow(file, "", None, [_unreadable(str(exc))])
    except DefinitionError as exc:
        return CheckedWorkflow(file, source, None, [_unreadable(message) for _, message in exc.errors])
    return CheckedWorkflow(file, source, spec, [])


async def check_workflow(
    path: Path, *, root: Path | None = None, db: Queryable | None = None
) -> CheckedWorkflow:
    """Read and inspect one workflow file; with ``db``, its actions are checked against the catalog.
    ``root`` is what the reported file name is relative to (default: the file's directory)."""
    checked = read_workflow(path, root or path.parent)
    if checked.spec is None:
        return checked
    catalog = None if db is None else await action_catalog(db, action_refs(checked.spec))
    return replace(checked, errors=inspect(checked.spec, catalog=catalog))


def _unreadable(message: str) -> dict[str, Any]:
    return {"type": "syntax", "message": message, "spec_path": None, "schema_path": None}


def digest(definition: Mapping[str, Any] | None) -> str:
    """sha256 of a definition's canonical JSON."""
    text = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


async def register_workflows(conn: asyncpg.Connection, pack: Pack, root: Path) -> WorkflowRegistration:
    """Register the definitions of the pack's workflow actions (its actions are registered already,
    in the same transaction) and remove those of actions that are gone or no longer workflows."""
    registration = WorkflowRegistration()
    repo = WorkflowDefinitionRepository(conn)
    actions = [
        a
        for a in await ActionRepository(conn).owned_by_pack(pack.ref)
        if a.runner_type == WORKFLOW_RUNNER_TYPE
    ]
    for action in actions:
        checked = await check_workflow(root / ACTIONS_DIR / action.entry_point, root=root, db=conn)
        definition = checked.spec.data if checked.spec is not None else None
        _, outcome = await repo.upsert(
            {
                "ref": action.ref,
                "pack": pack.id,
                "pack_ref": pack.ref,
                "action": action.id,
                "description": (checked.spec.description if checked.spec else None) or action.description,
                "entry_point": action.entry_point,
                "source": checked.source,
                "definition": definition,
                "errors": checked.errors,
                "digest": digest(definition),
            }
        )
        registration.outcomes.append((action.ref, outcome))
        if checked.errors:
            registration.failing[action.ref] = checked
    present = {a.ref for a in actions}
    for row in await repo.owned_by_pack(pack.ref):
        if row.ref not in present:
            await repo.delete_by_ref(row.ref)
            registration.outcomes.append((row.ref, "removed"))
    return registration
