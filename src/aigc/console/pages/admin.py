"""Console: the Admin area (admin role or above), one sub-page per section under /admin/.

Each section lives in its own module; importing them here registers their pages, so the
console's mount needs to name only this one.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from aigc.console.pages import (  # noqa: F401  (each module registers its page)
    admin_audit,
    admin_keys,
    admin_policies,
    admin_sso,
    admin_tenants,
    admin_usage,
    admin_users,
)
from aigc.console.session import gate


@ui.page("/admin")
async def admin_home(request: Request) -> RedirectResponse:
    """The first section; lower roles end at /forbidden like on every admin page."""
    user = await gate(request, "admin")
    if isinstance(user, RedirectResponse):
        return user
    return RedirectResponse("/admin/users", status_code=303)
