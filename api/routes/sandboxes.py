"""Opening a trial's sandbox from a script, and its share links.

A sandbox answers on an origin of its own (api/sandbox_origin.py). `POST .../open` gives a
script a one-time address there (the same hand-over as the den's open page: a grant of about a
minute, for the token's person); share links open the sandbox to people outside the den through
the den page `/share/{secret}`. The rules are crud.sandbox_access's.

The old `/sandboxes/{trial}/{component}/...` paths of the den's own origin no longer serve any
workload: they send the browser to the den's open page for that sandbox.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse

from api import errors, presenters, schemas
from api.deps import (
    ActorDep,
    BaseUrl,
    Now,
    Sandboxes,
    SessionDep,
    StrictQuery,
    TrialId,
)
from orchestrator import crud
from orchestrator.crud.sandbox_access import GRANT_TTL
from orchestrator.sandbox_hosts import sandbox_path

router = APIRouter(
    prefix="/api/v1/trials", tags=["sandboxes"], responses=errors.RESPONSES, dependencies=[StrictQuery]
)
#: The den's old sandbox paths: a redirect to the open page, never the workload.
legacy = APIRouter(prefix="/sandboxes", include_in_schema=False)
LinkId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The share link's id.")]
ComponentName = Annotated[str, Path(pattern=r"^[a-z0-9-]{1,60}$")]


@router.post("/{trial_id}/open", status_code=201)
def open_sandbox(
    trial_id: TrialId,
    body: schemas.OpenRequest,
    request: Request,
    session: SessionDep,
    actor: ActorDep,
    now: Now,
    sandboxes: Sandboxes,
) -> schemas.OpenAddress:
    """A one-time address that opens the sandbox in a browser: on the sandbox's own origin, it
    works once, within a minute, for the token's person (the trial's owner, its department
    when shared, or a platform engineer). `denctl open` prints it."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    component = body.component or crud.only_component(trial)
    grant = crud.hand_over(session, actor=actor, trial=trial, component=component, now=now)
    session.commit()
    return schemas.OpenAddress(
        component=component,
        expires_at=now + GRANT_TTL,
        url=sandboxes.enter_url(trial.id, component, grant=grant, next_path="/"),
    )


@router.post("/{trial_id}/share-links", status_code=201)
def create_share_link(
    trial_id: TrialId,
    body: schemas.ShareLinkCreate,
    session: SessionDep,
    actor: ActorDep,
    now: Now,
    base_url: BaseUrl,
) -> schemas.ShareLinkCreated:
    """A link that opens the sandbox without signing in (the trial's owner or a platform
    engineer makes it). `url` is shown this once; only a hash of it is kept. It lasts
    `expires_in_seconds` (60 s to 7 days) unless revoked first."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    secret, link = crud.create_share_link(
        session, actor=actor, trial=trial, now=now, expires_in_seconds=body.expires_in_seconds, note=body.note
    )
    session.commit()
    url = f"{base_url.rstrip('/')}/share/{secret}"
    return schemas.ShareLinkCreated(
        url=url, **presenters.share_link(link, created_by=actor.name).model_dump()
    )


@router.get("/{trial_id}/share-links")
def list_share_links(trial_id: TrialId, session: SessionDep, actor: ActorDep) -> schemas.ShareLinkList:
    """The trial's share links, oldest first, without their secrets."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    rows = crud.list_share_links(session, actor=actor, trial=trial)
    return presenters.share_links(session, rows)


@router.delete("/{trial_id}/share-links/{link_id}")
def revoke_share_link(
    trial_id: TrialId, link_id: LinkId, session: SessionDep, actor: ActorDep, now: Now
) -> schemas.ShareLinkPublic:
    """Revoke a share link at once: the sandbox stops answering whoever opened it with the
    link, at their next request. Repeating it is harmless."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    link = crud.revoke_share_link(session, actor=actor, trial=trial, link_id=link_id, now=now)
    session.commit()
    return presenters.share_links(session, [link]).items[0]


@legacy.get("/{trial_id}/{component}")
@legacy.get("/{trial_id}/{component}/{path:path}")
def moved(request: Request, trial_id: TrialId, component: ComponentName, path: str = "") -> RedirectResponse:
    """Sandboxes moved to origins of their own: the den's open page hands the visitor over."""
    query = f"?{request.url.query}" if request.url.query else ""
    next_path = sandbox_path(f"/{path}{query}")
    return RedirectResponse(f"/trials/{trial_id}/open/{component}?next={quote(next_path)}", status_code=303)
