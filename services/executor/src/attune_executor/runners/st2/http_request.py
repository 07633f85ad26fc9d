"""``http-request`` (``core.http``): one request as StackStorm's runner sends it.

Result ``{status_code, body, parsed, headers}``; the body is decoded when the response is
``application/json``. Succeeds only for 200–206 (StackStorm's rule; a redirect is a failure unless
``allow_redirects``); a request that times out ends ``timeout``.
"""

from __future__ import annotations

import ast
import json
from typing import Any
from urllib.parse import urlparse

import httpx

from attune_executor.runners.base import Interrupted, RunContext, RunResult, interrupted_result, interruptible
from attune_executor.runners.st2.params import prepare
from attune_executor.runners.st2.results import failed

#: The status codes StackStorm counts as success.
SUCCESS_CODES = range(200, 207)
USER_AGENT = "st2/v3.9.0 (attune)"


class HttpRequestRunner:
    async def run(self, ctx: RunContext) -> RunResult:
        params = prepare(ctx)
        runner, action = params.runner, params.action
        url = runner.get("url")
        if not isinstance(url, str) or not url:
            return _failed(ctx, "url: required")
        host = urlparse(url).hostname or ""
        if runner.get("url_hosts_blacklist") and runner.get("url_hosts_whitelist"):
            return _failed(ctx, '"url_hosts_blacklist" and "url_hosts_whitelist" are mutually exclusive')
        if host in (runner.get("url_hosts_blacklist") or []):
            return _failed(ctx, f'URL "{url}" is blacklisted')
        allowed = runner.get("url_hosts_whitelist") or []
        if allowed and host not in allowed:
            return _failed(ctx, f'URL "{url}" is not whitelisted')
        body, files = action.get("body"), None
        if action.get("file_name") and action.get("file_content") is not None:
            kind, data = action.get("file_content_type"), action["file_content"]
            files = {action["file_name"]: (action["file_name"], data, kind) if kind else data}
        method = str(action.get("method") or ("POST" if body or files else "GET"))
        headers = {str(k): str(v) for k, v in (runner.get("headers") or {}).items()}
        headers.update({"User-Agent": USER_AGENT, "X-Stanley-Action": ctx.action.label or ctx.action.ref})
        lowered = {k.lower(): v for k, v in headers.items()}
        content: bytes | None = None
        if body is not None:
            if lowered.get("content-type") == "application/json":
                content = json.dumps(_as_object(body)).encode()
            else:
                content = str(body).encode()
        auth = None
        if runner.get("username") or runner.get("password"):
            auth = httpx.BasicAuth(str(runner.get("username") or ""), str(runner.get("password") or ""))
        proxy = runner.get("https_proxy") if url.startswith("https") else runner.get("http_proxy")
        timeout = float(action.get("timeout") or 60)
        try:
            async with httpx.AsyncClient(
                follow_redirects=bool(runner.get("allow_redirects")),
                verify=bool(runner.get("verify_ssl_cert", True)),
                proxy=proxy or None,
                trust_env=False,
            ) as client:
                response = await interruptible(
                    client.request(
                        method,
                        url,
                        params=action.get("params"),
                        content=content,
                        files=files,
                        headers=headers,
                        cookies=runner.get("cookies"),
                        auth=auth,
                        timeout=timeout,
                    ),
                    ctx,
                )
        except Interrupted as exc:
            return interrupted_result(
                ctx, exc, shape={"error": "timed out" if exc.timed_out else "cancelled"}
            )
        except httpx.TimeoutException as exc:
            error = f"{method} {url}: no response within {timeout:g} s ({type(exc).__name__})"
            return RunResult(
                False, None, ctx.elapsed_ms(), timed_out=True, error=error, shape={"error": error}
            )
        except (httpx.HTTPError, ValueError, TypeError) as exc:
            return _failed(ctx, f"{method} {url}: {type(exc).__name__}: {exc}")
        limit = ctx.settings.max_output_bytes
        text = response.content[:limit].decode(response.encoding or "utf-8", errors="replace")
        parsed, decoded = False, text
        if response.headers.get("content-type", "").split(";")[0].strip() == "application/json":
            try:
                decoded, parsed = json.loads(text), True
            except ValueError:
                pass
        succeeded = response.status_code in SUCCESS_CODES
        shape = {
            "status_code": response.status_code,
            "body": decoded,
            "parsed": parsed,
            "headers": dict(response.headers),
        }
        return RunResult(
            succeeded,
            None,
            ctx.elapsed_ms(),
            stdout_truncated=len(response.content) > limit,
            shape=shape,
        )


def _as_object(body: Any) -> Any:
    if not isinstance(body, str):
        return body
    try:
        return json.loads(body)
    except ValueError:
        return ast.literal_eval(body)


def _failed(ctx: RunContext, error: str) -> RunResult:
    return failed(ctx, error, {})
