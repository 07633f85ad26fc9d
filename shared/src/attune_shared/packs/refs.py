"""Refs: ``pack.name``. Inside a pack the ``pack.`` prefix may be omitted."""

from __future__ import annotations

import re

#: The same patterns as the catalog tables' CHECK constraints. A name may hold dots (StackStorm's
#: ``core.st2.webhook``): the pack is the part before the first dot.
PACK_REF_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
COMPONENT_REF_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def qualify(ref: str, pack_ref: str) -> str:
    """``alert`` in pack ``examples`` -> ``examples.alert``; a ref with a prefix is returned as is."""
    return ref if "." in ref else f"{pack_ref}.{ref}"


def pack_of(ref: str) -> str:
    """The pack part of a qualified ref."""
    return ref.split(".", 1)[0]


def check_ref(ref: str) -> str | None:
    """Why a qualified component ref is malformed, or ``None``."""
    if COMPONENT_REF_RE.match(ref):
        return None
    return (
        f"{ref!r} is not a valid ref: expected <pack>.<name>, the pack in lowercase letters, digits, "
        "'_' or '-', the name in letters, digits, '_', '-' or '.'"
    )


def check_own_ref(ref: str, pack_ref: str) -> str | None:
    """Why a component's own (qualified) ref cannot belong to pack ``pack_ref``, or ``None``."""
    if pack_of(ref) != pack_ref:
        return f"{ref!r} belongs to pack {pack_of(ref)!r}, not to this pack {pack_ref!r}"
    return check_ref(ref)
