"""The real app driven in process: its lifespan as uvicorn runs it, and an admin client
through httpx's ASGI transport, no server process. Route tests beside the end-to-end ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from aigc.app import create_app
from aigc.config import Settings


@asynccontextmanager
async def admin_client(app: FastAPI, admin_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client of a started ``app``."""
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://aigc.test", headers=headers
    ) as client:
        yield client


@asynccontextmanager
async def started_app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app of ``settings``, started, and an admin client of it (``settings.admin_key``)."""
    assert settings.admin_key is not None
    app = create_app(settings)
    key = settings.admin_key.get_secret_value()
    async with app.router.lifespan_context(app), admin_client(app, key) as client:
        yield client
