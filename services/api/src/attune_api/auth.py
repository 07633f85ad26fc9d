"""Who is calling: API keys, bearer tokens, roles.

- An **API key** (``atn_…``) is sent as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``.
- A **bearer token** (``atk_…``) is obtained from ``POST /auth/token`` in exchange for a key and
  sent as ``Authorization: Bearer <token>``. It is ``atk_`` + a JWT (HS256, PyJWT) with the claims
  ``{sub: identity id, key: API key id, role, iat, exp}``, signed with a key derived from
  ``security.secret_key``; its ``kid`` header names that key, so tokens signed with
  ``security.previous_secret_key`` are still accepted through one rotation. It carries its key's
  role and stops working when the key is revoked.
- Roles: ``viewer`` < ``operator`` < ``admin``. A key's scope (``write``, or ``read``: refused every
  mutating call whatever its role) and its expiry hold for its tokens too.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

import jwt
from pydantic import SecretStr

from attune_shared.apikeys import authenticate_key, hash_key, key_by_id, looks_like_key, role_allows
from attune_shared.models import ApiKey, Identity
from attune_shared.models.identity import ApiKeyScope, Role
from attune_shared.repos import ApiKeyRepository
from attune_shared.secrets import TOKENS_PURPOSE, derive_key
from attune_shared.types import Queryable

TOKEN_PREFIX = "atk_"
_ALGORITHM: Final = "HS256"


@dataclass(frozen=True)
class Principal:
    """The caller of a request."""

    login: str
    role: Role
    identity_id: int | None = None
    api_key_id: int | None = None
    via: Literal["api_key", "token", "anonymous"] = "anonymous"
    #: a ``read`` key's caller is refused every mutating call, whatever its role
    scope: ApiKeyScope = "write"

    def allows(self, required: Role) -> bool:
        return role_allows(self.role, required)


#: Who every request is when authentication is turned off.
ANONYMOUS_ADMIN = Principal(login="anonymous", role="admin")


class TokenSigner:
    """Issues bearer tokens with the current secret and checks them against it and the previous one."""

    def __init__(
        self, secret_key: SecretStr | str, ttl: int, previous: SecretStr | str | None = None
    ) -> None:
        current = derive_key(secret_key, TOKENS_PURPOSE)
        self._kid = _key_id(current)
        self._keys = {self._kid: current}
        if previous is not None:
            older = derive_key(previous, TOKENS_PURPOSE)
            self._keys.setdefault(_key_id(older), older)
        self.ttl = ttl

    def issue(self, api_key: ApiKey, identity: Identity) -> tuple[str, datetime]:
        now = int(time.time())
        expires = now + self.ttl
        claims = {
            "sub": str(identity.id),
            "key": api_key.id,
            "role": api_key.role,
            "iat": now,
            "exp": expires,
        }
        token = jwt.encode(claims, self._keys[self._kid], algorithm=_ALGORITHM, headers={"kid": self._kid})
        return TOKEN_PREFIX + token, datetime.fromtimestamp(expires, UTC)

    def verify(self, token: str, *, expired_too: bool = False) -> dict[str, Any] | None:
        """The claims of a token signed with a known key and unexpired (or expired, with
        ``expired_too``); ``None`` otherwise."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        token = token[len(TOKEN_PREFIX) :]
        try:
            kid = jwt.get_unverified_header(token).get("kid")  # PyJWT refuses a kid that is not a str
            key = None if kid is None else self._keys.get(kid)
            if key is None:
                return None
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[_ALGORITHM],
                options={"require": ["sub", "iat", "exp"], "verify_exp": not expired_too},
            )
        except jwt.InvalidTokenError:
            return None
        if not isinstance(claims.get("key"), int) or not str(claims["sub"]).isdigit():
            return None
        return claims


def _key_id(key: bytes) -> str:
    """A name for a signing key that reveals nothing of it (a prefix of its SHA-256)."""
    return hashlib.sha256(key).hexdigest()[:16]


def principal_of(api_key: ApiKey, identity: Identity, via: Literal["api_key", "token"]) -> Principal:
    return Principal(
        login=identity.login,
        role=api_key.role,
        identity_id=identity.id,
        api_key_id=api_key.id,
        via=via,
        scope=api_key.scope,
    )


async def authenticate(db: Queryable, signer: TokenSigner, credential: str) -> Principal | None:
    """The principal a key or token stands for; ``None`` when it is not valid (any reason)."""
    if looks_like_key(credential):
        found = await authenticate_key(db, credential)
        return None if found is None else principal_of(*found, via="api_key")
    claims = signer.verify(credential)
    if claims is None:
        return None
    found = await key_by_id(db, claims["key"])
    if found is None or str(found[1].id) != claims["sub"]:
        return None
    return principal_of(*found, via="token")


async def is_guess(db: Queryable, signer: TokenSigner, credential: str) -> bool:
    """Whether a credential that failed was never ours: no key has its hash, or a token's signature
    is not ours. An expired or revoked key, or a token of ours that expired, is no guess (a browser
    with a stale session cookie must not lock its address out)."""
    if looks_like_key(credential):
        return await ApiKeyRepository(db).get_by_hash(hash_key(credential)) is None
    return signer.verify(credential, expired_too=True) is None
