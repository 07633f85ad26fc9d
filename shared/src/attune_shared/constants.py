"""Names and numbers defined once: the database schema, lock keys, repository paths."""

from __future__ import annotations

from pathlib import Path

#: PostgreSQL schema holding every table; connections put it first on the search path.
DB_SCHEMA = "attune"

#: pg_advisory_lock key serializing `attune migrate` across replicas ("attune" in ASCII).
MIGRATION_LOCK_KEY = 0x617474756E65

#: pg_advisory_lock key held by the replica that runs the plain-PostgreSQL retention job.
RETENTION_LOCK_KEY = MIGRATION_LOCK_KEY + 1

#: pg_advisory_lock key of the executors' maintenance leader.
MAINTENANCE_LOCK_KEY = MIGRATION_LOCK_KEY + 2
#: Oldest PostgreSQL major version the migrations and queries are written for.
MIN_POSTGRES_VERSION = 15
#: Oldest TimescaleDB the TimescaleDB migrations run on (the columnstore API arrived in 2.18).
MIN_TIMESCALEDB_VERSION = (2, 18, 0)

#: The user automations run as when no person asked for them (rules, timers): its ``user``-scoped
#: datastore keys are what ``st2kv.user`` reads there (StackStorm's system user).
SYSTEM_USER = "attune"

#: First key of the two-key advisory locks held while a pack is installed or removed (the second is
#: the hash of its ref); two-key locks take 32-bit keys ("pins" in ASCII).
PACK_INSTALL_LOCK_KEY = 0x70696E73

#: ``runner_type`` of a workflow action (an Orquesta workflow: its runs hold no process).
WORKFLOW_RUNNER_TYPE = "orquesta"

#: Root of the source tree (the workspace), where `migrations/` and `packs/` live.
PROJECT_ROOT = Path(__file__).resolve().parents[3]
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
PACKS_DIR = PROJECT_ROOT / "packs"

#: The web console as `npm run build` leaves it in the source tree (served by the API at `/`).
CONSOLE_DIST_DIR = PROJECT_ROOT / "console" / "dist"
