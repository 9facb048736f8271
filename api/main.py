"""The composition root: builds the FastAPI app, wires the API, the web pages (their routes,
their static assets, and their error pages through api/errors.py), the database and, for
`den serve`, the reconciler running beside the API in one process. In front of it all, the
sandboxes' own origins (api/sandbox_origin.py) are answered by the same process."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from fastapi.responses import Response
from sqlmodel import Session

import web
from api import errors, sandbox_origin, sandbox_proxy
from api.middleware import BodyLimit, SecurityHeaders
from api.routes import (
    catalogue,
    challenges,
    decisions,
    evaluations,
    health,
    logs,
    members,
    notifications,
    sandboxes,
    trials,
    users,
)
from orchestrator import __version__, crud, db, leadership, metrics, startup
from orchestrator.drivers import load_driver
from orchestrator.drivers.base import Driver
from orchestrator.lifecycle import Phase
from orchestrator.reconciler import Reconciler
from orchestrator.settings import Settings, get_settings

log = structlog.get_logger("api")


def create_app(
    settings: Settings | None = None,
    *,
    with_reconciler: bool = True,
    driver: Driver | None = None,
    prepared: bool = False,
) -> FastAPI:
    """`driver` (tests) serves both the reconciler and the API's log reads; by default the
    reconciler loads its own and the API loads one when it first serves logs. `prepared`: the
    schema, catalogue and bootstrap token are already in place (`den serve --workers N`)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = db.make_engine(settings.effective_database_url) if prepared else startup.prepare(settings)
        app.state.engine, app.state.settings, app.state.driver = engine, settings, driver
        crud.forget_everything()  # what another database's app left in this process's caches
        # Commits here wake a reconciler in another process on this machine (SQLite).
        unwake = (
            crud.on_intent_change(crud.socket_waker(settings.wake_socket)) if settings.wake_socket else None
        )
        app.state.sandbox_proxy = sandbox_proxy.SandboxProxy(settings)
        stop = threading.Event()
        thread = keeper = None
        if with_reconciler:
            wake = threading.Event()
            # Other `den serve` or `den reconcile` on the same database may run: one leads.
            keeper = app.state.leadership = leadership.build(settings, on_gain=wake.set)
            reconciler = Reconciler(
                engine=engine,
                driver=driver or load_driver(settings),
                settings=settings,
                wake=wake,
                leader=keeper.is_leader,
            )
            thread = threading.Thread(target=reconciler.run, args=(stop,), name="reconciler", daemon=True)
            keeper.start()
            thread.start()
        log.info("started", driver=settings.driver, reconciler=with_reconciler)
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                wake.set()
                thread.join(timeout=10)
            if keeper is not None:
                keeper.stop()
            await app.state.sandbox_proxy.aclose()
            if unwake is not None:
                unwake()
            engine.dispose()

    app = FastAPI(
        title="Innovation Den",
        version=__version__,
        lifespan=lifespan,
        description="Isolated, time-boxed trial sandboxes from supplier templates.",
    )
    errors.install(app, pages=web.render_error)
    app.include_router(health.router)
    app.include_router(catalogue.router)
    for module in (
        trials,
        decisions,
        evaluations,
        logs,
        notifications,
        users,
        sandboxes,
        members,
        challenges,
    ):
        app.include_router(module.router)
    app.include_router(challenges.extension)
    app.include_router(sandboxes.legacy)
    app.include_router(web.router)
    web.mount_assets(app)

    @app.get("/metrics", include_in_schema=False)
    def serve_metrics() -> Response:
        with Session(app.state.engine) as session:
            counts = crud.count_by_phase(session)
        for phase in Phase:
            metrics.TRIALS.labels(phase=str(phase)).set(counts.get(phase, 0))
        body, media_type = metrics.exposition()
        return Response(body, media_type=media_type)

    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    # Outermost: a request for a sandbox's own origin never reaches the den's pages or API.
    app.add_middleware(
        sandbox_origin.SandboxDispatch,
        domain=settings.sandbox_domain,
        sandbox=sandbox_origin.create_sandbox_app(app.state, settings),
    )
    return app
