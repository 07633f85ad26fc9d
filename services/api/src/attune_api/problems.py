"""Errors as RFC 9457 problem details (``application/problem+json``), for every error the API returns.

A problem has ``type`` (``urn:attune:problem:<slug>``), ``title``, ``status``, ``detail`` (one clear
sentence), ``instance`` (the request path) and ``request_id``; validation problems add ``errors``,
a list of ``{field, message}``.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import asyncpg
from asyncpg.exceptions import _base as asyncpg_base
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from attune_api.context import request_id
from attune_shared.errors import DatabaseUnavailableError, RetryableError
from attune_shared.outage import UNAVAILABLE_ERRORS

log = logging.getLogger("attune.api")

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:attune:problem:"

#: Default slug per status code.
SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    408: "request-timeout",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "too-many-requests",
    500: "internal-error",
    503: "unavailable",
}


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """The body of every error response."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    """Raise to answer with a problem: ``ProblemError(404, "action demo.x does not exist")``."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        errors: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or SLUGS.get(status, "error")
        self.errors = errors
        self.headers = headers


def not_found(what: str) -> ProblemError:
    return ProblemError(404, f"{what} does not exist")


def invalid(field: str, message: str) -> ProblemError:
    """A 422 naming the failing field."""
    return ProblemError(422, f"{field}: {message}", errors=[(field, message)])


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + (slug or SLUGS.get(status, "error")),
        "title": _title(status),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": request_id.get(),
    }
    if errors is not None:
        body["errors"] = [{"field": f, "message": m} for f, m in errors]
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        head, rest = parts[0], parts[1:]
        return f"{head}.{'.'.join(rest)}" if rest else head
    return ".".join(parts) or "(root)"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            request, exc.status, exc.detail, slug=exc.slug, errors=exc.errors, headers=exc.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            detail = f"method {request.method} is not allowed on {request.url.path}"
        return problem_response(request, exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [(_loc(tuple(e.get("loc", ()))), str(e.get("msg", "invalid"))) for e in exc.errors()]
        first = f"{errors[0][0]}: {errors[0][1]}" if errors else "invalid request"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return problem_response(request, 422, first + more, errors=errors)

    @app.exception_handler(asyncpg.UniqueViolationError)
    async def _unique(request: Request, exc: asyncpg.UniqueViolationError) -> JSONResponse:
        return problem_response(request, 409, f"already exists: {exc.detail or exc}", slug="already-exists")

    @app.exception_handler(asyncpg.ForeignKeyViolationError)
    async def _fk(request: Request, exc: asyncpg.ForeignKeyViolationError) -> JSONResponse:
        return problem_response(request, 409, f"a referenced row is missing: {exc.detail or exc}")

    @app.exception_handler(asyncpg.IntegrityConstraintViolationError)
    async def _integrity(request: Request, exc: asyncpg.IntegrityConstraintViolationError) -> JSONResponse:
        return problem_response(request, 422, f"invalid value: {exc}")

    async def _data(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(request, 422, f"invalid value: {exc}")

    # the server's data exceptions (class 22) and the driver's own "invalid input for query argument"
    app.add_exception_handler(asyncpg.DataError, _data)
    app.add_exception_handler(asyncpg_base.DataError, _data)

    @app.exception_handler(UnicodeError)
    async def _unicode(request: Request, _: UnicodeError) -> JSONResponse:
        return problem_response(request, 422, "invalid text: not encodable as UTF-8 (lone surrogate?)")

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        return problem_response(request, 422, f"value out of range: {exc}")

    @app.exception_handler(RetryableError)
    async def _retryable(request: Request, exc: RetryableError) -> JSONResponse:
        what = "database" if isinstance(exc, DatabaseUnavailableError) else "message bus"
        log.warning("api.unavailable", extra={"error": str(exc)})
        return problem_response(
            request, 503, f"the {what} is unavailable, try again: {exc}", headers={"Retry-After": "1"}
        )

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("api.unavailable", extra={"error": f"{type(exc).__name__}: {exc}"})
        return problem_response(
            request,
            503,
            f"a backing service is unavailable, try again ({type(exc).__name__})",
            headers={"Retry-After": "1"},
        )

    for kind in UNAVAILABLE_ERRORS:
        if issubclass(kind, Exception) and not issubclass(kind, RetryableError):  # those: above
            app.add_exception_handler(kind, _unavailable)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("api.internal_error", extra={"path": request.url.path})
        return problem_response(
            request,
            500,
            f"internal error ({type(exc).__name__}); see the server log for request {request_id.get()}",
        )
