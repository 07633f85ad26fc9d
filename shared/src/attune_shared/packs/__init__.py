"""Packs: the directory format, its loader and checks, and registration into the catalog tables.

``load_pack(path)`` reads and checks a directory; ``validate_pack(path, db=None)`` only checks;
``register_pack(db, path)`` writes it in one transaction and reports what changed, including the
``RuleChanged`` messages the caller publishes after the commit. See docs/packs.md.
"""

from attune_shared.packs.components import Component
from attune_shared.packs.loader import LoadedPack, load_pack
from attune_shared.packs.problems import InvalidPackError, PackProblem
from attune_shared.packs.registry import (
    CORE_PACK_DIR,
    Validation,
    register_core_pack,
    register_pack,
    validate_pack,
)
from attune_shared.packs.report import Changes, RegistrationReport

__all__ = [
    "CORE_PACK_DIR",
    "Changes",
    "Component",
    "InvalidPackError",
    "LoadedPack",
    "PackProblem",
    "RegistrationReport",
    "Validation",
    "load_pack",
    "register_core_pack",
    "register_pack",
    "validate_pack",
]
