"""Settings for a test: its own database and subject prefix."""

from __future__ import annotations

import secrets

import pytest

from attune_shared.settings import DatabaseSettings, NatsSettings, Settings


@pytest.fixture
def settings(
    database_url: str, nats_url: str, nats_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Settings pointing at this test's database and prefix, and a packs home of its own (not the
    home directory of whoever runs the tests)."""
    return Settings(
        environment="test",
        database=DatabaseSettings(url=database_url, startup_wait=5),
        nats=NatsSettings(url=nats_url, prefix=nats_prefix),
        security={"secret_key": "test-secret-" + secrets.token_hex(8)},
        packs={"home": tmp_path_factory.mktemp("packs-home")},
    )
