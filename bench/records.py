"""Trials on record, written straight into a den's database before its server starts.

Ten thousand trials through the API would take longer than the benchmark itself, and the
trials a den has on record are mostly over: so the ended ones are written as rows, with the
product's own models and `crud` (schema by `db.upgrade`, catalogue by `startup.load_catalogue`,
people and their tokens by `crud.ensure_user` and `crud.issue_token`), as the reconciler would
have left them: each `Stopped`, with its timeline (requested, starting, ready, stopping,
stopped), its audit record, and for some an evaluation of the standard scheme. The trials
still waiting or running are made through the API once the server is up (bench/open_loop.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert
from sqlmodel import Session, select

from orchestrator import crud, db, startup
from orchestrator.evaluation import DIMENSIONS
from orchestrator.models import (
    AuditEvent,
    Evaluation,
    SandboxTemplate,
    TemplateVersion,
    Trial,
    TrialEvent,
    new_id,
)
from orchestrator.settings import Settings

DEPARTMENTS = (
    "Department for Transport",
    "Department for Education",
    "Department of Health and Social Care",
    "HM Revenue and Customs",
    "Ministry of Housing, Communities and Local Government",
)
DECISIONS = ("adopt", "iterate", "stop")
HELD = ("yes", "partly", "no")
BATCH = 2000  # rows per INSERT: few round trips, bounded memory


@dataclass(frozen=True)
class Person:
    name: str
    department: str
    token: str


@dataclass
class Record:
    """What was written: the people, and each one's ended trials by template (so a write can
    evaluate trials whose success criteria it knows)."""

    people: list[Person]
    stopped: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # name -> template -> ids
    criteria: dict[str, list[str]] = field(default_factory=dict)  # template -> success criteria


def prepare(settings: Settings, templates: Path) -> Engine:
    """The database migrated and the catalogue of `templates` published (both idempotent: the
    server does them again when it starts)."""
    engine = db.make_engine(settings.effective_database_url)
    db.upgrade(engine)
    startup.load_catalogue(engine, templates, now=datetime.now(UTC), settings=settings)
    return engine


def write(
    engine: Engine, *, people: int, stopped: int, exclude: tuple[str, ...] = (), seed: int = 1
) -> Record:
    """`people` civil servants (in the five departments, with a token each) and `stopped`
    ended trials among them, of every published template but `exclude`."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    with db.session_scope(engine) as session:
        record = Record(people=_people(session, people, now))
        versions = [v for v in _versions(session) if v[1] not in exclude]
        record.criteria = {name: list(manifest_criteria) for _v, name, _ver, manifest_criteria in versions}
    owners = _owner_ids(engine, record.people)
    for start in range(0, stopped, BATCH):
        rows = [_trial(rng, now, owners, record, versions) for _ in range(min(BATCH, stopped - start))]
        _insert(engine, rows, rng)
    return record


def _people(session: Session, count: int, now: datetime) -> list[Person]:
    made = []
    for index in range(count):
        name, department = f"servant-{index:02d}", DEPARTMENTS[index % len(DEPARTMENTS)]
        user = crud.ensure_user(session, name=name, role="civil_servant", now=now, department=department)
        user.email = f"{name}@example.gov.uk"
        token, _row = crud.issue_token(session, user=user, now=now, name="benchmark")
        made.append(Person(name=name, department=department, token=token))
    return made


def _versions(session: Session) -> list[tuple[int, str, str, list[str]]]:
    """(id, template name, version, suggested success criteria) of every published version."""
    query = select(TemplateVersion, SandboxTemplate).where(
        TemplateVersion.template_id == SandboxTemplate.id, TemplateVersion.status == "Published"
    )
    found = []
    for version, template in session.exec(query):
        criteria = list(version.manifest.get("spec", {}).get("successCriteria", []))[:3]
        assert version.id is not None
        found.append((version.id, template.name, version.version, criteria))
    return found


def _owner_ids(engine: Engine, people: list[Person]) -> dict[str, int]:
    with db.session_scope(engine) as session:
        return {p.name: crud.get_user(session, name=p.name).id or 0 for p in people}


