"""The servers of a test session: ``ATTUNE_TEST_*_URL`` when set, else started here (see
:mod:`attune_shared.embedded`); and private servers a fault test may stop, kill and restart."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from attune_shared.embedded import NatsServer, PostgresServer, ServerProcess
from attune_shared.nats_cluster import NatsCluster
from attune_shared.testing.timescale import TimescaleWasmServer

TEST_DATABASE_URL_ENV = "ATTUNE_TEST_DATABASE_URL"
TEST_NATS_URL_ENV = "ATTUNE_TEST_NATS_URL"
TEST_TIMESCALE_URL_ENV = "ATTUNE_TEST_TIMESCALE_URL"


@pytest.fixture(scope="session")
def servers_dir() -> Iterator[Path]:
    """Data of the session's servers, outside pytest's basetemp: concurrent pytest runs rotate
    (delete) each other's old basetemps, which must not pull a database from under a session."""
    path = Path(tempfile.mkdtemp(prefix="attune-test-servers-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _url_or_server(env_var: str, server: Callable[[], ServerProcess]) -> Iterator[str]:
    """The URL in ``env_var`` when set, else that of ``server()`` started for the session."""
    url = os.environ.get(env_var)
    if url:
        yield url
        return
    started = server()
    started.start()
    try:
        yield started.url
    finally:
        started.stop()


@pytest.fixture(scope="session")
def postgres_server_url(servers_dir: Path) -> Iterator[str]:
    """A PostgreSQL server URL with rights to create databases."""
    yield from _url_or_server(
        TEST_DATABASE_URL_ENV, lambda: PostgresServer(servers_dir / "postgres", durable=False)
    )


@pytest.fixture(scope="session")
def nats_url(servers_dir: Path) -> Iterator[str]:
    """A NATS server with JetStream, shared by the session (tests separate by subject prefix)."""
    yield from _url_or_server(TEST_NATS_URL_ENV, lambda: NatsServer(servers_dir / "nats"))


@pytest.fixture
def owned_nats() -> Iterator[NatsServer]:
    """A private NATS server for a fault test to stop, kill and restart."""
    path = Path(tempfile.mkdtemp(prefix="attune-test-nats-"))
    server = NatsServer(path)
    server.start()
    try:
        yield server
    finally:
        server.kill()
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def owned_nats_cluster() -> Iterator[NatsCluster]:
    """A private three-node JetStream cluster for a test to run on, and kill members of."""
    path = Path(tempfile.mkdtemp(prefix="attune-test-nats-cluster-"))
    cluster = NatsCluster(path)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.kill()
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def owned_postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL server for a fault test to stop, kill and restart (outside pytest's
    basetemp, whose permissions a concurrent pytest session may reset)."""
    path = Path(tempfile.mkdtemp(prefix="attune-test-pg-"))
    server = PostgresServer(path, durable=False)
    server.start()
    try:
        yield server
    finally:
        server.kill()
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def timescale_url(servers_dir: Path) -> Iterator[str]:
    """A TimescaleDB: ``ATTUNE_TEST_TIMESCALE_URL``, else the WASM build under Node (never skipped)."""
    yield from _url_or_server(TEST_TIMESCALE_URL_ENV, lambda: TimescaleWasmServer(servers_dir / "timescale"))
