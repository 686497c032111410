"""A minimal app for the signing helper's branch only (issue 12): serves portal.signing's
router so its tests run. At merge the partner portal's app.py replaces this file; the router
uses nothing of it but app.state.pool and app.state.temporal (CONTRACT.md)."""

from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

import config
from portal import signing
from store.db import create_pool


def create_app(pool: Any = None, temporal: Any = None) -> FastAPI:
    """Given a pool and a Temporal client (tests), uses them; else connects at startup to
    DATABASE_URL and Temporal with the starter's settings and key ring."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        own_pool = None
        if pool is None:
            own_pool = await create_pool(config.database_url())
        app.state.pool = pool or own_pool
        app.state.temporal = temporal or await config.connect_temporal()
        try:
            yield
        finally:
            if own_pool is not None:
                await own_pool.close()

    app = FastAPI(title="partnerflow", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    if pool is not None:  # usable without the lifespan (httpx's ASGI transport)
        app.state.pool, app.state.temporal = pool, temporal
    app.include_router(signing.router)
    return app
