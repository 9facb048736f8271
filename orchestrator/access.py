"""Who may do what: the roles and every authorisation rule, as pure predicates over rows.

One table of rules for the API, the web pages and the CLI alike (the authorisation matrix test
in tests/service/test_authorisation.py calls every route as every role against it). A trial
the caller may not see is reported as not found, never as forbidden, so that ids do not leak:
who sees which trials is one query, `crud.visible_trials_query` (the owner, their department
when shared, the trial's members, approvers and platform engineers).

A team trial has members besides its owner (`TrialMember`, crud/members.py), each with a
`MemberRole`: a rule that depends on it takes the caller's role on the trial as `member` (None:
not a member), looked up by the caller, so that the rules stay pure. Members see the trial and
open its sandbox; collaborators also extend it; assessors record their own scores. Only the
owner (and platform engineers) manage the members, and only the owner ends the trial (or an
approver or platform engineer, as before) and records the moderated evaluation.

Suppliers see no individual trial at all (what a civil servant wrote, their department, the
sandbox's endpoints and logs are theirs): a supplier sees how its templates' trials went in
aggregate (`check_may_see_outcomes`, orchestrator/outcomes.py) and the report's rows of its
templates without the civil servant's words. Templates are public, so a refusal about a
template is forbidden (403), not hidden.
"""

from __future__ import annotations

from enum import StrEnum

from orchestrator.errors import Forbidden
from orchestrator.models import Challenge, Trial, User


class Role(StrEnum):
    CIVIL_SERVANT = "civil_servant"
    SUPPLIER = "supplier"
    PLATFORM_ENGINEER = "platform_engineer"
    APPROVER = "approver"


ROLES = tuple(str(role) for role in Role)


class MemberRole(StrEnum):
    """What a member of a team trial does on it."""

    COLLABORATOR = "collaborator"
    ASSESSOR = "assessor"


MEMBER_ROLES = tuple(str(role) for role in MemberRole)
#: Roles that see every trial (the den's operators).
SEES_ALL = frozenset({Role.PLATFORM_ENGINEER, Role.APPROVER})
#: Roles that decide on requests beyond self-service.
DECIDES = frozenset({Role.PLATFORM_ENGINEER, Role.APPROVER})


def require_role(user: User, *roles: Role, to: str) -> None:
    """Raise `Forbidden` unless the user has one of `roles`; `to` says what was refused."""
    if user.role not in roles:
        allowed = " or ".join(r.replace("_", " ") + "s" for r in roles)
        raise Forbidden(f"only {allowed} can {to}")


def is_owner(user: User, trial: Trial) -> bool:
    return user.id is not None and trial.owner_id == user.id


def shares_department(user: User, trial: Trial) -> bool:
    """A civil servant of the trial's department, when its owner shared it."""
    return (
        user.role == Role.CIVIL_SERVANT
        and trial.shared_with_department
        and bool(trial.department)
        and user.department == trial.department
    )


def check_may_end(user: User, trial: Trial) -> None:
    if not (is_owner(user, trial) or user.role in SEES_ALL):
        raise Forbidden("only the trial's owner, an approver or a platform engineer can end it")


def check_may_extend(user: User, trial: Trial, *, member: str | None = None) -> None:
    """The owner, a collaborator on the trial, or a platform engineer."""
    if not (
        is_owner(user, trial) or member == MemberRole.COLLABORATOR or user.role == Role.PLATFORM_ENGINEER
    ):
        raise Forbidden("only the trial's owner, its collaborators or a platform engineer can extend it")


def check_may_manage_members(user: User, trial: Trial) -> None:
    """Who is on a trial is its owner's choice (and a platform engineer's, to help)."""
    if not (is_owner(user, trial) or user.role == Role.PLATFORM_ENGINEER):
        raise Forbidden("only the trial's owner or a platform engineer adds or removes its members")


def check_may_see_team(user: User, trial: Trial, *, member: str | None = None) -> None:
    """The members and the assessors' scores: for the trial's people (its owner and members)
    and the den's operators, not for everyone who sees a trial shared with a department."""
    if not (is_owner(user, trial) or member is not None or user.role in SEES_ALL):
        raise Forbidden("only the trial's owner, its members, approvers and platform engineers see its team")


def check_may_assess(user: User, trial: Trial, *, member: str | None = None) -> None:
    """An assessor records their own scores; so may the owner, beside them."""
    if not (is_owner(user, trial) or member == MemberRole.ASSESSOR):
        raise Forbidden("only the trial's assessors and its owner record scores of their own")


def check_may_start_trial(user: User) -> None:
    if user.role == Role.SUPPLIER:
        raise Forbidden("suppliers cannot launch trials")


def check_may_publish(user: User) -> None:
    require_role(user, Role.SUPPLIER, Role.PLATFORM_ENGINEER, to="publish templates")


def check_may_set_version_status(user: User) -> None:
    require_role(user, Role.PLATFORM_ENGINEER, to="change a template version's status")


def check_decides(user: User) -> None:
    """Approvers and platform engineers decide on requests beyond self-service."""
    require_role(user, Role.APPROVER, Role.PLATFORM_ENGINEER, to="approve or reject requests")


