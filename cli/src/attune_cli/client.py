"""The small HTTP client of the API commands: ``ATTUNE_API_URL`` (default http://127.0.0.1:8080) and
``ATTUNE_API_KEY``; an error response becomes :class:`ApiError` carrying the problem's ``detail``."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, connect_sse

from attune_shared.errors import AttuneError

URL_ENV = "ATTUNE_API_URL"
KEY_ENV = "ATTUNE_API_KEY"
DEFAULT_URL = "http://127.0.0.1:8080"


class ApiError(AttuneError):
    """The API refused a request (``status`` and the problem's ``detail``), or could not be reached."""

    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200] or response.reason_phrase}"
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return str(body["detail"])
    return f"HTTP {response.status_code}: {json.dumps(body)[:200]}"


class ApiClient:
    def __init__(self, url: str | None = None, key: str | None = None, timeout: float = 30.0) -> None:
        self.url = (url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        key = key or os.environ.get(KEY_ENV)
        self.headers = {"X-API-Key": key} if key else {}
        self.timeout = timeout

    def _client(self, timeout: float | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=timeout or self.timeout)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of a successful response (``None`` for 204); raises :class:`ApiError`."""
        try:
            with self._client() as http:
                response = http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(f"cannot reach the API at {self.url}: {exc}") from None
        if response.status_code >= 400:
            raise ApiError(_detail(response), response.status_code)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        return self.request("GET", path, params=clean)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body)

    def stream(
        self, path: str, params: Mapping[str, Any] | None = None, read_timeout: float = 60.0
    ) -> Iterator[ServerSentEvent]:
        """Events of an SSE endpoint (keep-alive comments skipped), until the server ends the stream."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        try:
            with (
                self._client() as http,
                connect_sse(http, "GET", path, params=clean, timeout=timeout) as source,
            ):
                if source.response.status_code >= 400:
                    source.response.read()
                    raise ApiError(_detail(source.response), source.response.status_code)
                for event in source.iter_sse():
                    if event.event == "message" and not event.data:
                        continue
                    yield event
        except httpx.HTTPError as exc:
            raise ApiError(f"the stream from {self.url} broke: {exc}") from None


def parse_value(text: str) -> Any:
    """A command-line value: JSON when it parses (``5``, ``true``, ``[1,2]``, ``{"a":1}``), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` arguments as a parameter object; raises :class:`ValueError` naming a bad one."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{pair!r} is not key=value")
        params[key] = parse_value(value)
    return params


def short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"
