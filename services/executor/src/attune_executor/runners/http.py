"""The ``http`` runner (``core.http``): one request with httpx. A 2xx or 3xx response succeeds
(redirects are not followed); ``data`` holds the status code, headers and body (parsed when JSON)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from attune_executor.runners.base import Interrupted, RunContext, RunResult, interrupted_result, interruptible


class HttpRunner:
    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def run(self, ctx: RunContext) -> RunResult:
        p = ctx.params
        url, method = p.get("url"), str(p.get("method") or "GET").upper()
        if not isinstance(url, str) or not url:
            return RunResult(False, None, ctx.elapsed_ms(), error="url: required")
        timeout = float(p.get("timeout") or 30)
        kwargs: dict[str, Any] = {"headers": {str(k): str(v) for k, v in (p.get("headers") or {}).items()}}
        if p.get("json") is not None:
            kwargs["json"] = p["json"]
        elif p.get("body") is not None:
            kwargs["content"] = str(p["body"]).encode()
        try:
            response = await interruptible(self.client.request(method, url, timeout=timeout, **kwargs), ctx)
        except Interrupted as exc:
            return interrupted_result(ctx, exc)
        except httpx.TimeoutException:
            return RunResult(
                False, None, ctx.elapsed_ms(), error=f"{method} {url}: no response within {timeout:g} s"
            )
        except (httpx.HTTPError, ValueError) as exc:
            return RunResult(
                False, None, ctx.elapsed_ms(), error=f"{method} {url}: {type(exc).__name__}: {exc}"
            )
        limit = ctx.settings.max_output_bytes
        raw = response.content
        text = raw[:limit].decode(response.encoding or "utf-8", errors="replace")
        body: Any = text
        if "json" in response.headers.get("content-type", "") and len(raw) <= limit:
            try:
                body = json.loads(raw)
            except ValueError:
                pass
        succeeded = 200 <= response.status_code < 400
        return RunResult(
            succeeded=succeeded,
            exit_code=None,
            duration_ms=ctx.elapsed_ms(),
            stdout=text,
            stdout_truncated=len(raw) > limit,
            data={
                "status_code": response.status_code,
                "reason": response.reason_phrase,
                "headers": dict(response.headers),
                "body": body,
                "url": str(response.url),
            },
            error=None
            if succeeded
            else f"{method} {url}: HTTP {response.status_code} {response.reason_phrase}",
        )
