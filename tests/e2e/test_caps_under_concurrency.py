"""Caps, extensions and decisions hold under a burst of simultaneous requests to a real
`den serve`, on SQLite and on PostgreSQL: exactly as many succeed as the rule allows, the
others are refused with the rule's reason, nothing more is stored, and the server stays ready
throughout. (Each request used to count, then write, with nothing in between: thirty at once
all saw room for one more trial, or one more extension.)

Trials are only asked for here (a request writes a Requested row), so the server runs without
a reconciler; the tests that need running trials bring them to Ready with the fake driver."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from orchestrator import db
from orchestrator.reconciler import Reconciler
from orchestrator.settings import Settings
from tests.e2e.server import Server
from tests.fakes import FakeDriver

BURST = 30  # simultaneous requests, released together by a barrier
#: name -> (role, department)
PEOPLE = {
    "alice": ("civil_servant", "dwp"),
    "bob": ("civil_servant", "dwp"),
    "dora": ("civil_servant", "dwp"),
    "carol": ("civil_servant", "hmrc"),
    "erin": ("civil_servant", "hmrc"),
    "fred": ("civil_servant", "dvla"),
    **{f"ann{i}": ("approver", "") for i in range(5)},
}
ROOMY = {
    "DEN_MAX_ACTIVE_TRIALS": "1000",
    "DEN_MAX_ACTIVE_TRIALS_PER_USER": "100",
    "DEN_MAX_ACTIVE_TRIALS_PER_DEPARTMENT": "100",
}
#: A template that allows many extensions, so that maxDuration is the rule that binds.
LONG = """apiVersion: innovation-den.io/v1
kind: SandboxTemplate
metadata: {name: long, version: 1.0.0, supplier: acme, summary: Long, problemAreas: [testing]}
spec:
  dataClassification: synthetic
  components: [{name: web, image: "innovation-den/demo:1.0.0", ports: [{containerPort: 8080}]}]
  limits: {defaultDuration: 600, maxDuration: 1200, maxExtensions: 10}
