"""Repository bases: the column list is the model's fields, written once; SQL names every column."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast, get_args, get_origin

from attune_shared.models.base import Row
from attune_shared.types import Queryable

RowT = TypeVar("RowT", bound=Row)

#: Columns the database fills in; never written by repositories.
GENERATED_COLUMNS = frozenset({"id", "created", "updated"})

MAX_PAGE = 1000

UpsertOutcome = Literal["created", "updated", "unchanged"]


class Filters:
    """Builds a WHERE clause with numbered parameters: ``f.add("status = ?", "running")``."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.args: list[Any] = []

    def add(self, clause: str, value: Any) -> Filters:
        self.args.append(value)
        self.clauses.append(clause.replace("?", f"${len(self.args)}"))
        return self

    def add_if(self, clause: str, value: Any) -> Filters:
        """Add the clause only when ``value`` is not ``None``."""
        return self if value is None else self.add(clause, value)

    def ref_pattern(self, column: str, pattern: str | None) -> Filters:
        """``demo.*`` matches every ref of pack ``demo``; without ``*`` the match is exact."""
        if pattern is None:
            return self
        if "*" not in pattern:
            return self.add(f"{column} = ?", pattern)
        escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "%")
        return self.add(f"{column} LIKE ?", escaped)

    def param(self, value: Any) -> str:
        """Register a parameter used outside WHERE (e.g. LIMIT) and return its placeholder."""
        self.args.append(value)
        return f"${len(self.args)}"

    @property
    def where(self) -> str:
        return f" WHERE {' AND '.join(self.clauses)}" if self.clauses else ""


