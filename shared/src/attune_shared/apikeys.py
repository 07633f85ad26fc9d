"""API keys: random, shown once, stored as SHA-256. Used by the API and by ``attune apikey create``.

A key looks like ``atn_<43 URL-safe characters>``; its first 12 characters (``prefix``) are stored
in clear so people can tell keys apart in listings.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from attune_shared.models import ApiKey, Identity
from attune_shared.models.identity import ApiKeyScope, Role
from attune_shared.repos import ApiKeyRepository, IdentityRepository
from attune_shared.types import Queryable

KEY_PREFIX = "atn_"
#: Characters of a key kept in clear in ``api_key.prefix``.
SHOWN_PREFIX = 12
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")
SCOPES: tuple[ApiKeyScope, ...] = ("read", "write")


def generate_key() -> str:
    """A new random API key (256 bits of entropy)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The SHA-256 (hex) stored for a key."""
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(value: str) -> bool:
    return value.startswith(KEY_PREFIX)


def role_allows(role: Role, required: Role) -> bool:
    """Whether ``role`` includes ``required`` (viewer < operator < admin)."""
    return ROLES.index(role) >= ROLES.index(required)


@dataclass(frozen=True)
class CreatedKey:
    """A key just created: ``key`` is the only time the secret is available."""

    key: str
    api_key: ApiKey
    identity: Identity


async def create_api_key(
    db: Queryable,
    *,
    role: Role,
    login: str,
    name: str = "",
    scope: ApiKeyScope = "write",
    expires_at: datetime | None = None,
) -> CreatedKey:
    """Create an API key with ``role`` for identity ``login`` (created when missing); a ``read``
    ``scope`` key may only read, a key with ``expires_at`` stops working then."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise ValueError(f"expires_at {expires_at.isoformat()} is not in the future")
    identity, _ = await IdentityRepository(db).upsert({"login": login})
    key = generate_key()
    row = await ApiKeyRepository(db).insert(
        identity=identity.id,
        name=name,
        prefix=key[:SHOWN_PREFIX],
        key_hash=hash_key(key),
        role=role,
        scope=scope,
        expires_at=expires_at,
    )
    return CreatedKey(key, row, identity)


async def authenticate_key(db: Queryable, key: str) -> tuple[ApiKey, Identity] | None:
    """The key row and its identity when ``key`` is valid (known, not revoked or expired, identity not
    frozen); ``None`` otherwise. Records the use (at most once a minute)."""
    repo = ApiKeyRepository(db)
    row = await repo.get_by_hash(hash_key(key))
    return await _usable(db, row, touch=True)


async def key_by_id(db: Queryable, key_id: int) -> tuple[ApiKey, Identity] | None:
    """Like :func:`authenticate_key` for a key known by id (bearer tokens name their key)."""
    rows = await ApiKeyRepository(db).get_many([key_id])
    return await _usable(db, rows.get(key_id), touch=False)


async def _usable(db: Queryable, row: ApiKey | None, *, touch: bool) -> tuple[ApiKey, Identity] | None:
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
        return None
    identity = await IdentityRepository(db).get(row.identity)
    if identity is None or identity.frozen:
        return None
    if touch:
        await ApiKeyRepository(db).touch(row.id)
    return row, identity
