"""``execution.requested`` -> claimed (``scheduling``) -> policies -> ``scheduled`` -> ``running``.

Each fetched batch is claimed with one statement per step; the consumer only fetches as many
messages as this replica has free run slots, so claimed work always has a slot and the rest stays
in the stream for other replicas. A ``requested`` execution whose ``run_after`` lies ahead (a
retry's backoff) is left for a timer; a ``scheduling`` one is considered only when it waits in a
policy queue (the wake-up of a freed slot). A workflow or an inquiry (``core.ask``) runs no process:
once ``running``, the workflow engine starts it or it goes ``pending``, and its slot is given back
at once. Executions this replica creates itself are created ``running`` while it has free slots
(:meth:`Scheduler.claim`), without the stream or a start statement; the starts of concurrent batches
share one statement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from attune_executor.context import ExecutorContext
from attune_executor.finishing import Ending
from attune_executor.policies import Decision
from attune_executor.running import Run, RunManager
from attune_shared import executions, inquiries
from attune_shared.batching import GroupWriter
from attune_shared.bus import Change, Credit, Credits, Delivery, ExecutionRequested
from attune_shared.executions import Transition
from attune_shared.inquiries import is_inquiry
from attune_shared.models import Action, Execution, Pack, Policy
from attune_shared.outage import is_unavailable
from attune_shared.repos import ExecutionRepository, PolicyAdmissionRepository
from attune_shared.statuses import ExecutionStatus
from attune_shared.workflows.children import is_workflow

log = logging.getLogger("attune.executor.scheduler")

S = ExecutionStatus
#: Most executions started by one statement.
MAX_START_BATCH = 256


@dataclass
class Claim:
    """What :meth:`Scheduler.claim` decided for executions about to be created: which of them are
    created ``running`` on this worker (``running[i]``; those take the columns of ``start``), a run
    slot for each of those, and what their runs need."""

    running: list[bool]
    start: dict[str, Any] = field(default_factory=dict)
    credits: list[Credit] = field(default_factory=list)
    actions: dict[str, Action | None] = field(default_factory=dict)
    packs: dict[str, Pack | None] = field(default_factory=dict)

    def release(self) -> None:
        """Give back the slots not handed to a run."""
        while self.credits:
            self.credits.pop().release()


class Scheduler:
    def __init__(self, context: ExecutorContext, runs: RunManager, slots: Credits, worker_id: int) -> None:
        self.context = context
        self.pool = context.pool
        self.bus = context.bus
        self.catalog = context.catalog
        self.runs = runs
        #: this replica's run slots (the executions consumer's credits)
        self.slots = slots
        self.worker_id = worker_id
        #: the direct starts of concurrent batches, in one statement (a duplicate waits for the next)
        self._starts = GroupWriter(self._start_many, key=lambda k: k[0], max_batch=MAX_START_BATCH)

    async def handle(self, deliveries: list[Delivery[ExecutionRequested]]) -> None:
        refs = {d.body.action_ref for d in deliveries}
        actions = await self.catalog.actions(refs)
        policies = await self.catalog.policies(refs)
        first: dict[int, Delivery[ExecutionRequested]] = {}
        for d in deliveries:
            first.setdefault(d.body.execution_id, d)  # a duplicate in the same batch is just acked
        direct = [d for d in first.values() if _starts_directly(actions.get(d.body.action_ref), policies)]
        started: set[int] = set()
        if direct:
            by_id = {d.body.execution_id: d for d in direct}
            started = await self._start_direct(
                [(d.body.execution_id, d.body.created) for d in direct],
                actions,
                lambda execution_id: by_id[execution_id].hold_credit(),
            )
        rest = [d for d in first.values() if d.body.execution_id not in started]
        if rest:
            await self._handle_each(rest)

    async def claim(self, action_refs: Sequence[str]) -> Claim:
        """Executions of ``action_refs`` this replica is about to create, due now: as many as it has
        free run slots for, of actions without policies, are to be created ``running`` on this
        worker, their slots taken now, so they start without a wake-up's round trip through the
        stream and without a second statement. Create them (with ``claim.start`` where
        ``claim.running``), then :meth:`start_claimed` (or ``claim.release()`` if the creation
        failed). The decision comes before the executions are built: rebuilding each one running
        (``dataclasses.replace``) was 2 % of the executor's CPU in a noop burst."""
        if self.slots.free <= 0 or not action_refs:
            return Claim([False] * len(action_refs))
        refs = set(action_refs)
        actions = await self.catalog.actions(refs)
        policies = await self.catalog.policies(refs)
        free, taken = self.slots.free, 0
        running: list[bool] = []
        for ref in action_refs:
            runs = taken < free and _starts_directly(actions.get(ref), policies)
            taken += runs
            running.append(runs)
        self.slots.take(taken)
        start = {"status": S.RUNNING, "worker": self.worker_id, "started_at": datetime.now(UTC)}
        claim = Claim(running, start, [Credit(self.slots) for _ in range(taken)], actions)
        try:
            # read before the executions are `running`: from then on nothing may fail before their runs start
            claim.packs = await self.catalog.packs({a.pack_ref for a in actions.values() if a is not None})
        except BaseException:
            claim.release()
            raise
        return claim

    def start_claimed(self, claim: Claim, created: Sequence[Execution]) -> None:
        """Start the runs of the executions just created ``running`` here (``created``: the rows of
        ``claim.news`` created now), announcing their creation and start; the slots claimed for
        executions that existed already are given back."""
        runs = [
            (x, claim.credits.pop())
            for x in created
            if x.status is S.RUNNING and x.worker == self.worker_id and claim.credits
        ]
        self._launch(runs, claim.actions, claim.packs, ((None, S.REQUESTED),))
        claim.release()

    async def _start_direct(
        self,
        keys: list[tuple[int, datetime]],
        actions: dict[str, Action | None],
        credit_of: Callable[[int], Credit],
    ) -> set[int]:
        """Actions without policies: claimed, scheduled and started in one round trip; each run
        takes its slot from ``credit_of(execution_id)``."""
        # everything this needs is read before the executions turn `running`: from then on nothing
        # may fail before their runs start
        packs = await self.catalog.packs({a.pack_ref for a in actions.values() if a is not None})
        started = await self._starts.submit_many(keys)
        runs = [(x, credit_of(x.id)) for x in started if x is not None]
        self._launch(runs, actions, packs)
        return {x.id for x, _ in runs}

    def _launch(
        self,
        runs: Sequence[tuple[Execution, Credit]],
        actions: Mapping[str, Action | None],
        packs: Mapping[str, Pack | None],
        before: tuple[Change, ...] = (),
    ) -> None:
        """Run each execution, just turned ``running`` here, with its slot (given back at once for
        a workflow or an inquiry), while their starts (after ``before``) are announced."""
        if not runs:
            return
        # the actions start while their starts are announced (one task for all of them); an end is
        # announced after that
        announced = asyncio.ensure_future(
            executions.announce_many(self.bus, ((x, (*before, *executions.START_STEPS)) for x, _ in runs))
        )
        for x, credit in runs:
            self._run(x, actions, packs, credit, announced)

    def _run(
        self,
        x: Execution,
        actions: Mapping[str, Action | None],
        packs: Mapping[str, Pack | None],
        credit: Credit,
        announced: asyncio.Future[None],
    ) -> None:
        action = actions[x.action_ref]
        assert action is not None
        if _holds_no_process(action):
            credit.release()
            self._start_processless(x, action, announced)
            return
        run = self.runs.prepare(x, action, packs.get(action.pack_ref))
        self.runs.start(run, x, credit, announced=announced)

    async def _start_many(self, keys: list[tuple[int, datetime]]) -> list[Execution | None]:
        running = await ExecutionRepository(self.pool).start_many(keys, self.worker_id, datetime.now(UTC))
        by_id = {x.id: x for x in running}
        return [by_id.get(execution_id) for execution_id, _ in keys]

    def _start_processless(
        self, execution: Execution, action: Action, announced: asyncio.Future[None] | None = None
    ) -> None:
        """A workflow or an inquiry holds no run slot (after its ``running`` is announced): the
        workflow engine starts a workflow, whose tasks are executions of their own; an inquiry goes
        ``pending`` until a person answers it."""
        ctx = self.context

        async def start() -> None:
            if announced is not None:
                await asyncio.gather(announced, return_exceptions=True)
            if is_workflow(action):
                await ctx.workflows.start(execution, action)
                return
            try:
                await inquiries.ask(ctx.pool, ctx.bus, ctx.box, execution, ctx.workflows.child_changed)
            except Exception as exc:
                log.warning(
                    "inquiry.ask_failed",
                    extra={"execution": execution.id, "error": f"{type(exc).__name__}: {exc}"},
                    exc_info=not is_unavailable(exc),
                )
                error = f"the inquiry could not be opened: {type(exc).__name__}: {exc}"
                await ctx.finisher.end(Ending(execution, S.FAILED, {"succeeded": False, "error": error}))

        ctx.workflows.spawn(start())

    async def _handle_each(self, deliveries: list[Delivery[ExecutionRequested]]) -> None:
        """The general path: executions with policies, retries waiting for ``run_after``, wake-ups
        of queued executions, and messages for executions that moved on."""
        rows = await ExecutionRepository(self.pool).get_keys(
            [(d.body.execution_id, d.body.created) for d in deliveries]
        )
        now = datetime.now(UTC)
        claim: list[tuple[Delivery[ExecutionRequested], Execution]] = []
        woken: list[tuple[Delivery[ExecutionRequested], Execution]] = []
        for d in deliveries:
            x = rows.get(d.body.execution_id)
            if x is None:
                continue  # gone (retention): acked
            if x.status is S.REQUESTED:
                if x.run_after is not None and x.run_after > now:
                    self.context.wakeups.at_run_after(x)
                else:
                    claim.append((d, x))
            elif x.status is S.SCHEDULING:
                woken.append((d, x))
        claimed: list[tuple[Delivery[ExecutionRequested], Execution, bool]] = []
        if claim:
            won = await executions.transition_many(
                self.pool, self.bus, [Transition(x, S.SCHEDULING) for _, x in claim]
            )
            claimed += [
                (d, x.model_copy(update={"status": S.SCHEDULING}), False)
                for (d, x), ok in zip(claim, won, strict=True)
                if ok
            ]
        if woken:
            queued = await self._queued([x for _, x in woken])
            claimed += [(d, x, True) for d, x in woken if x.id in queued]
        if claimed:
            await self._schedule(claimed)

    async def _queued(self, candidates: list[Execution]) -> set[int]:
        repo = PolicyAdmissionRepository(self.pool)
        return {x.id for x in candidates if await repo.is_queued(x.id, x.created)}

    async def _schedule(self, claimed: list[tuple[Delivery[ExecutionRequested], Execution, bool]]) -> None:
        refs = {x.action_ref for _, x, _ in claimed}
        actions = await self.catalog.actions(refs)
        policies = await self.catalog.policies(refs)
        admitted: list[tuple[Delivery[ExecutionRequested], Execution, Action]] = []
        ends: list[Ending] = []
        for d, x, from_queue in claimed:
            action = actions.get(x.action_ref)
            if action is None or not action.enabled:
                reason = f"action {x.action_ref} {'does not exist' if action is None else 'is disabled'}"
                ends.append(Ending(x, S.FAILED, {"succeeded": False, "error": reason}))
                continue
            decision = Decision("admit")
            if policies[x.action_ref]:
                decision = await self.context.policies.decide(
                    x, policies[x.action_ref], queued_only=from_queue
                )
            if decision.outcome == "admit":
                admitted.append((d, x, action))
            elif decision.outcome == "cancel":
                ends.append(Ending(x, S.CANCELLED, decision.result()))
            elif decision.outcome == "queue" and not from_queue:
                log.info("execution.queued", extra={"execution": x.id, "reason": decision.reason})
        if ends:
            await self.context.finisher.end_many(ends)
        if admitted:
            await self._start(admitted)

    async def _start(self, admitted: list[tuple[Delivery[ExecutionRequested], Execution, Action]]) -> None:
        packs = await self.catalog.packs({a.pack_ref for _, _, a in admitted})
        scheduled = await executions.transition_many(
            self.pool,
            self.bus,
            [Transition(x, S.SCHEDULED, changes={"worker": self.worker_id}) for _, x, _ in admitted],
        )
        ready: list[tuple[Delivery[ExecutionRequested], Execution, Run | Action]] = []
        for (d, x, action), ok in zip(admitted, scheduled, strict=True):
            if ok:
                x = x.model_copy(update={"status": S.SCHEDULED, "worker": self.worker_id})
                prepared = (
                    action
                    if _holds_no_process(action)
                    else self.runs.prepare(x, action, packs.get(action.pack_ref))
                )
                ready.append((d, x, prepared))
        if not ready:
            return
        started = datetime.now(UTC)
        try:
            running = await executions.transition_many(
                self.pool,
                self.bus,
                [Transition(x, S.RUNNING, changes={"started_at": started}) for _, x, _ in ready],
            )
        except BaseException:
            for _, _, prepared in ready:
                if isinstance(prepared, Run):
                    self.runs.discard(prepared)
            # never started: hand them back (if this fails too, scheduled_timeout ends them)
            await executions.transition_many(
                self.pool,
                self.bus,
                [Transition(x, S.REQUESTED, changes={"worker": None}) for _, x, _ in ready],
            )
            raise
        for (d, x, prepared), ok in zip(ready, running, strict=True):
            x = x.model_copy(update={"status": S.RUNNING, "started_at": started})
            if not isinstance(prepared, Run):
                if ok:
                    self._start_processless(x, prepared)
            elif ok:
                self.runs.start(prepared, x, d.hold_credit())
            else:
                self.runs.discard(prepared)  # cancelled before it started


def _starts_directly(action: Action | None, policies: dict[str, list[Policy]]) -> bool:
    """Whether executions of ``action`` start in one round trip: it exists, is enabled and has no
    policies."""
    return action is not None and action.enabled and not policies[action.ref]


def _holds_no_process(action: Action) -> bool:
    return is_workflow(action) or is_inquiry(action)