class Repository(Generic[RowT]):
    """Explicit-column access to one table.

    A subclass names its ``table`` and its model as the type argument
    (``class ActionRepository(CatalogRepository[Action])``); ``columns`` is derived from the model.
    """

    table: ClassVar[str]
    model: ClassVar[type[Row]]
    columns: ClassVar[tuple[str, ...]]
    select_list: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            args = get_args(base)
            origin = get_origin(base)
            if args and isinstance(args[0], type) and issubclass(args[0], Row) and origin is not None:
                cls.model = args[0]
                cls.columns = tuple(args[0].model_fields)
                cls.select_list = ", ".join(cls.columns)
                break

    def __init__(self, db: Queryable) -> None:
        self.db = db

    # -- rows ---------------------------------------------------------------------------------
    def _row(self, record: Mapping[str, Any]) -> RowT:
        return cast(RowT, self.model.model_validate(dict(record)))

    def _rows(self, records: Iterable[Mapping[str, Any]]) -> list[RowT]:
        return [self._row(r) for r in records]

    def _writable(self, values: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(values) - set(self.columns)
        if unknown:
            raise ValueError(f"{self.table}: no such column(s) {sorted(unknown)}")
        generated = set(values) & GENERATED_COLUMNS
        if generated:
            raise ValueError(f"{self.table}: {sorted(generated)} are set by the database")
        return dict(values)

    # -- generic statements -------------------------------------------------------------------
    async def _select(
        self, filters: Filters, *, order: str = "id DESC", limit: int | None = None
    ) -> list[RowT]:
        sql = f"SELECT {self.select_list} FROM {self.table}{filters.where} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {filters.param(min(limit, MAX_PAGE))}"
        return self._rows(await self.db.fetch(sql, *filters.args))

    async def _insert(self, values: Mapping[str, Any]) -> RowT:
        data = self._writable(values)
        names = list(data)
        placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
        record = await self.db.fetchrow(
            f"INSERT INTO {self.table} ({', '.join(names)}) VALUES ({placeholders}) RETURNING {self.select_list}",
            *data.values(),
        )
        return self._row(record)

    async def get_many(self, ids: Collection[int]) -> dict[int, RowT]:
        """Rows by id, in one query; missing ids are simply absent."""
        if not ids:
            return {}
        records = await self.db.fetch(
            f"SELECT {self.select_list} FROM {self.table} WHERE id = ANY($1::bigint[])", list(set(ids))
        )
        return {r["id"]: self._row(r) for r in records}


class CatalogRepository(Repository[RowT]):
    """Ordinary tables keyed by ``id`` and addressed by a unique ``ref``."""

    #: Columns compared by :meth:`upsert` to tell "updated" from "unchanged".
    key_column: ClassVar[str] = "ref"

    async def get(self, id: int) -> RowT | None:
        record = await self.db.fetchrow(f"SELECT {self.select_list} FROM {self.table} WHERE id = $1", id)
        return None if record is None else self._row(record)

    async def get_by_ref(self, ref: str) -> RowT | None:
        record = await self.db.fetchrow(
            f"SELECT {self.select_list} FROM {self.table} WHERE {self.key_column} = $1", ref
        )
        return None if record is None else self._row(record)

    async def get_by_refs(self, refs: Collection[str]) -> dict[str, RowT]:
        if not refs:
            return {}
        records = await self.db.fetch(
            f"SELECT {self.select_list} FROM {self.table} WHERE {self.key_column} = ANY($1::text[])",
            list(set(refs)),
        )
        return {r[self.key_column]: self._row(r) for r in records}

    async def list(
        self,
        *,
        pack: str | None = None,
        enabled: bool | None = None,
        ref: str | None = None,
        limit: int = MAX_PAGE,
        before_id: int | None = None,
    ) -> list[RowT]:
        """List rows, newest first; ``ref`` may be a wildcard such as ``demo.*``."""
        f = Filters()
        if "pack_ref" in self.columns:
            f.add_if("pack_ref = ?", pack)
        if "enabled" in self.columns:
            f.add_if("enabled = ?", enabled)
        f.ref_pattern(self.key_column, ref)
        f.add_if("id < ?", before_id)
        return await self._select(f, limit=limit)

    async def insert(self, values: Mapping[str, Any]) -> RowT:
        return await self._insert(values)

    async def upsert(self, values: Mapping[str, Any]) -> tuple[RowT, UpsertOutcome]:
        """Insert, or update the row with the same ref when any column differs."""
        data = self._writable(values)
        names = list(data)
        placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
        updatable = [n for n in names if n != self.key_column]
        if updatable:
            assignments = ", ".join(f"{n} = EXCLUDED.{n}" for n in updatable)
            current = ", ".join(f"{self.table}.{n}" for n in updatable)
            incoming = ", ".join(f"EXCLUDED.{n}" for n in updatable)
            conflict = f"DO UPDATE SET {assignments} WHERE ({current}) IS DISTINCT FROM ({incoming})"
        else:
            conflict = "DO NOTHING"
        record = await self.db.fetchrow(
            f"INSERT INTO {self.table} ({', '.join(names)}) VALUES ({placeholders}) "
            f"ON CONFLICT ({self.key_column}) {conflict} "
            f"RETURNING {self.select_list}, (xmax = 0) AS _inserted",
            *data.values(),
        )
        if record is None:
            existing = await self.get_by_ref(data[self.key_column])
            assert existing is not None
            return existing, "unchanged"
        row = {k: v for k, v in dict(record).items() if k != "_inserted"}
        return self._row(row), "created" if record["_inserted"] else "updated"

    async def update(self, ref: str, values: Mapping[str, Any]) -> RowT | None:
        data = self._writable(values)
        if not data:
            return await self.get_by_ref(ref)
        assignments = ", ".join(f"{n} = ${i}" for i, n in enumerate(data, start=2))
        record = await self.db.fetchrow(
            f"UPDATE {self.table} SET {assignments} WHERE {self.key_column} = $1 RETURNING {self.select_list}",
            ref,
            *data.values(),
        )
        return None if record is None else self._row(record)

    async def delete_by_ref(self, ref: str) -> bool:
        status = await self.db.execute(f"DELETE FROM {self.table} WHERE {self.key_column} = $1", ref)
        return status != "DELETE 0"


class TimeSeriesRepository(Repository[RowT]):
    """Hypertable-shaped tables keyed by ``(id, created)``."""

    async def get(self, id: int, created: datetime | None = None) -> RowT | None:
        """One row; pass ``created`` (messages carry it) so the lookup touches one chunk."""
        if created is None:
            record = await self.db.fetchrow(f"SELECT {self.select_list} FROM {self.table} WHERE id = $1", id)
        else:
            record = await self.db.fetchrow(
                f"SELECT {self.select_list} FROM {self.table} WHERE id = $1 AND created = $2", id, created
            )
        return None if record is None else self._row(record)

    async def get_keys(self, keys: Sequence[tuple[int, datetime]]) -> dict[int, RowT]:
        """Rows by ``(id, created)`` pairs in one query."""
        if not keys:
            return {}
        records = await self.db.fetch(
            f"SELECT {self.select_list} FROM {self.table} "
            "WHERE (id, created) IN (SELECT k.id, k.created FROM unnest($1::bigint[], $2::timestamptz[]) AS k(id, created))",
            [k[0] for k in keys],
            [k[1] for k in keys],
        )
        return {r["id"]: self._row(r) for r in records}
