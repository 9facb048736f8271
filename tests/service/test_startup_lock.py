"""Processes starting together on one database (the Helm chart's API replicas and reconciler):
migrations and the start-up catalogue load run one at a time, and never fail on each other."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, func
from sqlmodel import Session, select

from orchestrator import db, startup
from orchestrator.models import TemplateVersion, User
from orchestrator.settings import Settings


def test_exclusive_runs_one_holder_at_a_time(engine: Engine) -> None:
    inside: list[str] = []
    overlaps: list[str] = []
    entered = threading.Event()

    def hold(name: str, seconds: float) -> None:
        with db.exclusive(engine):
            if inside:
                overlaps.append(f"{name} entered while {inside} held it")
            inside.append(name)
            entered.set()
            time.sleep(seconds)
            inside.remove(name)

    first = threading.Thread(target=hold, args=("first", 0.4))
    first.start()
    entered.wait(5)
    second = threading.Thread(target=hold, args=("second", 0.0))
    second.start()
    first.join()
    second.join()
    assert overlaps == []


def test_concurrent_start_ups_publish_the_catalogue_once(settings: Settings, engine: Engine) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        engines = list(pool.map(lambda _: startup.prepare(settings), range(4)))
    for started in engines:
        started.dispose()
    with Session(engine) as session:
        versions = session.exec(select(func.count()).select_from(TemplateVersion)).one()
        admins = session.exec(select(func.count()).select_from(User)).one()
    assert versions == len(list((settings.templates_dir or settings.data_dir).glob("*/template.yaml")))
    assert admins == 1
