"""The API's conditional answers: `orchestrator.conditional` decides (the tag, 304 or 200),
this turns its decision into a response. Used by the reads that clients poll."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel

from orchestrator import conditional

#: The 304 in a route's OpenAPI entry (`responses=conditional.RESPONSES`).
RESPONSES: dict[int | str, dict[str, Any]] = {
    304: {
        "description": "Not Modified: the answer has not changed since the one whose `ETag` was "
        "sent as `If-None-Match`. No body; the same `ETag`.",
    }
}


def respond(request: Request, body: BaseModel) -> Response:
    """`body` as JSON with its `ETag`, or 304 when `If-None-Match` names that tag."""
    decided = conditional.answer(
        body.model_dump_json(by_alias=True).encode(), if_none_match=request.headers.get("if-none-match")
    )
    if decided.status == 304:
        return Response(status_code=304, headers=decided.headers)
    return Response(decided.body, headers=decided.headers, media_type="application/json")
