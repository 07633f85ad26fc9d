"""One router per resource, assembled here."""

from fastapi import APIRouter

from attune_api.routes import (
    actions,
    analytics,
    audit,
    auth,
    deadletters,
    enforcements,
    events,
    executions,
    health,
    inquiries,
    keys,
    packs,
    policies,
    rules,
    sensors,
    triggers,
    webhooks,
    workers,
)

health_router = health.router
auth_router = auth.router

api_router = APIRouter()
for module in (
    packs,
    triggers,
    sensors,
    actions,
    rules,
    policies,
    keys,
    events,
    enforcements,
    executions,
    inquiries,
    workers,
    deadletters,
    analytics,
    webhooks,
    audit,
):
    api_router.include_router(module.router)

__all__ = ["api_router", "auth_router", "health_router"]
