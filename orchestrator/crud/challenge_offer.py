"""The equal sandbox offer, and what a challenge publishes: its trials side by side, the UK2
notice draft and the OCDS release package (orchestrator/opendata fills them in).

The offer starts one trial per offered template, all on the same terms: the hypothesis, the
success criteria and the duration are the offer's, never a template's own, and every template
must fit under the offer's ceiling on CPU and memory. It is all or nothing: a template that
cannot be trialled any more (quarantined since it was offered), one over the ceiling, or a
trial the den's caps refuse refuses the whole offer, and nothing is written. Launching it
closes the challenge to new responses: the offer is made from the responses in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from orchestrator import access, catalogue, engagement, evaluation, rules
from orchestrator.crud.challenge_replies import responses_of
from orchestrator.crud.challenge_sessions import list_sessions
from orchestrator.crud.common import Actor, audit
from orchestrator.crud.evaluations import find_evaluation
from orchestrator.crud.locks import lock_challenge
from orchestrator.crud.templates import resolve_template
from orchestrator.crud.trials import TrialRequest, create_trial, events_of
from orchestrator.engagement import EngagementRule, OfferInput
from orchestrator.engagement_public import scores_of
from orchestrator.errors import DenError, Problem, RuleViolation, ValidationFailed
from orchestrator.models import Challenge, ChallengeTrial, Evaluation, Supplier, Trial, User
from orchestrator.opendata import ocds
from orchestrator.opendata.inputs import (
    ChallengeFacts,
    DocumentFacts,
    SessionFacts,
    SupplierFacts,
    TrialFacts,
)
from orchestrator.settings import RateCard, Settings


@dataclass(frozen=True)
class OfferedTrial:
    trial: Trial
    supplier: Supplier
    evaluation: Evaluation | None


def launch_offer(
    session: Session,
    *,
    actor: Actor,
    challenge: Challenge,
    fields: OfferInput,
    settings: Settings,
    now: datetime,
) -> list[OfferedTrial]:
    """One trial per offered template, in the order the responses came, owned by the caller."""
    access.check_may_manage_challenge(actor.user, challenge)
    if problems := engagement.offer_problems(fields):
        raise ValidationFailed(problems)
    challenge = lock_challenge(session, challenge)
    engagement.check_may_offer(challenge, now)
    offered = [(reply, ref) for reply in responses_of(session, challenge) for ref in reply.response.templates]
    if not offered:
        raise RuleViolation(
            f"no supplier has offered a template for challenge {challenge.id}: there is nothing to trial yet",
            reason=EngagementRule.NO_OFFER,
        )
    problems = []
    for index, (reply, ref) in enumerate(offered):
        try:
            version = resolve_template(session, ref=ref)
        except DenError as exc:
            problems.append(Problem(f"templates[{index}]", f"{reply.supplier.name}'s {exc.detail}", ""))
            continue
        held = rules.reservation(catalogue.stored_manifest(version.manifest, version.digest))
        if over := engagement.over_ceiling(
            fields, cpu_millicores=held.cpu_millicores, memory_mib=held.memory_mib
        ):
            problems.append(
                Problem(
                    f"templates[{index}]",
                    f"{reply.supplier.name}'s {ref} reserves {over}",
                    "raise the offer's ceiling so that every offered template fits, or leave it unset",
                )
            )
    if problems:
        raise ValidationFailed(
            problems, detail="the equal offer cannot start: " + "; ".join(p.message for p in problems)
        )
    started: list[OfferedTrial] = []
    for reply, ref in offered:
        request = TrialRequest(
            template=ref,
            title=f"{challenge.title} - {reply.supplier.name}"[:200],
            hypothesis=fields.hypothesis,
            duration_seconds=fields.duration_seconds,
            problem_statement=challenge.problem,
            success_criteria=fields.success_criteria,
        )
        trial = create_trial(session, actor=actor, request=request, settings=settings, now=now)
        assert reply.response.id is not None
        session.add(
            ChallengeTrial(challenge_id=challenge.id, trial_id=trial.id, response_id=reply.response.id)
        )
        started.append(OfferedTrial(trial=trial, supplier=reply.supplier, evaluation=None))
    challenge.offered_at = challenge.updated_at = now
    challenge.offer_hypothesis = fields.hypothesis
    challenge.offer_success_criteria = list(fields.success_criteria)
    challenge.offer_duration_seconds = fields.duration_seconds
    challenge.offer_cpu_millicores = fields.max_cpu_millicores
    challenge.offer_memory_mib = fields.max_memory_mib
    if challenge.closed_at is None:
        challenge.closed_at = now
    session.add(challenge)
    audit(
        session,
        actor=actor,
        action="challenge.offer",
        obj=("challenge", challenge.id),
        now=now,
        detail={"trials": [o.trial.id for o in started]},
    )
    return started


def offered_trials(session: Session, challenge: Challenge) -> list[OfferedTrial]:
    """The offer's trials in the order they were started, each with its supplier and
    evaluation (the core's own read: callers check `access.check_may_see_offer`)."""
    rows = session.exec(
        select(ChallengeTrial, Trial)
        .join(Trial, col(Trial.id) == ChallengeTrial.trial_id)
        .where(ChallengeTrial.challenge_id == challenge.id)
        .order_by(col(ChallengeTrial.id))
    ).all()
    replies = {r.response.id: r.supplier for r in responses_of(session, challenge)}
    return [
        OfferedTrial(
            trial=trial, supplier=replies[link.response_id], evaluation=find_evaluation(session, trial=trial)
        )
        for link, trial in rows
    ]


def list_offered_trials(session: Session, *, user: User, challenge: Challenge) -> list[OfferedTrial]:
    access.check_may_see_offer(user, challenge)
    return offered_trials(session, challenge)


def measured_of(
    session: Session, offered: Sequence[OfferedTrial], *, now: datetime, rate_card: RateCard | None = None
) -> dict[str, evaluation.Measured]:
    """The evidence the den measured of each trial (time to ready, time answering, resource
    use and cost), read in one query: what the offer's trials are compared on beside their
    scores."""
    timelines = events_of(session, [o.trial.id for o in offered])
    return {
        o.trial.id: evaluation.measure(o.trial, timelines[o.trial.id], now=now, rate_card=rate_card)
        for o in offered
    }


# --- open data -------------------------------------------------------------------------------


def challenge_facts(session: Session, *, user: User, challenge: Challenge, base_url: str) -> ChallengeFacts:
    """What the UK2 draft and the release package say of the challenge."""
    access.check_may_see_offer(user, challenge)
    owner = session.get(User, challenge.owner_id)
    sessions = list_sessions(session, user=user, challenge=challenge)
    documents = [
        DocumentFacts(
            id=f"session-{view.held.id}-{index}",
            title=f"{view.held.title}: {item.get('title', '')}",
            url=str(item.get("url", "")),
            kind="marketStudies",
        )
        for view in sessions
        for index, item in enumerate(view.held.materials, start=1)
    ]
    base = base_url.rstrip("/")
    return ChallengeFacts(
        reference=challenge.id,
        title=challenge.title,
        problem=challenge.problem,
        users_and_need=challenge.users_and_need,
        tried=challenge.tried,
        constraints=challenge.constraints,
        budget_min=challenge.budget_min,
        budget_max=challenge.budget_max,
        timeline=challenge.timeline,
        closes_at=challenge.closes_at,
        questions_close_at=challenge.questions_close_at,
        problem_areas=tuple(challenge.problem_areas),
        department=challenge.department or "Unnamed department",
        owner_name=(owner.display_name or owner.name) if owner else "",
        owner_email=owner.email if owner else "",
        published_at=challenge.published_at,
        public_url=f"{base}/challenges/{challenge.id}",
        sessions=tuple(
            SessionFacts(
                starts_at=v.held.starts_at,
                ends_at=v.held.ends_at,
                mode="in_person" if v.held.mode == "in_person" else "online",
                place=v.held.place,
                capacity=v.held.capacity,
            )
            for v in sessions
        ),
        documents=tuple(documents),
    )


def trial_facts(session: Session, *, user: User, challenge: Challenge) -> list[TrialFacts]:
    return [
        TrialFacts(
            trial_id=o.trial.id,
            title=o.trial.title,
            supplier=SupplierFacts(slug=o.supplier.slug, name=o.supplier.name, size=o.supplier.size),
            template=o.trial.template_name,
            version=o.trial.template_version,
            phase=o.trial.phase,
            decision=(o.evaluation.decision or None)
            if o.evaluation and o.evaluation.status == "complete"
            else None,
            scores=scores_of(o.evaluation),
            ended_at=o.trial.ended_at,
        )
        for o in list_offered_trials(session, user=user, challenge=challenge)
    ]


def release_package(
    session: Session, *, user: User, challenge: Challenge, settings: Settings, base_url: str, now: datetime
) -> dict[str, Any]:
    """The challenge's OCDS release package, its offer's trials and their evaluations in our
    extension: what the API and the page both download."""
    return ocds.release_package(
        challenge_facts(session, user=user, challenge=challenge, base_url=base_url),
        trial_facts(session, user=user, challenge=challenge),
        now=now,
        publisher_name=settings.publisher_name,
        uri_prefix=base_url,
        ocid_prefix=settings.ocid_prefix,
    )
