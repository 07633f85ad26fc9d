"""Re-encrypting every stored secret with the current ``security.secret_key``, without downtime.

The procedure (docs/deploy.md, "Rotating the secret key"): give every service the new
``secret_key`` and the old one as ``previous_secret_key`` (they then read both and write with the
new), run :func:`rotate_secrets` (``attune key rotate``), then drop ``previous_secret_key``. Each
value is swapped by a compare-and-set, so a value changed meanwhile is left as its writer made it
(already under the new key).
"""

from __future__ import annotations

from dataclasses import dataclass

from attune_shared.secrets import SecretBox
from attune_shared.types import Queryable


@dataclass(frozen=True)
class SealedColumn:
    """A column holding ciphertexts: ``table.column`` (rows where ``only`` holds, if given)."""

    table: str
    column: str
    only: str = "true"

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


#: Every place a secret is stored.
SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn("key", "value", only="encrypted"),
    SealedColumn("trigger", "webhook_secret"),
    SealedColumn("enforcement", "secrets"),
    SealedColumn("execution", "secrets"),
    SealedColumn("workflow_execution", "secrets"),
    SealedColumn("pack", "config_secrets"),
)


async def rotate_secrets(db: Queryable, box: SecretBox, *, batch: int = 500) -> dict[str, int]:
    """Re-encrypt what the previous secret encrypted; how many values changed, per column.

    :raises SecretDecryptError: a value neither secret decrypts (nothing after it is changed).
    """
    changed: dict[str, int] = {}
    for sealed in SEALED_COLUMNS:
        count, after = 0, 0
        while True:
            rows = await db.fetch(
                f"SELECT id, {sealed.column} AS sealed FROM {sealed.table} "
                f"WHERE id > $1 AND {sealed.column} IS NOT NULL AND {sealed.only} ORDER BY id LIMIT $2",
                after,
                batch,
            )
            if not rows:
                break
            for row in rows:
                fresh = box.rotate(row["sealed"])
                if fresh is not None:
                    status = await db.execute(
                        f"UPDATE {sealed.table} SET {sealed.column} = $3 "
                        f"WHERE id = $1 AND {sealed.column} = $2",
                        row["id"],
                        row["sealed"],
                        fresh,
                    )
                    count += status != "UPDATE 0"
            after = rows[-1]["id"]
        changed[sealed.name] = count
    return changed
