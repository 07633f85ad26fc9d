"""A pack written as StackStorm writes them (``packs/st2demo``), registered with its config."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from attune_shared.packs import RegistrationReport, register_core_pack, register_pack
from attune_shared.processes import ServiceProcess
from attune_shared.secrets import SecretBox
from attune_shared.settings import Settings
from attune_shared.testing.spawning import SpawnService

from ..api.harness import api, services  # noqa: F401  (the API process and other services)
from ..executor.conftest import FAST, StartExecutor

StartSensor = Callable[..., Awaitable[ServiceProcess]]

PACKS = Path(__file__).parent / "packs"
ST2DEMO = PACKS / "st2demo"
#: The secret in st2demo's config and in its python action's parameters: it must never be shown.
API_TOKEN = "s3cr3t-api-token"


@pytest.fixture
def st2demo(tmp_path: Path) -> Path:
    """A copy of the pack (tests may change it) and its config in StackStorm's layout:
    ``<tmp>/packs/st2demo`` and ``<tmp>/configs/st2demo.yaml``."""
    pack = tmp_path / "packs" / "st2demo"
    shutil.copytree(ST2DEMO, pack)
    (pack / "actions" / "scripts" / "args.sh").chmod(0o644)  # not executable: its #! line runs it
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "st2demo.yaml").write_text(f"api_token: {API_TOKEN}\ninbox: {inbox}\n")
    return pack


@pytest.fixture
def box(settings: Settings) -> SecretBox:
    """The services' secret key: it seals the pack config's secrets."""
    return SecretBox.of(settings.security)


@pytest_asyncio.fixture
async def registered(db_pool: asyncpg.Pool, st2demo: Path, box: SecretBox) -> RegistrationReport:
    await register_core_pack(db_pool)
    return await register_pack(db_pool, st2demo, box=box)


@pytest.fixture
def start_executor(spawn_service: SpawnService, tmp_path: Path) -> StartExecutor:
    """An executor process with the executor tests' short timings, its packs home in ``tmp_path``."""

    async def start(name: str = "ex-0", env: dict[str, str] | None = None, **settings: str) -> ServiceProcess:
        full = {
            **FAST,
            "ATTUNE__EXECUTOR__NAME": name,
            "ATTUNE__PACKS__HOME": str(tmp_path / "home"),
            **(env or {}),
        }
        full.update({f"ATTUNE__EXECUTOR__{k}": v for k, v in settings.items()})
        return await spawn_service("attune-executor", env=full)

    return start


@pytest.fixture
def start_sensor(spawn_service: SpawnService, tmp_path: Path) -> StartSensor:
    """A sensor service process: pack sensors reconciled every 0.5 s, short leases, its packs home
    in ``tmp_path``."""

    async def start(env: dict[str, str] | None = None, **settings: str) -> ServiceProcess:
        full = {
            "ATTUNE__SENSOR__SENSORS_RECONCILE_INTERVAL": "0.5",
            "ATTUNE__SENSOR__TIMER_LEASE_TTL": "2",
            "ATTUNE__SENSOR__SENSOR_STOP_GRACE": "3",
            "ATTUNE__SENSOR__TRIGGER_CACHE_TTL": "0",
            "ATTUNE__PACKS__HOME": str(tmp_path / "home"),
            **(env or {}),
        }
        full.update({f"ATTUNE__SENSOR__{k}": v for k, v in settings.items()})
        return await spawn_service("attune-sensor", env=full)

    return start
