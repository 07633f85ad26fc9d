"""Explicit-column repositories, one per table."""

from attune_shared.repos.audit import AuditRepository, NewAuditRecord
from attune_shared.repos.base import CatalogRepository, Filters, Repository, TimeSeriesRepository
from attune_shared.repos.catalog import (
    ActionRepository,
    PackRepository,
    PolicyRepository,
    RuleRepository,
    SensorRepository,
    TriggerRepository,
)
from attune_shared.repos.enforcement import EnforcementRepository, NewEnforcement
from attune_shared.repos.event import EventRepository, NewEvent, StoredEvent
from attune_shared.repos.execution import Enforced, ExecutionRepository, NewExecution, StatusChange
from attune_shared.repos.history import ExecutionHistoryRepository, WorkerHistoryRepository
from attune_shared.repos.inquiry import InquiryRepository
from attune_shared.repos.policy_admission import PolicyAdmissionRepository, QueueHead
from attune_shared.repos.security import ApiKeyRepository, IdentityRepository, KeyRepository
from attune_shared.repos.sensor_process import SensorProcessRepository
from attune_shared.repos.worker import WorkerRepository
from attune_shared.repos.workflow import (
    WorkflowDefinitionRepository,
    WorkflowExecutionRepository,
    WorkflowTaskDispatchRepository,
)

#: Every repository, for schema checks (each maps one table).
ALL_REPOSITORIES: tuple[type[Repository], ...] = (  # type: ignore[type-arg]
    PackRepository,
    TriggerRepository,
    SensorRepository,
    SensorProcessRepository,
    ActionRepository,
    RuleRepository,
    PolicyRepository,
    PolicyAdmissionRepository,
    WorkerRepository,
    KeyRepository,
    IdentityRepository,
    ApiKeyRepository,
    AuditRepository,
    EventRepository,
    EnforcementRepository,
    ExecutionRepository,
    ExecutionHistoryRepository,
    WorkerHistoryRepository,
    WorkflowDefinitionRepository,
    WorkflowExecutionRepository,
    WorkflowTaskDispatchRepository,
    InquiryRepository,
)

__all__ = [
    "ALL_REPOSITORIES",
    "ActionRepository",
    "ApiKeyRepository",
    "AuditRepository",
    "CatalogRepository",
    "Enforced",
    "EnforcementRepository",
    "EventRepository",
    "ExecutionHistoryRepository",
    "ExecutionRepository",
    "Filters",
    "IdentityRepository",
    "InquiryRepository",
    "StoredEvent",
    "KeyRepository",
    "NewEnforcement",
    "NewAuditRecord",
    "NewEvent",
    "NewExecution",
    "PackRepository",
    "PolicyAdmissionRepository",
    "PolicyRepository",
    "QueueHead",
    "Repository",
    "RuleRepository",
    "SensorProcessRepository",
    "SensorRepository",
    "StatusChange",
    "TimeSeriesRepository",
    "TriggerRepository",
    "WorkerHistoryRepository",
    "WorkerRepository",
    "WorkflowDefinitionRepository",
    "WorkflowExecutionRepository",
    "WorkflowTaskDispatchRepository",
]
