"""Executions whose executor died: ``running`` -> ``abandoned`` (retried when retries are left),
``canceling`` -> ``cancelled``, and ``scheduled`` ones never started back to ``requested`` for
another replica. Used by the maintenance leader for dead workers, and by a replica for what a
previous process under its name left behind, or what it hands back when it stops."""

from __future__ import annotations

import logging

from attune_executor.context import ExecutorContext
from attune_executor.finishing import Ending
from attune_executor.wakeups import wake
from attune_shared import executions
from attune_shared.bus import gather_bounded
from attune_shared.executions import Transition, cancelled_result
from attune_shared.models import Execution
from attune_shared.statuses import ExecutionStatus

log = logging.getLogger("attune.executor.liveness")

S = ExecutionStatus


class Liveness:
    def __init__(self, context: ExecutorContext) -> None:
        self.context = context

    async def end_orphans(self, orphans: list[Execution], why: str) -> int:
        """End or hand back ``orphans`` (see the module docstring); returns how many changed."""
        endings: list[Ending] = []
        handed_back: list[Execution] = []
        for x in orphans:
            if x.status is S.SCHEDULED:
                handed_back.append(x)
            elif x.status is S.CANCELING:
                endings.append(Ending(x, S.CANCELLED, cancelled_result(f"cancelled; {why}")))
            else:
                endings.append(Ending(x, S.ABANDONED, {"succeeded": False, "abandoned": True, "error": why}))
        ended = await self.context.finisher.end_many(endings)
        for ending, won in zip(endings, ended, strict=True):
            if won:
                log.warning(
                    "execution.orphaned",
                    extra={"execution": ending.execution.id, "status": str(ending.status), "reason": why},
                )
        return sum(ended) + await self.hand_back(handed_back)

    async def hand_back(self, scheduled: list[Execution]) -> int:
        """``scheduled`` executions never started go back to ``requested`` and are woken for any replica."""
        if not scheduled:
            return 0
        ctx = self.context
        back = await executions.transition_many(
            ctx.pool, ctx.bus, [Transition(x, S.REQUESTED, changes={"worker": None}) for x in scheduled]
        )
        woken = [x for x, ok in zip(scheduled, back, strict=True) if ok]
        await gather_bounded(wake(ctx.bus, x) for x in woken)
        return len(woken)
