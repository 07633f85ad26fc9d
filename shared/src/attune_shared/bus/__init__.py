"""The bus contract (design.md §3): subjects, streams, message models, provisioning, publishing,
batch consumption, and the settling of messages (ack / nak / dead letter)."""

from attune_shared.bus.broker import Bus, bus_spec, gather_bounded, make_broker, stop_broker
from attune_shared.bus.consumer import BatchConsumer, Credit, Credits, Delivery, model_parser
from attune_shared.bus.messages import (
    Change,
    DeadLetter,
    EnforcementCreated,
    EventCreated,
    ExecutionRequested,
    ExecutionStatusChanged,
    RuleChanged,
)
from attune_shared.bus.provision import ProvisionError, provision
from attune_shared.bus.settle import Settler
from attune_shared.bus.specs import BusSpec
from attune_shared.bus.subjects import Subjects

__all__ = [
    "BatchConsumer",
    "Bus",
    "BusSpec",
    "Credit",
    "Credits",
    "DeadLetter",
    "Delivery",
    "EnforcementCreated",
    "EventCreated",
    "ExecutionRequested",
    "Change",
    "ExecutionStatusChanged",
    "ProvisionError",
    "RuleChanged",
    "Settler",
    "Subjects",
    "bus_spec",
    "gather_bounded",
    "make_broker",
    "model_parser",
    "provision",
    "stop_broker",
]
