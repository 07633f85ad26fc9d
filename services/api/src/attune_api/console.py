"""The web console: the built single-page app served at ``/``, same origin as ``/api/v1``.

A path naming a built file gets that file; any other path outside the API's own prefixes gets
``index.html`` (the console routes in the browser). Hashed assets are cached for a year,
``index.html`` is revalidated on every load; text is gzipped once and kept in memory.
"""

from __future__ import annotations

import gzip
import logging
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from attune_api.problems import ProblemError, not_found
from attune_shared.constants import CONSOLE_DIST_DIR
from attune_shared.errors import ConfigError
from attune_shared.settings import Settings

log = logging.getLogger("attune.api")

INDEX = "index.html"
#: Paths the console never answers: an unknown API path stays a JSON 404.
RESERVED = ("api/", "auth/", "health", "metrics", "docs", "redoc", "openapi.json")
BUILD_HINT = "build it with `npm --prefix console ci && npm --prefix console run build` (./scripts/up does)"
_COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
#: The console loads nothing from elsewhere; inline styles are React's `style` attributes.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class _File:
    body: bytes
    gzipped: bytes | None
    media_type: str
    mtime_ns: int


class Console:
    """The files of one build directory."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._files: dict[Path, _File] = {}

    @property
    def built(self) -> bool:
        return (self.root / INDEX).is_file()

    def response(self, path: str, accept_encoding: str) -> Response:
        if not self.built:
            raise ProblemError(404, f"the web console is not built in {self.root}: {BUILD_HINT}")
        target = (self.root / path).resolve()
        if not target.is_relative_to(self.root) or not target.is_file():
            if path.startswith("assets/") or ("/" not in path and "." in path):  # a file, not a route
                raise not_found(f"/{path}")
            target = self.root / INDEX
        file = self._load(target)
        headers = {
            "Cache-Control": "public, max-age=31536000, immutable"
            if target.parent.name == "assets"
            else "no-cache",
            "Vary": "Accept-Encoding",
        }
        if file.media_type == "text/html":
            headers |= SECURITY_HEADERS
        body = file.body
        if file.gzipped is not None and "gzip" in accept_encoding:
            body, headers["Content-Encoding"] = file.gzipped, "gzip"
        return Response(body, media_type=file.media_type, headers=headers)

    def _load(self, target: Path) -> _File:
        mtime = target.stat().st_mtime_ns
        cached = self._files.get(target)
        if cached is not None and cached.mtime_ns == mtime:
            return cached
        body = target.read_bytes()
        media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        compress = media_type.startswith(_COMPRESSIBLE) and len(body) > 1024
        file = _File(body, gzip.compress(body, 6) if compress else None, media_type, mtime)
        self._files[target] = file
        return file


def console_of(settings: Settings) -> Console:
    """The console of ``api.console_dir``: a configured directory must hold a build (else a
    :class:`ConfigError` naming it); the default one may be missing (logged, ``/`` says how to build)."""
    configured = settings.api.console_dir
    console = Console(configured or CONSOLE_DIST_DIR)
    if not console.built:
        if configured is not None:
            raise ConfigError(
                f"invalid setting api.console_dir (ATTUNE__API__CONSOLE_DIR) = '{configured}': "
                f"no {INDEX} there; {BUILD_HINT}"
            )
        log.warning("api.console_not_built", extra={"path": str(console.root), "hint": BUILD_HINT})
    return console


def install(app: FastAPI, console: Console) -> None:
    """Serve the console for GET and HEAD requests no route matches. The router's fallback, not a
    catch-all route, so a wrong method on an API path stays a 405 and other methods a 404."""
    fallback = app.router.default

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        path = request.url.path.lstrip("/")
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or path.startswith(RESERVED):
            await fallback(scope, receive, send)
            return
        response = console.response(path, request.headers.get("accept-encoding", ""))
        await response(scope, receive, send)

    app.router.default = default
