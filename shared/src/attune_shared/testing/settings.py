"""Settings for a test: its own database and subject prefix."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from attune_shared.settings import DatabaseSettings, NatsSettings, Settings


def settings_for(database_url: str, nats_url: str, nats_prefix: str, packs_home: Path) -> Settings:
    """Settings of a test: its database and prefix, a packs home of its own (not the home directory
    of whoever runs the tests), short waits and a fresh secret key."""
    return Settings(
        environment="test",
        database=DatabaseSettings(url=database_url, startup_wait=5),
        nats=NatsSettings(url=nats_url, prefix=nats_prefix),
        security={"secret_key": "test-secret-" + secrets.token_hex(8)},
        packs={"home": packs_home},
    )


@pytest.fixture
def settings(
    database_url: str, nats_url: str, nats_prefix: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """:func:`settings_for` this test's database and prefix."""
    return settings_for(database_url, nats_url, nats_prefix, tmp_path_factory.mktemp("packs-home"))
