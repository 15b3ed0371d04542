"""The facade's application factory: settings in, a FastAPI app out (``tensorone serve`` runs it)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from tensorone import __version__
from tensorone.catalog import load_catalog
from tensorone.facade import dashboard, docs, errors, openapi
from tensorone.facade.auth import KeyRing
from tensorone.facade.deps import Facade
from tensorone.facade.kube import Connection, KubeClient
from tensorone.facade.limits import ClientRateLimit, RateLimiter, RequestBodyGuard
from tensorone.facade.metrics import MetricsMiddleware
from tensorone.facade.routers import datasets, jobs, service
from tensorone.facade.settings import Settings
from tensorone.facade.store import Store

DESCRIPTION = (
    "Training Jobs API v2 of TensorOne Training. Authenticate with `Authorization: Bearer <api-key>`. "
    "Errors are `{error, message, details}` with the codes of the contract."
)


def build_facade(settings: Settings) -> Facade:
    kube = KubeClient(Connection.discover(settings.kubeconfig), timeout=settings.kube_timeout_seconds)
    catalog = load_catalog(settings.catalog_path)
    return Facade(
        settings=settings,
        kube=kube,
        catalog=catalog,
        store=Store(kube, catalog, settings.node_cache_seconds),
        keys=KeyRing(kube, settings),
        limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
        client_limiter=RateLimiter(
            settings.client_rate_limit_per_second, settings.client_rate_limit_burst, "this client"
        ),
        auth_failure_limiter=RateLimiter(
            settings.auth_failure_rate_per_second,
            settings.auth_failure_burst,
            "this client with invalid keys",
        ),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The facade for ``settings`` (default: from the environment)."""
    facade = build_facade(settings or Settings.from_env())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        watcher = asyncio.create_task(facade.keys.watch(), name="api-key-watch")
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await facade.store.close()
            await facade.kube.aclose()

    app = FastAPI(
        title="TensorOne Training API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.facade = facade
    errors.install(app)
    openapi.install(app)
    docs.install(app)
    app.include_router(jobs.router)
    app.include_router(datasets.router)
    app.include_router(service.router)
    dashboard.install(app)
    # Outermost last: metrics see every answer; a client over its rate is refused before its body is read.
    app.add_middleware(RequestBodyGuard, max_bytes=facade.settings.max_body_bytes)
    app.add_middleware(ClientRateLimit, requests=facade.client_limiter, failures=facade.auth_failure_limiter)
    app.add_middleware(MetricsMiddleware, metrics=facade.metrics)
    return app
