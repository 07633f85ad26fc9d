"""The ``sensor_process`` table: what the sensor replica running each pack sensor reports about it."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from attune_shared.models import SensorProcess
from attune_shared.repos.base import Repository


class SensorProcessRepository(Repository[SensorProcess]):
    table = "sensor_process"

    async def report(self, sensor_ref: str, **values: Any) -> None:
        """Insert or update the row of one sensor (``status``, ``pid``, ``restarts``, …).

        A sensor deleted meanwhile has no row to report on (the foreign key refuses it): nothing is written.
        """
        data = self._writable({"sensor_ref": sensor_ref, **values})
        names = list(data)
        placeholders = ", ".join(f"${i}" for i in range(1, len(names) + 1))
        updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in names if n != "sensor_ref")
        await self.db.execute(
            f"INSERT INTO {self.table} ({', '.join(names)}) "
            f"SELECT {placeholders} WHERE EXISTS (SELECT 1 FROM sensor WHERE ref = $1) "
            f"ON CONFLICT (sensor_ref) DO UPDATE SET {updates}",
            *data.values(),
        )

    async def of(self, sensor_refs: Collection[str]) -> dict[str, SensorProcess]:
        """The rows of these sensors, by ref (sensors never run have none)."""
        if not sensor_refs:
            return {}
        records = await self.db.fetch(
            f"SELECT {self.select_list} FROM {self.table} WHERE sensor_ref = ANY($1::text[])",
            list(set(sensor_refs)),
        )
        return {r["sensor_ref"]: self._row(r) for r in records}
