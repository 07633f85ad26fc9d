"""Web console sessions: a bearer token in an HttpOnly, ``SameSite=Strict`` cookie.

JavaScript never sees the token, so a script injected into the page cannot steal it. Cross-site
request forgery is refused twice: the browser does not send a ``SameSite=Strict`` cookie with a
request started by another site, and a state-changing request authenticated by the cookie must
carry the ``X-Attune-CSRF`` header, which a cross-origin page cannot add without a CORS
preflight that the API does not grant it.
"""

from __future__ import annotations

from fastapi import Request, Response

from attune_api.auth import TOKEN_PREFIX
from attune_api.problems import ProblemError

COOKIE = "attune_session"
CSRF_HEADER = "X-Attune-CSRF"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def check_csrf(request: Request) -> None:
    """403 unless a state-changing request carries :data:`CSRF_HEADER`."""
    if request.method not in SAFE_METHODS and not request.headers.get(CSRF_HEADER):
        raise ProblemError(
            403,
            f"a request authenticated by the session cookie that changes state must carry the "
            f"{CSRF_HEADER} header (cross-site request forgery protection)",
        )


def cookie_credential(request: Request) -> str | None:
    """The token of the session cookie, if any (CSRF-checked for state-changing requests)."""
    token = request.cookies.get(COOKIE, "")
    if not token.startswith(TOKEN_PREFIX):
        return None
    check_csrf(request)
    return token


def set_cookie(response: Response, token: str, max_age: int, *, secure: bool) -> None:
    response.set_cookie(
        COOKIE, token, max_age=max_age, path="/", httponly=True, samesite="strict", secure=secure
    )


def clear_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=secure)
