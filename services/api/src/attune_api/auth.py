"""Who is calling: API keys, bearer tokens, roles.

- An **API key** (``atn_…``) is sent as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``.
- A **bearer token** (``atk_…``) is obtained from ``POST /auth/token`` in exchange for a key and
  sent as ``Authorization: Bearer <token>``. It is ``atk_<claims>.<signature>``: base64url JSON
  claims ``{v, kid, sub, role, exp}`` signed with HMAC-SHA256 under a key derived from
  ``security.secret_key``. It carries its key's role and stops working when the key is revoked.
- Roles: ``viewer`` < ``operator`` < ``admin``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import SecretStr

from attune_shared.apikeys import authenticate_key, key_by_id, looks_like_key, role_allows
from attune_shared.models import ApiKey, Identity
from attune_shared.models.identity import Role
from attune_shared.secrets import TOKENS_PURPOSE, derive_key
from attune_shared.types import Queryable

TOKEN_PREFIX = "atk_"


@dataclass(frozen=True)
class Principal:
    """The caller of a request."""

    login: str
    role: Role
    identity_id: int | None = None
    api_key_id: int | None = None
    via: Literal["api_key", "token", "anonymous"] = "anonymous"

    def allows(self, required: Role) -> bool:
        return role_allows(self.role, required)


#: Who every request is when authentication is turned off.
ANONYMOUS_ADMIN = Principal(login="anonymous", role="admin")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and checks bearer tokens."""

    def __init__(self, secret_key: SecretStr | str, ttl: int) -> None:
        self._key = derive_key(secret_key, TOKENS_PURPOSE)
        self.ttl = ttl

    def _sign(self, claims_b64: str) -> str:
        return _b64(hmac.new(self._key, claims_b64.encode(), hashlib.sha256).digest())

    def issue(self, api_key: ApiKey, identity: Identity) -> tuple[str, datetime]:
        expires = int(time.time()) + self.ttl
        claims = {"v": 1, "kid": api_key.id, "sub": identity.id, "role": api_key.role, "exp": expires}
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{TOKEN_PREFIX}{body}.{self._sign(body)}", datetime.fromtimestamp(expires, UTC)

    def verify(self, token: str) -> dict[str, Any] | None:
        """The claims of a well-signed, unexpired token; ``None`` otherwise."""
        if not token.startswith(TOKEN_PREFIX) or token.count(".") != 1:
            return None
        body, signature = token[len(TOKEN_PREFIX) :].split(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            claims = json.loads(_unb64(body))
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
            return None
        if claims["exp"] <= time.time() or not isinstance(claims.get("kid"), int):
            return None
        return claims


def principal_of(api_key: ApiKey, identity: Identity, via: Literal["api_key", "token"]) -> Principal:
    return Principal(
        login=identity.login, role=api_key.role, identity_id=identity.id, api_key_id=api_key.id, via=via
    )


async def authenticate(db: Queryable, signer: TokenSigner, credential: str) -> Principal | None:
    """The principal a key or token stands for; ``None`` when it is not valid (any reason)."""
    if looks_like_key(credential):
        found = await authenticate_key(db, credential)
        return None if found is None else principal_of(*found, via="api_key")
    claims = signer.verify(credential)
    if claims is None:
        return None
    found = await key_by_id(db, claims["kid"])
    if found is None or found[1].id != claims.get("sub"):
        return None
    return principal_of(*found, via="token")
