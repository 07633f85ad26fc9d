"""What the parts of the executor work with, built once by the app and handed to each part."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from attune_executor.catalog_cache import CatalogCache
from attune_executor.finishing import Finisher
from attune_executor.policies import PolicyEngine
from attune_executor.wakeups import Wakeups
from attune_shared.bus import Bus
from attune_shared.datastore import Datastore
from attune_shared.secrets import SecretBox
from attune_shared.settings import ExecutorSettings, PacksSettings, Settings
from attune_shared.workflows.engine import WorkflowEngine


@dataclass(frozen=True)
class ExecutorContext:
    pool: asyncpg.Pool
    bus: Bus
    settings: ExecutorSettings
    catalog: CatalogCache
    policies: PolicyEngine
    wakeups: Wakeups
    finisher: Finisher
    #: opens secrets: sealed parameters, datastore secrets
    box: SecretBox
    datastore: Datastore
    #: installed packs and their virtual environments
    packs: PacksSettings
    workflows: WorkflowEngine

    @classmethod
    def create(cls, pool: asyncpg.Pool, bus: Bus, settings: Settings) -> ExecutorContext:
        ex = settings.executor
        box = SecretBox.of(settings.security)
        catalog = CatalogCache(pool, box, ex.cache_ttl)
        policies = PolicyEngine(pool, bus)
        wakeups = Wakeups(bus)
        finisher = Finisher(pool, bus, ex, catalog, policies, wakeups)
        datastore = Datastore(pool, box)
        workflows = WorkflowEngine(pool, bus, box, api_url=settings.api.base_url(), end=finisher.end_workflow)
        finisher.workflows = workflows
        return cls(
            pool, bus, ex, catalog, policies, wakeups, finisher, box, datastore, settings.packs, workflows
        )
