"""How templates' trials went, in aggregate (orchestrator/outcomes.py sums them up): what a
supplier sees of its templates' use, instead of the trials themselves.

One query reads only the columns aggregates need (never a title, a hypothesis or the
parameters), for one template or every template of a supplier.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlmodel import Session, col

from orchestrator import evaluation, outcomes
from orchestrator.access import check_may_see_outcomes
from orchestrator.crud.common import pk
from orchestrator.crud.templates import list_template_versions, template_versions
from orchestrator.models import Evaluation, Supplier, TemplateVersion, Trial, User


def template_outcomes(session: Session, *, user: User, name: str) -> outcomes.TemplateOutcomes:
    """One template's outcomes, per version (newest first) and in total."""
    template, supplier, versions = template_versions(session, name=name)
    check_may_see_outcomes(user, supplier_id=template.supplier_id)
    facts = _facts(session, template_ids=[pk(template)]).get(pk(template), [])
    return outcomes.summarise(
        template=name, supplier=supplier.slug, versions=[v.version for v in versions], rows=facts
    )


def supplier_outcomes(session: Session, *, user: User, supplier: Supplier) -> list[outcomes.TemplateOutcomes]:
    """Every template of the supplier's, by name, in one query of the trials."""
    check_may_see_outcomes(user, supplier_id=pk(supplier))
    rows = list_template_versions(session, supplier_id=pk(supplier))  # by name, newest first
    templates = {t.name: t for t, _v, _s in rows}
    facts = _facts(session, template_ids=[pk(t) for t in templates.values()])
    return [
        outcomes.summarise(
            template=name,
            supplier=supplier.slug,
            versions=[v.version for t, v, _s in rows if t.name == name],
            rows=facts.get(pk(template), []),
        )
        for name, template in templates.items()
    ]


def _facts(session: Session, *, template_ids: Sequence[int]) -> dict[int, list[outcomes.TrialFacts]]:
    """Template id -> its trials' facts: phase, version, timing and the evaluation's result."""
    if not template_ids:
        return {}
    query = (
        select(
            *(
                col(c)
                for c in (
                    TemplateVersion.template_id,
                    Trial.template_version,
                    Trial.phase,
                    Trial.created_at,
                    Trial.approved_at,
                    Trial.ready_at,
                    Evaluation.decision,
                    Evaluation.scores,
                )
            )
        )
        .select_from(Trial)
        .join(TemplateVersion, col(TemplateVersion.id) == Trial.template_version_id)
        # A draft evaluation counts as none yet.
        .join(
            Evaluation,
            (col(Evaluation.trial_id) == Trial.id) & (col(Evaluation.status) == "complete"),
            isouter=True,
        )
        .where(col(TemplateVersion.template_id).in_(template_ids))
    )
    found: dict[int, list[outcomes.TrialFacts]] = {}
    # An eight-column select: SQLModel's typed `exec` has no overload for it.
    for template_id, version, phase, created, approved, ready, decision, scores in (
        session.connection().execute(query).all()
    ):
        found.setdefault(template_id, []).append(
            outcomes.TrialFacts(
                version=version,
                phase=phase,
                decision=decision,
                time_to_ready_seconds=evaluation.seconds_to_ready(
                    created_at=created, approved_at=approved, ready_at=ready
                ),
                scores={
                    d: s["score"]
                    for d, s in (scores or {}).items()
                    if isinstance(s, dict) and isinstance(s.get("score"), int)
                },
            )
        )
    return found
