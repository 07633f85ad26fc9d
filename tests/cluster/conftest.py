"""The suite's pipeline on a three-node JetStream cluster: every test here gets its own cluster
(``owned_nats_cluster``) and runs its streams, consumers and KV buckets at three replicas."""

from __future__ import annotations

import pytest

from attune_shared.nats_cluster import NatsCluster
from attune_shared.settings import Settings


@pytest.fixture
def nats_url(owned_nats_cluster: NatsCluster) -> str:
    """Every member's URL: clients fail over between them."""
    return owned_nats_cluster.url


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings at ``ATTUNE__NATS__REPLICAS=3`` (passed on to spawned services)."""
    return settings.model_copy(update={"nats": settings.nats.model_copy(update={"replicas": 3})})
