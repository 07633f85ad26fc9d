"""Packs: the directory format, its loader and checks, and registration into the catalog tables.

``load_pack(path)`` reads and checks a directory; ``validate_pack(path, db=None)`` only checks;
``register_pack(db, path)`` writes it in one transaction and reports what changed, including the
``RuleChanged`` messages the caller publishes after the commit; ``install_pack(db, source, packs)``
fetches, builds and registers a pack (git, directory, archive), ``remove_pack`` undoes it. See
docs/packs.md.
"""

from attune_shared.packs.components import Component
from attune_shared.packs.install import InstallError, InstallReport, install_pack, remove_pack
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
    "InstallError",
    "InstallReport",
    "InvalidPackError",
    "LoadedPack",
    "PackProblem",
    "RegistrationReport",
    "Validation",
    "install_pack",
    "load_pack",
    "register_core_pack",
    "register_pack",
    "remove_pack",
    "validate_pack",
]
