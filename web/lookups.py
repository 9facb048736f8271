"""What the pages ask the core before offering an action (every write goes through
`orchestrator.crud`, which asks the same)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.errors import Conflict, Forbidden, RuleViolation


def allowed(check: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """Whether an `orchestrator.access` or `orchestrator.rules` check passes: pages offer only
    what the core allows."""
    try:
        check(*args, **kwargs)
    except (Forbidden, Conflict, RuleViolation):
        return False
    return True
