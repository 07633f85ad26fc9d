"""One pydantic model per table."""

from attune_shared.models.action import Action
from attune_shared.models.audit import AuditRecord
from attune_shared.models.base import Row
from attune_shared.models.enforcement import Enforcement
from attune_shared.models.event import Event
from attune_shared.models.execution import Execution
from attune_shared.models.history import HistoryEntry
from attune_shared.models.identity import ApiKey, Identity
from attune_shared.models.inquiry import Inquiry
from attune_shared.models.key import Key, KeyScope
from attune_shared.models.pack import Pack
from attune_shared.models.policy import Policy
from attune_shared.models.policy_admission import PolicyAdmission
from attune_shared.models.rule import Rule
from attune_shared.models.sensor import Sensor
from attune_shared.models.sensor_process import SensorProcess
from attune_shared.models.trigger import Trigger
from attune_shared.models.worker import Worker
from attune_shared.models.workflow import WorkflowDefinition, WorkflowExecution, WorkflowTaskDispatch

__all__ = [
    "Action",
    "ApiKey",
    "AuditRecord",
    "Enforcement",
    "Event",
    "Execution",
    "HistoryEntry",
    "Identity",
    "Inquiry",
    "Key",
    "KeyScope",
    "Pack",
    "Policy",
    "PolicyAdmission",
    "Row",
    "Rule",
    "Sensor",
    "SensorProcess",
    "Trigger",
    "Worker",
    "WorkflowDefinition",
    "WorkflowExecution",
    "WorkflowTaskDispatch",
]
