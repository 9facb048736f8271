"""The API's lists, page by page (orchestrator/crud/paging.py): trials newest first, a trial's
timeline oldest first, templates and people by name, the audit log newest first.

Each query fetches one row more than the page holds (that row only says more follow) and
starts after the key of the previous page's last row, in the order an index keeps:
`(created_at, id)` for trials, `id` for events and audit records, the unique `name` of
templates and people. Who sees what is the subjects' own rule (`visible_trials_query`,
`filtered`), applied to every page.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, exists, select
from sqlmodel.sql.expression import SelectOfScalar

from orchestrator.access import SEES_ALL, Role
from orchestrator.crud.paging import Page, PageAsk, page
from orchestrator.crud.templates import version_key
from orchestrator.crud.trials import TrialFilter, filtered, member_of, visible_trials_query
from orchestrator.models import (
    AuditEvent,
    SandboxTemplate,
    Supplier,
    TemplateVersion,
    Trial,
    TrialEvent,
    User,
)

TRIAL_KEY = (datetime, str)
ID_KEY = (int,)
NAME_KEY = (str,)
LatestVersion = tuple[SandboxTemplate, TemplateVersion, Supplier]


def trials_page(session: Session, *, user: User, selectors: TrialFilter, asked: PageAsk) -> Page[Trial]:
    """Visible trials matching `selectors`, newest first (ties by id).

    A civil servant sees their own trials, those their department shares and those they are a
    member of: one OR would make the database gather and sort every trial of every kind on
    every page. So each kind is read on its own index, in order, one page at most, and they
    are merged here."""
    if user.role in SEES_ALL or user.role == Role.SUPPLIER:
        return page(
            session.exec(_page_of(visible_trials_query(user), selectors, asked)).all(), asked, key=_trial_key
        )
    own = select(Trial).where(col(Trial.owner_id) == user.id)
    found = {t.id: t for t in session.exec(_page_of(own, selectors, asked))}
    if user.department:
        shared = select(Trial).where(
            col(Trial.department) == user.department, col(Trial.shared_with_department).is_(True)
        )
        found.update((t.id, t) for t in session.exec(_page_of(shared, selectors, asked)))
    teams = select(Trial).where(col(Trial.id).in_(member_of(user)))
    found.update((t.id, t) for t in session.exec(_page_of(teams, selectors, asked)))
    rows = sorted(found.values(), key=_trial_key, reverse=True)[: asked.limit + 1]
    return page(rows, asked, key=_trial_key)


def _page_of(query: SelectOfScalar[Trial], selectors: TrialFilter, asked: PageAsk) -> SelectOfScalar[Trial]:
    """One page of `query` (and `selectors`), newest first, after the page asked for."""
    query = filtered(query, selectors)
    if asked.after is not None:
        created, trial_id = asked.after
        query = query.where(
            col(Trial.created_at) <= created,
            (col(Trial.created_at) < created) | (col(Trial.id) < trial_id),
        )
    return query.order_by(col(Trial.created_at).desc(), col(Trial.id).desc()).limit(asked.limit + 1)


def _trial_key(trial: Trial) -> tuple[datetime, str]:
    return (trial.created_at, trial.id)


def events_page(session: Session, *, trial_id: str, asked: PageAsk) -> Page[TrialEvent]:
    """A trial's timeline, oldest first. The caller has checked the trial is visible."""
    query = select(TrialEvent).where(TrialEvent.trial_id == trial_id)
    if asked.after is not None:
        query = query.where(col(TrialEvent.id) > asked.after[0])
    query = query.order_by(col(TrialEvent.id)).limit(asked.limit + 1)
    return page(session.exec(query).all(), asked, key=lambda e: (e.id or 0,))


def templates_page(session: Session, *, asked: PageAsk) -> Page[LatestVersion]:
    """The newest published version of each template that has one, by template name."""
    published = exists().where(
        col(TemplateVersion.template_id) == SandboxTemplate.id, col(TemplateVersion.status) == "Published"
    )
    query = select(SandboxTemplate).where(published)
    if asked.after is not None:
        query = query.where(col(SandboxTemplate.name) > asked.after[0])
    query = query.order_by(col(SandboxTemplate.name)).limit(asked.limit + 1)
    names = page(session.exec(query).all(), asked, key=lambda t: (t.name,))
    ids = [t.id for t in names.rows]
    rows = session.exec(
        select(SandboxTemplate, TemplateVersion, Supplier)
        .join(TemplateVersion, col(TemplateVersion.template_id) == SandboxTemplate.id)
        .join(Supplier, col(Supplier.id) == SandboxTemplate.supplier_id)
        .where(col(TemplateVersion.status) == "Published", col(SandboxTemplate.id).in_(ids))
    ).all()
    newest: dict[str, LatestVersion] = {}
    for template, version, supplier in rows:
        held = newest.get(template.name)
        if held is None or version_key(version.version) > version_key(held[1].version):
            newest[template.name] = (template, version, supplier)
    return Page(rows=[newest[t.name] for t in names.rows], continue_token=names.continue_token)


def users_page(session: Session, *, asked: PageAsk) -> Page[User]:
    """People by name."""
    query = select(User)
    if asked.after is not None:
        query = query.where(col(User.name) > asked.after[0])
    query = query.order_by(col(User.name)).limit(asked.limit + 1)
    return page(session.exec(query).all(), asked, key=lambda u: (u.name,))


def audit_page(session: Session, *, asked: PageAsk, object_id: str | None = None) -> Page[AuditEvent]:
    """Audit records newest first (by id: records are only ever appended)."""
    query = select(AuditEvent)
    if object_id:
        query = query.where(AuditEvent.object_id == object_id)
    if asked.after is not None:
        query = query.where(col(AuditEvent.id) < asked.after[0])
    query = query.order_by(col(AuditEvent.id).desc()).limit(asked.limit + 1)
    return page(session.exec(query).all(), asked, key=lambda a: (a.id or 0,))
