"""The query parameters of a paged list (`limit`, `continue`) and the list's `metadata`:
Kubernetes' names and meanings (orchestrator/crud/paging.py cuts the pages)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from orchestrator.crud import paging
from orchestrator.models import ListMeta

Limit = Annotated[
    int | None,
    Query(
        ge=1,
        le=paging.MAX_LIMIT,
        description=f"At most this many items (1 to {paging.MAX_LIMIT}); when more follow, "
        "`metadata.continue` asks for the next page. Without it, the route's default page size.",
    ),
]
Continue = Annotated[
    str | None,
    Query(
        alias="continue",
        min_length=1,
        max_length=paging.MAX_TOKEN_LENGTH,
        description="The `metadata.continue` of the previous page, with the same selectors: "
        "the next page. A token that was changed, or is sent with other selectors, is refused "
        "(422): start again without it.",
    ),
]


def meta(page: paging.Page[Any]) -> ListMeta:
    return ListMeta(continue_=page.continue_token)