def check_may_decide(user: User, *, requested_by: str) -> None:
    """Approvers and platform engineers decide, but never on their own request."""
    check_decides(user)
    if user.name == requested_by:
        raise Forbidden(
            "nobody approves or rejects their own request: ask another approver", reason="SelfApproval"
        )


def check_may_review(user: User, *, supplier_id: int | None) -> None:
    """A version's review: for platform engineers (who decide) and the template's supplier."""
    if user.role == Role.PLATFORM_ENGINEER:
        return
    if user.role == Role.SUPPLIER and user.supplier_id is not None and user.supplier_id == supplier_id:
        return
    raise Forbidden("only platform engineers and the template's supplier see a version's review")


def check_may_evaluate(user: User, trial: Trial) -> None:
    if not (is_owner(user, trial) or shares_department(user, trial)):
        raise Forbidden(
            "only the trial's owner (or their department, when the trial is shared) records its evaluation"
        )


def sees_private_notes(user: User, trial: Trial) -> bool:
    """Private notes stay with the owner, their department and platform engineers: never a
    supplier, nor an approver who is not one of those."""
    return is_owner(user, trial) or shares_department(user, trial) or user.role == Role.PLATFORM_ENGINEER


def check_may_read_logs(user: User) -> None:
    """Logs record what a civil servant did in the sandbox: not for suppliers (who cannot see
    the trial in the first place; this holds should that ever change)."""
    if user.role == Role.SUPPLIER:
        raise Forbidden("suppliers cannot read a trial's logs")


def check_may_see_outcomes(user: User, *, supplier_id: int) -> None:
    """A template's aggregate outcomes: its supplier's users, approvers and platform
    engineers. `supplier_id` is the template's supplier."""
    if user.role in SEES_ALL:
        return
    if user.role != Role.SUPPLIER or user.supplier_id != supplier_id:
        raise Forbidden(
            "only the template's supplier, approvers and platform engineers see how its trials went"
        )


def check_may_manage_tokens(user: User, *, owner: str) -> None:
    """People manage their own tokens; platform engineers manage everyone's."""
    if user.name != owner and user.role != Role.PLATFORM_ENGINEER:
        raise Forbidden("only platform engineers manage other people's tokens")


def may_open_sandbox(user: User, trial: Trial, *, member: str | None = None) -> bool:
    """Who opens a trial's sandbox (its workload, on its own origin): the trial's people, that
    is its owner, its members (`member`: the person's role on it) and, when shared, civil
    servants of its department, plus platform engineers.
    Never by role alone otherwise: approvers see trials, suppliers their templates' outcomes,
    but what a civil servant does in the sandbox is not theirs to watch. A disabled person
    opens nothing. Holders of a share link are let in by the link (crud.sandbox_access)."""
    if getattr(user, "disabled_at", None) is not None or getattr(user, "disabled", False) is True:
        return False
    return (
        is_owner(user, trial)
        or member is not None
        or shares_department(user, trial)
        or user.role == Role.PLATFORM_ENGINEER
    )


def check_may_share(user: User, trial: Trial) -> None:
    """Share links open the sandbox to people outside the den: only its owner or a platform
    engineer makes, lists or revokes them."""
    if not (is_owner(user, trial) or user.role == Role.PLATFORM_ENGINEER):
        raise Forbidden("only the trial's owner or a platform engineer manages its share links")


# --- Engagement (orchestrator/engagement.py) --------------------------------------------------
#
# A challenge is written by a civil servant or an approver, and managed by its owner alone
# (publishing, answering, sessions, the equal offer, the decision): it speaks for their
# department. A draft is its owner's (and the den's operators'); once published every
# signed-in person sees it. Responses are commercial: each supplier sees only its own, the
# owner and the den's operators see all. Questions are asked by suppliers and answered for all.
# A challenge someone may not see is not found, as a trial is.


def check_may_write_challenge(user: User) -> None:
    require_role(user, Role.CIVIL_SERVANT, Role.APPROVER, to="write challenges")


def owns_challenge(user: User, challenge: Challenge) -> bool:
    return user.id is not None and challenge.owner_id == user.id


def may_see_challenge(user: User, challenge: Challenge) -> bool:
    return challenge.published_at is not None or owns_challenge(user, challenge) or user.role in SEES_ALL


def check_may_manage_challenge(user: User, challenge: Challenge) -> None:
    if not owns_challenge(user, challenge):
        raise Forbidden("only the challenge's owner can change it, answer its questions or make its offer")


def sees_all_responses(user: User, challenge: Challenge) -> bool:
    return owns_challenge(user, challenge) or user.role in SEES_ALL


def check_acts_for_supplier(user: User, *, to: str) -> int:
    """A supplier's user, with its supplier: the supplier's id."""
    if user.role != Role.SUPPLIER or user.supplier_id is None:
        raise Forbidden(f"only suppliers can {to}")
    return user.supplier_id


def check_may_see_offer(user: User, challenge: Challenge) -> None:
    """The offer's trials, the notice draft and the release package: the owner's and the den's
    operators' (suppliers see no individual trial, as ever)."""
    if not sees_all_responses(user, challenge):
        raise Forbidden("only the challenge's owner, approvers and platform engineers see this")
