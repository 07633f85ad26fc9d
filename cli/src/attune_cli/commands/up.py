"""`attune up`: the whole system as local processes, for a laptop without Docker.

Starts an embedded NATS (JetStream) and an embedded PostgreSQL under ``.attune/`` unless
``ATTUNE__NATS__URL`` / ``ATTUNE__DATABASE__URL`` point elsewhere; migrates; registers the core and
example packs; provisions the bus; starts the api, the sensor and ``--executors N`` executors; prints
where everything is. Ctrl-C stops everything. A second run reuses the data.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import nats
import typer

from attune_cli.output import console
from attune_shared.apikeys import create_api_key
from attune_shared.bus import bus_spec, provision
from attune_shared.constants import PACKS_DIR
from attune_shared.db import connect, create_pool
from attune_shared.embedded import NatsServer, PostgresServer
from attune_shared.errors import AttuneError
from attune_shared.migrations import load_migrations, migrate
from attune_shared.packs import register_core_pack, register_pack
from attune_shared.processes import ServiceProcess, console_script, free_port, port_open
from attune_shared.settings import DatabaseSettings, Settings, load_settings

DATABASE = "attune"
EXAMPLE_EVENT = {"host": "web-1", "severity": "critical", "message": "disk /var is 97% full", "check": "disk"}


@dataclass
class DevStack:
    data_dir: Path
    settings: Settings
    env: dict[str, str]
    servers: list[NatsServer | PostgresServer] = field(default_factory=list)
    services: list[ServiceProcess] = field(default_factory=list)


def up(
    executors: int = typer.Option(1, "--executors", "-e", min=1, max=32, help="executor replicas to run"),
    data_dir: Path = typer.Option(
        Path(".attune"), "--data-dir", help="where embedded servers keep their data"
    ),
    api_port: int = typer.Option(8080, "--api-port", help="API port (the next free one if taken)"),
) -> None:
    """Run the whole system locally (no Docker): NATS, PostgreSQL, api, sensor and executors."""
    settings = load_settings()
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(_up(settings, data_dir, executors, api_port))


async def _up(settings: Settings, data_dir: Path, executors: int, api_port: int) -> None:
    state = _load_state(data_dir)
    stack = DevStack(data_dir, settings, {})
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        nats_url = _start_nats(stack, state) if "ATTUNE__NATS__URL" not in os.environ else settings.nats.url
        db_url = (
            await _start_postgres(stack, state)
            if "ATTUNE__DATABASE__URL" not in os.environ
            else settings.database.url
        )
        _save_state(data_dir, state)
        database = DatabaseSettings(url=db_url, startup_wait=settings.database.startup_wait)
        await _prepare_database(database)
        await _prepare_bus(settings, nats_url)
        key = await _api_key(database)
        port = api_port if not port_open(api_port) else free_port()
        stack.env = _service_env(settings, db_url, nats_url, state["secret_key"], port)
        await _start_services(stack, executors)
        _print_welcome(settings, nats_url, db_url, port, key, executors, data_dir)
        await _watch(stack, stopping)
    finally:
        await _shutdown(stack)


def _load_state(data_dir: Path) -> dict[str, Any]:
    path = data_dir / "state.json"
    state: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    state.setdefault("secret_key", secrets.token_urlsafe(32))
    return state


def _save_state(data_dir: Path, state: dict[str, Any]) -> None:
    path = data_dir / "state.json"
    path.write_text(json.dumps(state, indent=2) + "\n")
    path.chmod(0o600)


def _port(state: dict[str, Any], key: str, preferred: int) -> int:
    """The port used last time, else ``preferred``, else any free one."""
    for candidate in (state.get(key), preferred):
        if candidate and not port_open(int(candidate)):
            state[key] = int(candidate)
            return int(candidate)
    state[key] = free_port()
    return int(state[key])


def _start_nats(stack: DevStack, state: dict[str, Any]) -> str:
    server = NatsServer(
        stack.data_dir / "nats",
        port=_port(state, "nats_port", 14222),
        monitor_port=_port(state, "nats_monitor_port", 18222),
    )
    console.print(f"starting NATS (JetStream) on {server.url} …")
    server.start()
    stack.servers.append(server)
    return server.url


async def _start_postgres(stack: DevStack, state: dict[str, Any]) -> str:
    server = PostgresServer(stack.data_dir / "postgres", port=_port(state, "postgres_port", 15432))
    console.print(f"starting PostgreSQL on 127.0.0.1:{server.port} …")
    server.start()
    stack.servers.append(server)
    admin = await asyncpg.connect(server.url)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    return server.url_for(DATABASE)


async def _prepare_database(database: DatabaseSettings) -> None:
    conn = await connect(database, application_name="attune-up")
    try:
        report = await migrate(conn, load_migrations(database.migrations_dir))
        await register_core_pack(conn)
        examples = await register_pack(conn, PACKS_DIR / "examples")
    finally:
        await conn.close()
    console.print(
        f"database migrated ({len(report.applied)} applied, {len(report.already_applied)} already); "
        f"packs core and examples registered{'' if examples.changed else ' (unchanged)'}"
    )


async def _prepare_bus(settings: Settings, nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        await provision(
            nc, bus_spec(settings.nats.model_copy(update={"url": nats_url}), settings.sensor.timer_lease_ttl)
        )
    finally:
        await nc.close()


async def _api_key(database: DatabaseSettings) -> str:
    pool = await create_pool(database, max_size=1)
    try:
        created = await create_api_key(pool, role="admin", login="dev", name="attune up")
    finally:
        await pool.close()
    return created.key


def _service_env(
    settings: Settings, db_url: str, nats_url: str, secret_key: str, api_port: int
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "ATTUNE__DATABASE__URL": db_url,
            "ATTUNE__NATS__URL": nats_url,
            "ATTUNE__NATS__PREFIX": settings.nats.prefix,
            "ATTUNE__SECURITY__SECRET_KEY": env.get("ATTUNE__SECURITY__SECRET_KEY", secret_key),
            "ATTUNE__API__PORT": str(api_port),
            # a laptop's browser cannot send the key to Swagger UI's page itself
            "ATTUNE__API__DOCS_PUBLIC": env.get("ATTUNE__API__DOCS_PUBLIC", "true"),
            "ATTUNE__LOG__FORMAT": env.get("ATTUNE__LOG__FORMAT", "text"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


async def _start_services(stack: DevStack, executors: int) -> None:
    logs = stack.data_dir / "logs"
    logs.mkdir(exist_ok=True)
    names = ["attune-api", "attune-sensor"] + ["attune-executor"] * executors
    for index, script in enumerate(names):
        env = dict(stack.env)
        if script == "attune-executor":
            env.setdefault("ATTUNE__EXECUTOR__NAME", f"up-executor-{index - 1}-{os.getpid()}")
        suffix = f"-{index - 2}" if script == "attune-executor" else ""
        process = ServiceProcess(
            script, [console_script(script)], env, logs / f"{script}{suffix}.log"
        ).start()
        stack.services.append(process)
    console.print(f"starting api, sensor and {executors} executor(s) … (logs in {logs})")
    for process in stack.services:
        try:
            await process.wait_ready(timeout=60)
        except (RuntimeError, TimeoutError) as exc:
            raise AttuneError(
                f"{process.name} did not start: {str(exc).splitlines()[0]} (see {process.log_path})"
            ) from exc


def _print_welcome(
    settings: Settings, nats_url: str, db_url: str, port: int, key: str, executors: int, data_dir: Path
) -> None:
    api = f"http://127.0.0.1:{port}"
    env = f"ATTUNE__NATS__URL={nats_url} ATTUNE__NATS__PREFIX={settings.nats.prefix}"
    payload = json.dumps(EXAMPLE_EVENT)
    lines = [
        "",
        "Attune is up.  Ctrl-C stops everything.",
        f"  console        {api}/   (sign in with the API key below)",
        f"  API            {api}/api/v1   (docs {api}/docs)",
        f"  live stream    {api}/api/v1/executions/stream",
        f"  NATS           {nats_url}   (prefix {settings.nats.prefix})",
        f"  PostgreSQL     {db_url}",
        f"  executors      {executors}",
        f"  data           {data_dir}",
        f"  API key        {key}   (admin; shown once)",
        "",
        "Publish an event that runs an action (copy-paste):",
        f"  {env} uv run attune event publish examples.alert '{payload}'",
        "Then look at it:",
        f"  ATTUNE_API_URL={api} ATTUNE_API_KEY={key} uv run attune execution list",
    ]
    # plain lines, never wrapped: they are meant to be copied
    typer.echo("\n".join(lines), color=False)


async def _watch(stack: DevStack, stopping: asyncio.Event) -> None:
    """Wait for Ctrl-C; a service that dies takes the stack down with a clear message."""
    while not stopping.is_set():
        for process in stack.services:
            if not process.running:
                raise AttuneError(
                    f"{process.name} exited with code {process.returncode}; see {process.log_path}"
                )
        try:
            await asyncio.wait_for(stopping.wait(), 1.0)
        except TimeoutError:
            pass
    console.print("\nstopping …")


async def _shutdown(stack: DevStack) -> None:
    for process in reversed(stack.services):
        await process.terminate(timeout=30)
    for server in reversed(stack.servers):
        server.stop()
    if stack.services or stack.servers:
        console.print("stopped.")
