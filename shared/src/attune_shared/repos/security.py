"""Repositories of identities, API keys and stored secrets."""

from __future__ import annotations

import builtins
from collections.abc import Collection
from datetime import datetime
from typing import Any

from attune_shared.models import ApiKey, Identity, Key, KeyScope
from attune_shared.repos.base import MAX_PAGE, CatalogRepository, Filters, Repository


class IdentityRepository(CatalogRepository[Identity]):
    table = "identity"
    key_column = "login"


#: A key that has not expired.
_LIVE = "(expires_at IS NULL OR expires_at > now())"


class KeyRepository(Repository[Key]):
    """Datastore keys, addressed by ``(scope, owner, name)``; expired keys are invisible to reads."""

    table = "key"

    async def get(self, scope: KeyScope, owner: str, name: str) -> Key | None:
        f = Filters().add("scope = ?", scope).add("owner = ?", owner).add("name = ?", name)
        f.clauses.append(_LIVE)
        rows = await self._select(f, limit=1)
        return rows[0] if rows else None

    async def get_by_names(
        self, keys: Collection[tuple[KeyScope, str, str]]
    ) -> dict[tuple[KeyScope, str, str], Key]:
        """Live keys by ``(scope, owner, name)``, in one query; missing ones are absent."""
        if not keys:
            return {}
        wanted = list(set(keys))
        records = await self.db.fetch(
            f"SELECT {self.select_list} FROM key WHERE (scope, owner, name) IN "
            "(SELECT s, o, n FROM unnest($1::text[], $2::text[], $3::text[]) AS k(s, o, n)) AND " + _LIVE,
            [k[0] for k in wanted],
            [k[1] for k in wanted],
            [k[2] for k in wanted],
        )
        found = self._rows(records)
        return {(k.scope, k.owner, k.name): k for k in found}

    async def put(self, values: dict[str, Any]) -> Key:
        """Create or replace the key ``(scope, owner, name)`` of ``values``."""
        data = self._writable(values)
        names = list(data)
        placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
        updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names if n not in ("scope", "owner", "name"))
        record = await self.db.fetchrow(
            f"INSERT INTO key ({', '.join(names)}) VALUES ({placeholders}) "
            f"ON CONFLICT (scope, owner, name) DO UPDATE SET {updates}, updated = now() "
            f"RETURNING {self.select_list}",
            *data.values(),
        )
        return self._row(record)

    async def delete(self, scope: KeyScope, owner: str, name: str) -> bool:
        status = await self.db.execute(
            f"DELETE FROM key WHERE scope = $1 AND owner = $2 AND name = $3 AND {_LIVE}", scope, owner, name
        )
        return status != "DELETE 0"

    async def list(
        self,
        *,
        scope: KeyScope | None = None,
        owner: str | None = None,
        prefix: str | None = None,
        after: str | None = None,
        limit: int = MAX_PAGE,
    ) -> list[Key]:
        """Live keys by name (then scope and owner), from after the name ``after``."""
        f = Filters().add_if("scope = ?", scope).add_if("owner = ?", owner)
        if prefix:
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            f.add("name LIKE ?", escaped + "%")
        f.add_if("name > ?", after)
        f.clauses.append(_LIVE)
        return await self._select(f, order="name, scope, owner", limit=limit)

    async def purge_expired(self, limit: int = MAX_PAGE) -> int:
        """Delete up to ``limit`` expired keys; how many went."""
        status = await self.db.execute(
            "DELETE FROM key WHERE id IN (SELECT id FROM key WHERE expires_at <= now() LIMIT $1)", limit
        )
        return int(status.split()[-1])

    async def secrets_after(self, after_id: int, limit: int) -> builtins.list[Key]:
        """Encrypted keys with an id above ``after_id``, oldest first (for re-encryption)."""
        f = Filters().add("id > ?", after_id)
        f.clauses.append("encrypted")
        return await self._select(f, order="id", limit=limit)

    async def replace_value(self, id: int, old: str, new: str) -> bool:
        """Swap a ciphertext for its re-encryption, unless the value changed meanwhile."""
        status = await self.db.execute("UPDATE key SET value = $3 WHERE id = $1 AND value = $2", id, old, new)
        return status != "UPDATE 0"


class ApiKeyRepository(Repository[ApiKey]):
    table = "api_key"

    async def insert(
        self,
        *,
        identity: int,
        name: str,
        prefix: str,
        key_hash: str,
        role: str,
        scope: str = "write",
        expires_at: datetime | None = None,
    ) -> ApiKey:
        return await self._insert(
            {
                "identity": identity,
                "name": name,
                "prefix": prefix,
                "key_hash": key_hash,
                "role": role,
                "scope": scope,
                "expires_at": expires_at,
            }
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
