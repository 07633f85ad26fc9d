"""/health/live and /health/ready of the sensor and the executor, on their metrics port, against
real servers: ready only while the database and NATS answer and the durable consumers exist."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from attune_shared.embedded import NatsServer
from attune_shared.processes import free_port
from attune_shared.testing.spawning import SpawnService

pytestmark = pytest.mark.slow

SERVICES = {"attune-sensor": ("SENSOR", ["sensor"]), "attune-executor": ("EXECUTOR", ["executor-events"])}


async def _fetch(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"http://127.0.0.1:{port}{path}")


async def _get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    response = await _fetch(port, path)
    return response.status_code, response.json()


async def _until(port: int, path: str, status: int, timeout: float = 30.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        code, body = await _get(port, path)
        if code == status:
            return body
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{path} stayed {code} {body}, expected {status}")
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("script", list(SERVICES))
async def test_ready_follows_nats(script: str, spawn_service: SpawnService, owned_nats: NatsServer) -> None:
    section, durables = SERVICES[script]
    port = free_port()
    service = await spawn_service(
        script, env={"ATTUNE__NATS__URL": owned_nats.url, f"ATTUNE__{section}__METRICS_PORT": str(port)}
    )
    body = await _until(port, "/health/ready", 200)
    assert body["status"] == "ok"
    expected = {"service", "database", "nats", *(f"consumer {d}" for d in durables)}
    assert expected <= body["checks"].keys() and set(body["checks"].values()) == {"ok"}, body
    assert (await _get(port, "/health/live"))[0] == 200
    assert "attune_messages_settled_total" in (await _fetch(port, "/metrics")).text

    owned_nats.kill()
    body = await _until(port, "/health/ready", 503)
    assert body["checks"]["nats"] != "ok" and body["checks"]["database"] == "ok", body
    code, live = await _get(port, "/health/live")
    assert code == 200, "NATS being away is no reason to restart the process"

    owned_nats.start()
    await _until(port, "/health/ready", 200)
    assert service.running
