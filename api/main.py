"""The composition root: builds the FastAPI app, wires the API, the web pages (when present),
the database and, for `den serve`, the reconciler running beside the API in one process."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api import errors
from api.middleware import BodyLimit, SecurityHeaders
from api.routes import catalogue, health, sandboxes, trials
from orchestrator import __version__, startup
from orchestrator.drivers import load_driver
from orchestrator.reconciler import Reconciler
from orchestrator.settings import Settings, get_settings

log = structlog.get_logger("api")


def create_app(settings: Settings | None = None, *, with_reconciler: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = startup.prepare(settings)
        app.state.engine, app.state.settings = engine, settings
        app.state.proxy_client = httpx.AsyncClient(timeout=30, follow_redirects=False)
        stop = threading.Event()
        thread = None
        if with_reconciler:
            reconciler = Reconciler(engine=engine, driver=load_driver(settings), settings=settings)
            app.state.wake = reconciler.wake
            thread = threading.Thread(target=reconciler.run, args=(stop,), name="reconciler",
                                      daemon=True)
            thread.start()
        log.info("started", driver=settings.driver, reconciler=with_reconciler)
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                app.state.wake.set()
                thread.join(timeout=10)
            await app.state.proxy_client.aclose()
            engine.dispose()

    app = FastAPI(
        title="Innovation Den", version=__version__, lifespan=lifespan,
        description="Isolated, time-boxed trial sandboxes from supplier templates.",
    )
    errors.install(app)
    app.include_router(health.router)
    app.include_router(catalogue.router)
    app.include_router(trials.router)
    app.include_router(sandboxes.router)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(SecurityHeaders)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    return app
