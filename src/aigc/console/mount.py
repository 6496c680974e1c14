"""Mount the NiceGUI console into the platform's FastAPI app, at ``/``.

API paths keep their JSON errors: unknown ``/v1`` and ``/api`` URLs, and known ones asked with
another method, are answered (404, or 405 with ``Allow``) before the console's catch-all mount
sees them, whatever the method (``gateway/unmatched.py``).
"""

from __future__ import annotations

from fastapi import FastAPI

from aigc.config import Settings
from aigc.gateway.unmatched import ANY_METHOD, unmatched


def mount(app: FastAPI, settings: Settings) -> None:
    from nicegui import ui

    from aigc.console import api, routes, session, sso_routes
    from aigc.console.page_policy import PagePolicy
    from aigc.console.pages import admin, chat, errors, images, knowledge, login, models, training  # noqa: F401
    from aigc.console.upload_guard import UploadGuard

    session.attach(app)
    api.configure(settings.host, settings.port)
    app.include_router(routes.router)
    app.include_router(sso_routes.router)

    for prefix in ("/v1", "/api"):
        app.add_api_route(
            f"{prefix}/{{path:path}}", unmatched, methods=ANY_METHOD, include_in_schema=False
        )
    app.add_middleware(PagePolicy)  # what a page may load: see page_policy.py
    app.add_middleware(UploadGuard)  # each uploader's own size limit, on the server
    ui.run_with(
        app,
        mount_path="/",
        title="aigc",
        favicon="🧠",
        show_welcome_message=False,
        reconnect_timeout=10,
        root=errors.not_found,  # builds every address no page claims: a friendly 404
    )