"""


@dataclass
class Den:
    server: Server
    engine: Engine
    settings: Settings
    tokens: dict[str, str]

    def post(self, person: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.post(
            self.server.url + path,
            json=body or {},
            timeout=60,
            headers={"Authorization": f"Bearer {self.tokens[person]}"},
        )

    def ask(self, person: str, template: str = "demo", duration: int = 600) -> httpx.Response:
        return self.post(
            person,
            "/api/v1/trials",
            {"template": template, "title": "Burst", "hypothesis": "It holds", "duration_seconds": duration},
        )

    def launch(self, person: str, template: str = "demo", duration: int = 600) -> str:
        answer = self.ask(person, template, duration)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    def count(self, sql: str, **params: Any) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(text(sql), params).scalar_one())

    def trial(self, trial_id: str) -> dict[str, Any]:
        with self.engine.connect() as connection:
            row = connection.execute(text("SELECT * FROM trial WHERE id = :id"), {"id": trial_id})
            return dict(row.mappings().one())

    def run_until_ready(self) -> None:
        """Two passes of a reconciler on the fake runtime: Requested -> Provisioning -> Ready."""
        den = Reconciler(engine=self.engine, driver=FakeDriver(), settings=self.settings)
        for _ in range(2):
            den.reconcile_once(now=datetime.now(UTC))


@pytest.fixture
def den(tmp_path: Path, database_url: str, templates_dir: Path) -> Iterator[Callable[[dict[str, str]], Den]]:
    """Start a den with these settings (on top of roomy caps), its people made over the API."""
    (templates_dir / "long").mkdir()
    (templates_dir / "long" / "template.yaml").write_text(LONG)
    engine = db.make_engine(database_url)
    db.upgrade(engine)  # `den serve` migrates SQLite only; PostgreSQL is `den db upgrade`'s
    servers: list[Server] = []

    def start(env: dict[str, str]) -> Den:
        settings = {**ROOMY, **env, "DEN_DATABASE_URL": database_url, "DEN_TEMPLATES_DIR": str(templates_dir)}
        server = Server(data_dir=tmp_path, env=settings, serve_args=("--no-reconciler",))
        servers.append(server)  # stopped at the end even if it never became ready
        server.start(timeout=120)  # these tests start many servers, on a busy machine in CI
        return Den(
            server=server,
            engine=engine,
            tokens=_people(server),
            settings=Settings(
                database_url=database_url,
                templates_dir=templates_dir,
                data_dir=tmp_path,
                min_trial_duration=1,
            ),
        )

    yield start
    for server in servers:
        server.stop()
    engine.dispose()


def _people(server: Server) -> dict[str, str]:
    tokens = {}
    for name, (role, department) in PEOPLE.items():
        made = server.call(
            "POST", "/api/v1/users", json={"name": name, "role": role, "department": department}
        )
        assert made.status_code == 201, made.text
        token = server.call("POST", f"/api/v1/users/{name}/tokens", json={})
        assert token.status_code == 201, token.text
        tokens[name] = token.json()["token"]
    return tokens


def burst(den: Den, calls: Sequence[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Send every call at once; meanwhile the server must keep answering its readiness probe."""
    barrier, done, probes = threading.Barrier(len(calls)), threading.Event(), []

    def released(call: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait(timeout=30)
        return call()

    def probe() -> None:
        while not done.is_set():
            probes.append(httpx.get(den.server.url + "/readyz", timeout=10).status_code)

    with ThreadPoolExecutor(len(calls) + 1) as pool:
        prober = pool.submit(probe)
        try:
            answers = list(pool.map(released, calls))
        finally:
            done.set()
        prober.result()
    assert probes and set(probes) == {200}, Counter(probes)
    return answers


def outcomes(answers: list[httpx.Response]) -> Counter[tuple[int, str]]:
    """(status, reason) of each answer; a success has no reason."""
    return Counter(
        (a.status_code, a.json().get("reason", "") if a.status_code >= 400 else "") for a in answers
    )


CAPS = {
    # scope: (settings, who asks (cycled over the burst), template, how many fit)
    "per-person": ({"DEN_MAX_ACTIVE_TRIALS_PER_USER": "3"}, ["alice"], "demo", 3),
    "per-department": ({"DEN_MAX_ACTIVE_TRIALS_PER_DEPARTMENT": "4"}, ["alice", "bob", "dora"], "demo", 4),
    "total": ({"DEN_MAX_ACTIVE_TRIALS": "5"}, ["alice", "carol", "erin", "fred"], "demo", 5),
    # `demo` reserves 0.5 CPU and 256 MiB
    "cpu": ({"DEN_MAX_TOTAL_CPU": "1.5"}, ["alice", "carol", "fred"], "demo", 3),
    "memory": ({"DEN_MAX_TOTAL_MEMORY_MIB": "1280"}, ["alice", "carol", "fred"], "demo", 5),
    "template": (
        {"DEN_TEMPLATE_CAPS": '{"demo": {"max_active_trials": 2}}'},
        ["alice", "carol", "fred"],
        "demo",
        2,
    ),
}


@pytest.mark.parametrize("scope", list(CAPS))
def test_simultaneous_requests_stop_exactly_at_the_cap(
    den: Callable[[dict[str, str]], Den], scope: str
) -> None:
    env, askers, template, fits = CAPS[scope]
    on = den(env)
    answers = burst(on, [partial(on.ask, askers[i % len(askers)], template) for i in range(BURST)])
    assert outcomes(answers) == {(201, ""): fits, (422, "QuotaExceeded"): BURST - fits}
    assert on.count("SELECT count(*) FROM trial") == fits
    assert on.count("SELECT count(*) FROM audit_event WHERE action = 'trial.create'") == fits


def test_simultaneous_extensions_of_one_trial_stop_at_its_template_rules(
    den: Callable[[dict[str, str]], Den],
) -> None:
    """`pair` allows one extension; `long` allows ten but 1200 s in all (600 s + 2 x 300 s)."""
    on = den({})
    pair, long = on.launch("alice", "pair"), on.launch("alice", "long")
    on.run_until_ready()
    half = BURST // 2
    answers = burst(
        on,
        [partial(on.post, "alice", f"/api/v1/trials/{pair}/extend", {"duration_seconds": 60})] * half
        + [partial(on.post, "alice", f"/api/v1/trials/{long}/extend", {"duration_seconds": 300})] * half,
    )
    assert outcomes(answers[:half]) == {(200, ""): 1, (409, "MaxExtensionsReached"): half - 1}
    assert outcomes(answers[half:]) == {(200, ""): 2, (422, "MaxDurationExceeded"): half - 2}
    assert (on.trial(pair)["duration_seconds"], on.trial(pair)["extension_count"]) == (660, 1)
    assert (on.trial(long)["duration_seconds"], on.trial(long)["extension_count"]) == (1200, 2)
    assert on.count("SELECT count(*) FROM audit_event WHERE action = 'trial.extend'") == 3


def test_simultaneous_decisions_on_one_request_apply_once(den: Callable[[dict[str, str]], Den]) -> None:
    """Many approvers approve one waiting extension; others approve or reject one waiting
    trial: one decision each applies, the rest are told it was already made."""
    on = den({"DEN_SELF_SERVICE_MAX_DURATION": "900"})
    running = on.launch("alice", "pair")
    on.run_until_ready()
    asked = on.post("alice", f"/api/v1/trials/{running}/extend", {"duration_seconds": 500})
    assert asked.status_code == 202, asked.text  # 1100 s in all: over self-service
    waiting = on.launch("bob", duration=1000)
    third = BURST // 3
    approvers = [f"ann{i % 5}" for i in range(BURST)]
    answers = burst(
        on,
        [partial(on.post, approvers[i], f"/api/v1/trials/{running}/approve") for i in range(third)]
        + [partial(on.post, approvers[i], f"/api/v1/trials/{waiting}/approve") for i in range(third)]
        + [
            partial(on.post, approvers[i], f"/api/v1/trials/{waiting}/reject", {"reason": "No"})
            for i in range(third)
        ],
    )
    assert outcomes(answers[:third]) == {(200, ""): 1, (409, "NothingToDecide"): third - 1}
    assert (on.trial(running)["duration_seconds"], on.trial(running)["extension_count"]) == (1100, 1)
    assert outcomes(answers[third:]) == {(200, ""): 1, (409, "AlreadyDecided"): 2 * third - 1}
    decided = on.trial(waiting)
    assert (decided["approved_at"] is None) != (decided["rejected_at"] is None)
    assert (
        on.count(
            "SELECT count(*) FROM audit_event WHERE action IN ('trial.approve', "
            "'trial.reject', 'trial.extension.approve')"
        )
        == 2
    )


def test_approvals_with_new_requests_at_once_stay_within_the_cap(
    den: Callable[[dict[str, str]], Den],
) -> None:
    """A trial waiting for approval holds its place under the caps from its request on, so
    approving it never needs room that a request made meanwhile could take."""
    on = den({"DEN_SELF_SERVICE_MAX_DURATION": "900", "DEN_MAX_ACTIVE_TRIALS": "3"})
    waiting = [on.launch(who, duration=1000) for who in ("alice", "carol", "fred")]
    approvals = [
        partial(on.post, f"ann{i}", f"/api/v1/trials/{trial}/approve") for trial in waiting for i in range(3)
    ]
    asks = [partial(on.ask, ("alice", "carol", "fred")[i % 3]) for i in range(BURST - len(approvals))]
    answers = burst(on, approvals + asks)
    for i in range(len(waiting)):
        assert outcomes(answers[3 * i : 3 * i + 3]) == {(200, ""): 1, (409, "AlreadyDecided"): 2}
    assert outcomes(answers[len(approvals) :]) == {(422, "QuotaExceeded"): len(asks)}
    assert on.count("SELECT count(*) FROM trial") == 3
    assert on.count("SELECT count(*) FROM trial WHERE approved_at IS NOT NULL") == 3


def test_simultaneous_first_evaluations_of_a_trial_all_save(den: Callable[[dict[str, str]], Den]) -> None:
    """Each save of a trial's first evaluation used to read "none yet" and then insert one:
    when two interleaved, the second failed with a 500 (a unique key). Now each waits for the
    one before it, and the last to commit is what is kept."""
    on = den({})
    owners = ("alice", "bob", "carol", "erin", "fred")
    trials = [on.launch(person) for person in owners]
    on.run_until_ready()
    for trial, person in zip(trials, owners, strict=True):
        assert on.post(person, f"/api/v1/trials/{trial}/end").status_code == 202
    Reconciler(engine=on.engine, driver=FakeDriver(), settings=on.settings).reconcile_once(
        now=datetime.now(UTC)
    )
    assert {on.trial(t)["phase"] for t in trials} == {"Stopped"}

    def save(i: int) -> httpx.Response:
        return httpx.put(
            f"{on.server.url}/api/v1/trials/{trials[i % len(trials)]}/evaluation",
            json={"status": "draft", "lessons_learned": f"Save {i}"},
            timeout=60,
            headers={"Authorization": f"Bearer {on.tokens[owners[i % len(owners)]]}"},
        )

    answers = burst(on, [partial(save, i) for i in range(BURST)])
    assert outcomes(answers) == {(200, ""): BURST}, [a.text for a in answers if a.status_code != 200][:3]
    for trial in trials:
        assert on.count("SELECT count(*) FROM evaluation WHERE trial_id = :id", id=trial) == 1
