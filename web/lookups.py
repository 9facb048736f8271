"""Read-only look-ups the pages share (every write goes through `orchestrator.crud`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlmodel import Session, col, select

from orchestrator.errors import Forbidden
from orchestrator.models import Trial, User


def owner_names(session: Session, trials: Iterable[Trial]) -> dict[int, str]:
    ids = {t.owner_id for t in trials}
    if not ids:
        return {}
    return {u.id: u.name for u in session.exec(select(User).where(col(User.id).in_(ids))) if u.id is not None}


def allowed(check: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Whether an `orchestrator.access` check passes: pages offer only what the core allows."""
    try:
        check(*args, **kwargs)
    except Forbidden:
        return False
    return True
