"""Repositories of identities, API keys and stored secrets."""

from __future__ import annotations

from attune_shared.models import ApiKey, Identity, Key
from attune_shared.repos.base import CatalogRepository, Filters, Repository


class IdentityRepository(CatalogRepository[Identity]):
    table = "identity"
    key_column = "login"


class KeyRepository(CatalogRepository[Key]):
    table = "key"


class ApiKeyRepository(Repository[ApiKey]):
    table = "api_key"

    async def insert(self, *, identity: int, name: str, prefix: str, key_hash: str, role: str) -> ApiKey:
        return await self._insert(
            {"identity": identity, "name": name, "prefix": prefix, "key_hash": key_hash, "role": role}
        )

    async def get_by_hash(self, key_hash: str) -> ApiKey | None:
        rows = await self._select(Filters().add("key_hash = ?", key_hash), limit=1)
        return rows[0] if rows else None

    async def touch(self, id: int) -> None:
        """Record a use (at most once a minute per key, to keep reads cheap)."""
        await self.db.execute(
            "UPDATE api_key SET last_used_at = now() WHERE id = $1 "
            "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
            id,
        )

    async def revoke(self, id: int) -> bool:
        status = await self.db.execute(
            "UPDATE api_key SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", id
        )
        return status != "UPDATE 0"

    async def list(self, *, identity: int | None = None, limit: int = 1000) -> list[ApiKey]:
        return await self._select(Filters().add_if("identity = ?", identity), limit=limit)
