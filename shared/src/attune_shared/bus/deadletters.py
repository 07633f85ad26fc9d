"""Reading the dead-letter stream, newest first (``attune dlq list`` and ``GET /deadletters``)."""

from __future__ import annotations

from nats.aio.client import Client as NatsClient
from nats.js.errors import NotFoundError

from attune_shared.bus.messages import DLQ_REASON_HEADER, DeadLetter
from attune_shared.bus.specs import BusSpec
from attune_shared.errors import AttuneError


async def recent_dead_letters(
    nc: NatsClient, spec: BusSpec, *, limit: int, reason: str | None = None, before_seq: int | None = None
) -> list[tuple[int, DeadLetter]]:
    """Up to ``limit`` dead letters as ``(stream sequence, letter)``, newest first: only those of
    ``reason`` when given, only sequences below ``before_seq`` when given (the next page)."""
    jsm = nc.jsm()
    try:
        state = (await jsm.stream_info(spec.dlq_stream)).state
    except NotFoundError as exc:
        raise AttuneError(f"stream {spec.dlq_stream} does not exist; run `attune bus init`") from exc
    found: list[tuple[int, DeadLetter]] = []
    seq = state.last_seq if before_seq is None else min(state.last_seq, before_seq - 1)
    while seq >= max(state.first_seq, 1) and len(found) < limit:
        try:
            raw = await jsm.get_msg(spec.dlq_stream, seq)
        except NotFoundError:
            seq -= 1
            continue
        headers = raw.headers or {}
        if reason is None or headers.get(DLQ_REASON_HEADER) == reason:
            found.append((seq, DeadLetter.model_validate_json(raw.data or b"{}")))
        seq -= 1
    return found
