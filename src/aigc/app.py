"""create_app(settings): the FastAPI app with its lifespan, routes and console."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from aigc import __version__
from aigc.config import Settings
from aigc.console import api as console_api
from aigc.console import mount as console_mount
from aigc.console import setup as console_setup
from aigc.gateway import error_handlers, first_run, openapi
from aigc.gateway.limits import make_limiter
from aigc.gateway.middleware import GatewayMiddleware
from aigc.gateway.route_forms import RouteForms
from aigc.gateway.routes import admin, files, jobs, openai, ops
from aigc.gateway.routes import conversations as conversation_routes
from aigc.gateway.routes import embeddings as embedding_routes
from aigc.gateway.routes import guard as guard_routes
from aigc.gateway.routes import images as image_routes
from aigc.gateway.routes import knowledge as knowledge_routes
from aigc.gateway.routes import responses as responses_routes
from aigc.gateway.routes import sso as sso_routes
from aigc.gateway.routes import train as train_routes
from aigc.gateway.services import Services
from aigc.infra import audit, heap, loop_lag, migrate, private
from aigc.infra.audit import AuditLog, AuditWriter
from aigc.infra.db import Database
from aigc.infra.storage import storage_for
from aigc.models.defaults import bootstrap_defaults
from aigc.models.family import load_families
from aigc.models.job_runner import job_runner
from aigc.models.registry import ModelRegistry, RemoteServing, ensure_builtin_models

log = logging.getLogger("aigc.app")


def build_services(settings: Settings) -> Services:
    """Migrate the database and construct this process's long-lived objects."""
    private.private_dir(settings.data_dir)  # 0700, whatever the umask
    migrate.upgrade(settings.db_url)
    db = Database(settings.db_url)
    audit_log = AuditLog(db, settings.server_secret())
    limiter = make_limiter(
        settings.redis_url, daily_usage=lambda tenant, day: audit.tokens_used_on(db, tenant, day)
    )
    storage = storage_for(settings)
    return Services(
        settings=settings,
        db=db,
        registry=ModelRegistry(
            settings.import_roots,
            storage,
            settings.data_dir / "cache",
            remote=remote_serving(settings),
        ),
        limiter=limiter,
        audit_log=audit_log,
        audit=AuditWriter(audit_log),
        storage=storage,
    )


def remote_serving(settings: Settings) -> RemoteServing | None:
    """Ray Serve when an address is set (Ray is imported only then: the embedded default
    needs no Ray); None: every model in this process."""
    if not settings.ray_address:
        return None
    from aigc.models.ray_serving import RayServing

    return RayServing(settings)


async def deploy_remote_models(services: Services) -> None:
    """``aigc serve`` starts or updates each model's Serve application before it answers."""
    remote = services.registry.remote
    if remote is None:
        return
    from aigc.models.ray_serving import RayServing

    assert isinstance(remote, RayServing)
    names = await run_in_threadpool(remote.deploy_all, services.db)
    log.info("models on Ray Serve: %s", ", ".join(names) or "none yet")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = build_services(settings)
        with services.db.session() as session:
            message = first_run.first_start(session, settings)
            ensure_builtin_models(session)
        if message:
            first_run.announce(message, settings.data_dir)
        services.audit.start()
        load_families(settings.family_modules)  # every family's loader and training job
        if settings.default_models:
            bootstrap_defaults(services.db, settings)
        await deploy_remote_models(services)
        runner = job_runner(services.db, settings, f"{socket.gethostname()}:{os.getpid()}")
        runner.start()
        app.state.services = services
        app.state.jobs = runner
        log.info("aigc %s serving at %s", __version__, settings.base_url)
        try:
            with heap.frozen_startup_heap():
                async with loop_lag.watching(), heap.trimming_when_idle():
                    yield
        finally:
            runner.stop()  # a running job goes back to the queue; the next start resumes it
            # uvicorn has finished in-flight requests (streams included) before this runs.
            await console_api.close()
            services.audit.close()
            await services.limiter.close()
            services.db.dispose()
            log.info("aigc stopped")

    app = FastAPI(
        title="aigc",
        version=__version__,
        description="Self-hosted AIGC platform: OpenAI-compatible API under /v1, management "
        "under /api. A string in a JSON body may hold any Unicode character but the NUL "
        "character (U+0000), which no text column of PostgreSQL can store, and it may not "
        "hold half of a surrogate pair: such a body is a 400 with the code invalid_json.",
        lifespan=lifespan,
    )
    error_handlers.install(app)
    openapi.install(app)
    app.include_router(ops.router)
    app.include_router(openai.router)
    app.include_router(responses_routes.router)
    app.include_router(admin.router)
    app.include_router(sso_routes.router)
    app.include_router(files.router)
    app.include_router(jobs.router)
    app.include_router(knowledge_routes.router)
    app.include_router(embedding_routes.router)
    app.include_router(train_routes.router)
    app.include_router(guard_routes.router)
    app.include_router(image_routes.router)
    app.include_router(conversation_routes.router)
    app.include_router(console_setup.router)

    if settings.console:
        console_mount.mount(app, settings)  # last: the console catches every other path
    app.add_middleware(RouteForms)  # HEAD on GET routes; paths with a trailing slash
    app.add_middleware(
        GatewayMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    return app
