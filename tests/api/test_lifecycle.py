"""The API process: readiness follows its dependencies; SIGTERM ends live streams and exits 0."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from attune_shared.embedded import NatsServer

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


async def test_ready_reports_nats_down(api: Api, owned_nats: NatsServer, tmp_path: Path) -> None:
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
    finally:
        await proc.kill()
