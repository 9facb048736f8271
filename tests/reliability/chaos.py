"""Kill -9 at random points: a seeded run of launch, end and expire actions against a real
`den serve`, killing it after each and checking the promises of crash safety on restart.

After every restart:

- no lost trial record: every trial the API accepted is still there;
- no orphan: everything in the runtime labelled with this server's instance belongs to a trial
  that exists and is not Stopped (given a few seconds: the first pass after a start sweeps);
- expiry is not forgotten: a trial whose time ran out a while ago is Stopped.

At the end every trial is ended, each reaches Stopped with the reason that fits what was done to
it, and nothing of the instance is left in the runtime.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from random import Random
from typing import Any

from tests.e2e.server import Server

Inventory = Callable[[], dict[str, list[str]]]
LIVE = ("PendingApproval", "Requested", "Provisioning", "Ready")


@dataclass
class Chaos:
    server: Server
    inventory: Inventory
    random: Random
    templates: tuple[str, ...]
    expiring: tuple[int, int] = (2, 8)  # seconds a short trial lasts
    max_live: int = 4
    kill_within: float = 1.5  # seconds after an action
    settle: float = 20.0  # seconds the runtime may take to match the records after a restart
    ended: set[str] = field(default_factory=set)
    short: set[str] = field(default_factory=set)
    history: list[str] = field(default_factory=list)

    # --- one cycle ------------------------------------------------------------------------

    def cycle(self, number: int) -> None:
        self.act(number)
        delay = self.random.uniform(0, self.kill_within)
        time.sleep(delay)
        self.history.append(f"{number}: kill -9 after {delay:.2f} s")
        self.server.kill()
        self.server.start()
        self.check(number)

    def act(self, number: int) -> None:
        live = [t["id"] for t in self.trials() if t["phase"] in LIVE]
        choice = self.random.choice(["short", "long", "end"] if live else ["short", "long"])
        if len(live) >= self.max_live:
            choice = "end"
        if choice == "end":
            trial_id = self.random.choice(sorted(live))
            answer = self.server.call("POST", f"/api/v1/trials/{trial_id}/end")
            assert answer.status_code in (202, 409), answer.text  # 409: already on its way out
            self.ended.add(trial_id)
            self.history.append(f"{number}: end {trial_id}")
            return
        template = self.random.choice(self.templates)
        duration = self.random.randint(*self.expiring) if choice == "short" else 600
        trial = self.server.launch(template, duration=duration)
        if choice == "short":
            self.short.add(trial["id"])
        self.history.append(f"{number}: launch {template} for {duration} s -> {trial['id']}")

    # --- the promises ---------------------------------------------------------------------

    def trials(self) -> list[dict[str, Any]]:
        answer = self.server.call("GET", "/api/v1/trials")
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def check(self, number: int) -> None:
        known = {t["id"]: t for t in self.trials()}
        lost = sorted(set(self.server.launched) - set(known))
        assert not lost, self.explain(f"after kill {number}: trial records lost: {lost}")
        deadline = time.monotonic() + self.settle
        while (orphans := self.orphans()) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not orphans, self.explain(f"after kill {number}: orphans {orphans}")
        now = datetime.now(UTC)
        overdue = [
            t
            for t in self.trials()
            if t["phase"] != "Stopped"
            and t["expires_at"]
            and (now - datetime.fromisoformat(t["expires_at"])).total_seconds() > self.settle
        ]
        assert not overdue, self.explain(
            f"after kill {number}: expired but not stopped: {[(t['id'], t['phase']) for t in overdue]}"
        )

    def orphans(self) -> dict[str, list[str]]:
        """Runtime resources of no trial, or of a Stopped one. Phases are read first: a trial
        Stopped then can have nothing left by the time the runtime is read."""
        phases = {t["id"]: t["phase"] for t in self.trials()}
        return {
            trial_id: names
            for trial_id, names in self.inventory().items()
            if phases.get(trial_id, "Stopped") == "Stopped"
        }

    def finish(self, timeout: float = 120) -> None:
        """Let the short trials expire, end the others; each reaches Stopped for the right
        reason, and nothing of this instance is left in the runtime."""
        self.stopped(self.short - self.ended, timeout)
        for trial in self.trials():
            if trial["phase"] in LIVE:
                self.server.call("POST", f"/api/v1/trials/{trial['id']}/end")
                self.ended.add(trial["id"])
        self.stopped(set(self.server.launched), timeout)
        for trial in self.trials():
            expected = (
                {"Expired"}
                if trial["id"] not in self.ended
                else {"UserRequested", "Expired"}
                if trial["id"] in self.short
                else {"UserRequested"}
            )
            assert trial["reason"] in expected, self.explain(
                f"{trial['id']} stopped for {trial['reason']} ({trial['message']}), not {sorted(expected)}"
            )
        assert self.inventory() == {}, self.explain(f"left behind: {self.inventory()}")

    def stopped(self, trial_ids: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while waiting := [
            (t["id"], t["phase"]) for t in self.trials() if t["id"] in trial_ids and t["phase"] != "Stopped"
        ]:
            assert time.monotonic() < deadline, self.explain(f"not stopped: {waiting}")
            time.sleep(0.5)

    def explain(self, problem: str) -> str:
        return "\n".join(
            [problem, "what was done:", *self.history[-30:], "server log:", self.server.log_tail(30)]
        )
