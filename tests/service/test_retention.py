"""Retention in the reconciler: a trial that ended longer ago than `DEN_RETENTION_DAYS` loses
its free text (kept: title, scores, answers, decision), recorded on its timeline and in the
audit log; a recent one keeps everything; the trial page says when the text went."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from orchestrator.models import AuditEvent, Evaluation, Trial, User
from tests.fakes import FakeDriver
from tests.service.conftest import AUTH, SCORES, launch, reconciler, run_until_ready
from tests.service.test_web_pages import browser, client, settings

__all__ = ["client", "settings"]


def ended_trial(
    client: TestClient, people: dict[str, dict[str, str]], driver: FakeDriver, *, days_ago: int
) -> str:
    """A trial of alice's, evaluated, that ended `days_ago` days ago."""
    trial = launch(
        client,
        people["alice"],
        problem_statement="Residents phone us",
        success_criteria=["Fewer calls"],
    )
    run_until_ready(client, driver, trial["id"])
    assert client.post(f"/api/v1/trials/{trial['id']}/end", headers=people["alice"]).status_code == 202
    for _ in range(2):
        reconciler(client, driver).reconcile_once(now=datetime.now(UTC))
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        row = session.get(Trial, trial["id"])
        assert row is not None and row.ended_at is not None
        row.ended_at = datetime.now(UTC) - timedelta(days=days_ago)
        alice = session.exec(select(User).where(User.name == "alice")).one()
        assert alice.id is not None
        session.add(row)
        session.add(
            Evaluation(
                trial_id=trial["id"],
                hypothesis_held="partly",
                hypothesis_evidence="Half the testers found it",
                criteria_results=[{"criterion": "Fewer calls", "met": "yes", "evidence": "Calls halved"}],
                scores=SCORES,
                decision="iterate",
                lessons_learned="Ask residents first",
                private_notes="Our team only",
                recorded_by=alice.id,
                recorded_at=datetime.now(UTC),
            )
        )
        session.commit()
    return str(trial["id"])


def test_old_trials_lose_their_words_and_keep_their_scores(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    old = ended_trial(client, people, fake_driver, days_ago=731)
    recent = ended_trial(client, people, fake_driver, days_ago=10)
    reconciler(client, fake_driver).reconcile_once(now=datetime.now(UTC))  # the housekeeping check
    with Session(client.app.state.engine) as session:  # type: ignore[attr-defined]
        gone, kept = session.get(Trial, old), session.get(Trial, recent)
        assert gone is not None and kept is not None
        assert gone.text_removed_at is not None and kept.text_removed_at is None
        assert (gone.title, gone.problem_statement, gone.hypothesis, gone.success_criteria) == (
            "A trial",
            "",
            "",
            [],
        )
        assert (kept.problem_statement, kept.hypothesis) == ("Residents phone us", "It helps")
        scored, whole = session.get(Evaluation, old), session.get(Evaluation, recent)
        assert scored is not None and whole is not None
        assert {d: s["score"] for d, s in scored.scores.items()} == dict.fromkeys(SCORES, 4)
        assert all(s["evidence"] == "" for s in scored.scores.values())
        assert (scored.hypothesis_held, scored.decision) == ("partly", "iterate")
        assert scored.criteria_results == [{"criterion": "", "met": "yes", "evidence": ""}]
        assert (scored.lessons_learned, scored.private_notes, scored.hypothesis_evidence) == ("", "", "")
        assert whole.scores == SCORES and whole.private_notes == "Our team only"
        audited = session.exec(select(AuditEvent).where(AuditEvent.action == "trial.text_removed")).all()
        assert [(a.object_id, a.actor, a.source) for a in audited] == [(old, "system", "reconciler")]
    api = client.get(f"/api/v1/trials/{old}", headers=AUTH).json()
    assert api["text_removed_at"] is not None
    page = browser(client, "alice").get(f"/trials/{old}").text
    assert "What people wrote about this trial was removed on" in page
    again = reconciler(client, fake_driver).apply_retention(now=datetime.now(UTC))
    assert again == []  # once only


def test_zero_days_keeps_everything(
    client: TestClient, people: dict[str, dict[str, str]], fake_driver: FakeDriver
) -> None:
    old = ended_trial(client, people, fake_driver, days_ago=4000)
    client.app.state.settings = client.app.state.settings.model_copy(update={"retention_days": 0})  # type: ignore[attr-defined]
    assert reconciler(client, fake_driver).apply_retention(now=datetime.now(UTC)) == []
    assert (
        client.get(f"/api/v1/trials/{old}", headers=AUTH).json()["problem_statement"] == "Residents phone us"
    )
