from attune_shared.bus.docs import asyncapi_document
from attune_shared.settings import NatsSettings


def test_asyncapi_document_covers_the_contract() -> None:
    doc = asyncapi_document(NatsSettings(prefix="attune"))
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    for subject in (
        "attune.trigger.>",
        "attune.event.created",
        "attune.event.unheard",
        "attune.enforcement.created",
        "attune.enforcement.processed",
        "attune.execution.requested",
        "attune.execution.status.{action_ref}",
        "attune.rule.changed",
        "attune.dlq.{reason}",
    ):
        assert subject in addresses, subject
    schemas = doc["components"]["schemas"]
    for model in (
        "EventCreated",
        "EnforcementCreated",
        "ExecutionRequested",
        "ExecutionStatusChanged",
        "RuleChanged",
        "DeadLetter",
    ):
        assert any(name.startswith(model) or model in name for name in schemas), model
    event = next(v for k, v in schemas.items() if "EventCreated" in k)
    assert {"v", "event_id", "created", "trigger_ref"} <= set(event["properties"])