def _trial(
    rng: random.Random,
    now: datetime,
    owners: dict[str, int],
    record: Record,
    versions: list[tuple[int, str, str, list[str]]],
) -> dict[str, Any]:
    person = rng.choice(record.people)
    version_id, template, version, criteria = rng.choice(versions)
    created = now - timedelta(days=rng.uniform(1, 365))
    ready = created + timedelta(seconds=rng.uniform(3, 40))
    duration = rng.choice((3600, 7200, 14400))
    expires = ready + timedelta(seconds=duration)
    ended_early = rng.random() < 0.4
    stopping = ready + timedelta(seconds=rng.uniform(600, duration)) if ended_early else expires
    ended = stopping + timedelta(seconds=rng.uniform(1, 10))
    trial_id = new_id()
    record.stopped.setdefault(person.name, {}).setdefault(template, []).append(trial_id)
    return {
        "id": trial_id,
        "owner_id": owners[person.name],
        "department": person.department,
        "template_version_id": version_id,
        "template_name": template,
        "template_version": version,
        "title": f"Can {template.replace('-', ' ')} help {person.department}?",
        "problem_statement": "Staff spend hours answering the same questions by hand.",
        "hypothesis": "Residents find what they need without calling us.",
        "success_criteria": criteria,
        "parameters": {},
        "duration_seconds": duration,
        "expires_at": expires,
        "end_requested_at": stopping if ended_early else None,
        "updated_at": ended,
        "phase": "Stopped",
        "reason": "UserRequested" if ended_early else "Expired",
        "message": "Ended by its owner" if ended_early else "The trial's time was up",
        "phase_changed_at": ended,
        "endpoints": {},
        "driver": "docker",
        "created_at": created,
        "ready_at": ready,
        "ended_at": ended,
        "cpu_millicores": 500,
        "memory_mib": 256,
        "_owner": person.name,
    }


def _events(trial: dict[str, Any]) -> list[dict[str, Any]]:
    created, ready, stopping, ended = (
        trial["created_at"],
        trial["ready_at"],
        trial["end_requested_at"] or trial["expires_at"],
        trial["ended_at"],
    )
    steps = [
        (created, "Requested", "Created", f"Requested by {trial['_owner']}"),
        (created + timedelta(seconds=1), "Provisioning", "Starting", "Starting the sandbox"),
        (ready, "Ready", "Started", "The sandbox answers"),
        (stopping, "Stopping", trial["reason"], trial["message"]),
        (ended, "Stopped", trial["reason"], "Everything the trial had was removed"),
    ]
    return [
        {
            "trial_id": trial["id"],
            "at": at,
            "kind": "Transition",
            "phase": phase,
            "reason": reason,
            "message": text,
        }
        for at, phase, reason, text in steps
    ]


def _evaluation(rng: random.Random, trial: dict[str, Any]) -> dict[str, Any]:
    return {
        "trial_id": trial["id"],
        "status": "complete",
        "hypothesis_held": rng.choice(HELD),
        "hypothesis_evidence": "Measured over the trial's time.",
        "criteria_results": [
            {"criterion": c, "met": rng.choice(HELD), "evidence": "Seen in the sessions."}
            for c in trial["success_criteria"]
        ],
        "scores": {d: {"score": rng.randint(1, 5), "evidence": "Observed."} for d in DIMENSIONS},
        "decision": rng.choice(DECISIONS),
        "publish_evidence": True,
        "lessons_learned": "Try it with more teams.",
        "private_notes": "",
        "recorded_by": trial["owner_id"],
        "recorded_at": trial["ended_at"] + timedelta(days=rng.uniform(1, 20)),
    }


def _insert(engine: Engine, trials: list[dict[str, Any]], rng: random.Random) -> None:
    events = [e for t in trials for e in _events(t)]
    evaluations = [_evaluation(rng, t) for t in trials if rng.random() < 0.4]
    audits = [
        {
            "at": t["created_at"],
            "actor": t["_owner"],
            "action": "trial.create",
            "object_type": "trial",
            "object_id": t["id"],
            "source": "127.0.0.1",
            "detail": {"template": f"{t['template_name']}@{t['template_version']}"},
        }
        for t in trials
    ]
    rows = [{k: v for k, v in t.items() if not k.startswith("_")} for t in trials]
    with db.session_scope(engine) as session:
        session.execute(insert(Trial), rows)
        session.execute(insert(TrialEvent), events)
        if evaluations:
            session.execute(insert(Evaluation), evaluations)
        session.execute(insert(AuditEvent), audits)
