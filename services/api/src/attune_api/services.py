"""What the routes use, built once by the application's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from nats.aio.client import Client as NatsClient

from attune_api.auth import TokenSigner
from attune_api.sse import Hub
from attune_api.throttle import AuthThrottle
from attune_shared.bus import Bus, BusSpec
from attune_shared.secrets import SecretBox
from attune_shared.settings import Settings
from attune_shared.workflows.engine import WorkflowEngine


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    bus: Bus
    nc: NatsClient
    spec: BusSpec
    hub: Hub
    signer: TokenSigner
    #: issues the tokens of web console sessions (``api.session_ttl``); any signer verifies them
    session_signer: TokenSigner
    box: SecretBox
    #: pause, resume and cancel of workflows (cascading to their children)
    workflows: WorkflowEngine
    #: failed authentications per remote address (brute-force throttling)
    throttle: AuthThrottle
