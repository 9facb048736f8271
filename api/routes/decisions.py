"""Approvals: an approver (or platform engineer) decides on a request beyond self-service,
either a whole trial waiting in PendingApproval or an extension waiting on a running trial."""

from __future__ import annotations

from fastapi import APIRouter

from api import errors, schemas
from api.deps import ActorDep, Now, RateCardDep, Sandboxes, SessionDep, SettingsDep, StrictQuery, TrialId
from api.routes.trials import committed
from orchestrator import crud

router = APIRouter(
    prefix="/api/v1/trials", tags=["approvals"], responses=errors.RESPONSES, dependencies=[StrictQuery]
)


@router.post("/{trial_id}/approve")
def approve(
    trial_id: TrialId,
    session: SessionDep,
    actor: ActorDep,
    now: Now,
    sandboxes: Sandboxes,
    settings: SettingsDep,
    rate_card: RateCardDep,
    body: schemas.ApproveRequest | None = None,
) -> schemas.TrialPublic:
    """Approve what waits on the trial, optionally with a `note` for the requester (kept in
    the audit log and the trial's timeline). A pending trial's clock starts now, and the
    reconciler moves it to Requested (reason `Approved`); a pending extension applies at once."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    crud.approve(
        session, actor=actor, trial=trial, note=body.note if body else "", settings=settings, now=now
    )
    return committed(session, trial, now=now, sandboxes=sandboxes, rate_card=rate_card)


@router.post("/{trial_id}/reject")
def reject(
    trial_id: TrialId,
    body: schemas.RejectRequest,
    session: SessionDep,
    actor: ActorDep,
    now: Now,
    sandboxes: Sandboxes,
    settings: SettingsDep,
    rate_card: RateCardDep,
) -> schemas.TrialPublic:
    """Reject what waits on the trial, saying why. A pending trial ends Stopped (reason
    `Rejected`); a pending extension is dropped and the trial runs on as it was."""
    trial = crud.get_trial(session, user=actor.user, trial_id=trial_id)
    crud.reject(session, actor=actor, trial=trial, reason=body.reason, settings=settings, now=now)
    return committed(session, trial, now=now, sandboxes=sandboxes, rate_card=rate_card)
