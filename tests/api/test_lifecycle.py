"""The API process: readiness follows its dependencies; SIGTERM ends live streams and exits 0."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx

from attune_shared.bus import Bus, bus_spec, make_broker, stop_broker
from attune_shared.embedded import NatsServer
from attune_shared.settings import NatsSettings
from attune_shared.statuses import ExecutionStatus

from .harness import Api, problem, start_api


async def test_sigterm_ends_open_streams_and_exits_zero(api: Api, tmp_path: Path) -> None:
    proc, url = await start_api(api.env, tmp_path / "api.log")
    try:
        async with httpx.AsyncClient(
            base_url=url, headers={"X-API-Key": api.keys["viewer"]}, timeout=30
        ) as http:
            async with http.stream("GET", "/api/v1/executions/stream") as response:
                assert response.status_code == 200
                proc.process.terminate()  # type: ignore[union-attr]
                async with asyncio.timeout(20):
                    async for _ in response.aiter_lines():
                        pass  # the server closes the stream
        async with asyncio.timeout(20):
            code = await proc.terminate()
        assert code == 0, proc.output()[-3000:]
        assert "service.stopped" in proc.output()
    finally:
        await proc.kill()


async def test_nats_restart_readiness_and_streams_recover(
    api: Api, owned_nats: NatsServer, tmp_path: Path
) -> None:
    env = {**api.env, "ATTUNE__NATS__URL": owned_nats.url}
    proc, url = await start_api(env, tmp_path / "api.log")
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            assert (await http.get("/health/ready")).status_code == 200
            owned_nats.stop()
            body = problem(await http.get("/health/ready"), 503)
            assert (
                "nats unavailable" in str(body["detail"]) and body["type"] == "urn:attune:problem:not-ready"
            )
            assert (await http.get("/health")).status_code == 200  # liveness is unaffected
            owned_nats.start()
            async with asyncio.timeout(30):
                while True:  # the API reconnects by itself
                    if (await http.get("/health/ready")).status_code == 200:
                        break
                    await asyncio.sleep(0.2)
            # live status changes flow again after the reconnect
            nats_settings = NatsSettings(url=owned_nats.url, prefix=api.settings.nats.prefix)
            broker = make_broker(nats_settings, "pytest")
            await broker.connect()
            try:
                bus = Bus(broker, bus_spec(nats_settings))
                headers = {"X-API-Key": api.keys["viewer"]}
                async with http.stream("GET", "/api/v1/executions/stream", headers=headers) as response:
                    lines = response.aiter_lines()
                    await bus.execution_status(
                        5, datetime.now(UTC), "x.y", [(None, ExecutionStatus.REQUESTED)]
                    )
                    async with asyncio.timeout(15):
                        while not (await anext(lines)).startswith("data:"):
                            pass
            finally:
                await stop_broker(broker)
    finally:
        await proc.kill()


async def test_private_docs_and_public_metrics(api: Api, tmp_path: Path) -> None:
    """By default only /health needs no key (the docs too are behind auth); metrics can be opened."""
    env = {k: v for k, v in api.env.items() if k != "ATTUNE__API__DOCS_PUBLIC"}
    env["ATTUNE__API__METRICS_PUBLIC"] = "true"
    proc, url = await start_api(env, tmp_path / "api.log")
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for path in ("/openapi.json", "/docs", "/redoc"):
                problem(await http.get(path), 401)
                assert (await http.get(path, headers={"X-API-Key": api.keys["viewer"]})).status_code == 200
            assert (
                "/api/v1/executions"
                in (await http.get("/openapi.json", headers={"X-API-Key": api.keys["viewer"]})).json()[
                    "paths"
                ]
            )
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200 and "attune_api_requests_total" in metrics.text
    finally:
        await proc.kill()
