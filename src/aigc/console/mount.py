"""Mount the NiceGUI console into the platform's FastAPI app, at ``/``.

API paths keep their JSON 404s: unknown ``/v1`` and ``/api`` URLs are answered before the
console's catch-all mount sees them.
"""

from __future__ import annotations

from fastapi import FastAPI

from aigc.config import Settings
from aigc.errors import NotFound


def mount(app: FastAPI, settings: Settings) -> None:
    from nicegui import ui

    from aigc.console import api, routes, session
    from aigc.console.pages import admin, chat, errors, images, knowledge, login, models, training  # noqa: F401

    session.attach(app)
    api.configure(settings.host, settings.port)
    app.include_router(routes.router)

    for prefix in ("/v1", "/api"):

        async def unknown(path: str) -> None:
            raise NotFound("Unknown URL: no such endpoint", code="unknown_url")

        app.add_api_route(
            f"{prefix}/{{path:path}}",
            unknown,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            include_in_schema=False,
        )
    ui.run_with(
        app,
        mount_path="/",
        title="aigc",
        favicon="🧠",
        show_welcome_message=False,
        reconnect_timeout=10,
        root=errors.not_found,  # builds every address no page claims: a friendly 404
    )
