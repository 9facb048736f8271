"""The pages, one module per journey; `router` holds them all."""

from fastapi import APIRouter

from web.routes import (
    account,
    catalogue,
    challenge_forms,
    challenge_writing,
    challenges,
    evaluations,
    feedback,
    notifications,
    platform,
    sandboxes,
    sso,
    start,
    supplier,
    teams,
    trials,
)

MODULES = (
    account,
    sso,
    catalogue,
    start,
    trials,
    teams,
    sandboxes,
    evaluations,
    supplier,
    platform,
    feedback,
    notifications,
    # Writing a challenge (/challenges/new/...) before /challenges/{id}, which would take "new".
    challenge_writing,
    challenges,
    challenge_forms,
)
router = APIRouter(include_in_schema=False)
for module in MODULES:
    router.include_router(module.router)

__all__ = ["MODULES", "router"]
