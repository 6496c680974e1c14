"""Browser fixtures: Playwright driving Debian's Chromium (never a downloaded browser).

Every console test signs in as a real user of a real server; screenshots go to
tests/e2e/screenshots/ (git-ignored) so a person can look at each page after a run.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.server import Org, Server, make_org

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
PASSWORD = "correct horse battery"

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    """One Chromium for the console tests. Package scope, not session: Playwright's sync API
    keeps an event loop running on this thread while it is open, and later tests that call
    ``asyncio.run`` would fail under it."""
    with chromium() as launched:
        yield launched


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, under Playwright; closed at the end. Skips the test when
    it is not installed. Each fixture that wants a browser says only its scope."""
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed ({CHROMIUM}, Debian's package)")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@dataclass
class ConsoleUser:
    username: str
    password: str
    role: str
    id: str


def add_user(server: Server, org: Org, role: str) -> ConsoleUser:
    """A person in ``org`` with a password, made by the org's admin through the API."""
    username = f"{role}-{secrets.token_hex(4)}"
    response = server.api(
        "POST",
        "/api/users",
        key=org.admin_key,
        json={"username": username, "password": PASSWORD, "role": role},
    )
    assert response.status_code == 201, response.text
    return ConsoleUser(username, PASSWORD, role, response.json()["id"])


@pytest.fixture(scope="session")
def console_org(server: Server) -> Org:
    """An organization used only by the console tests."""
    return make_org(server, f"Console Org {secrets.token_hex(3)}")


@pytest.fixture()
def new_page(browser: object, server: Server) -> Iterator[Callable[..., object]]:
    """``new_page(user, lang="en")``: a fresh browser context, signed in as ``user``."""
    contexts: list[object] = []

    def open_page(user: ConsoleUser | None = None, lang: str = "en", path: str = "/chat") -> object:
        context = browser.new_context(  # type: ignore[attr-defined]
            base_url=server.base_url,
            locale=lang,
            viewport={"width": 1366, "height": 900},
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        if user is not None:
            sign_in(page, user, path)
        return page

    yield open_page
    for context in contexts:
        context.close()  # type: ignore[attr-defined]


def sign_in(page: object, user: ConsoleUser, path: str = "/chat") -> None:
    page.goto(f"/login?next={path}")  # type: ignore[attr-defined]
    page.get_by_test_id("username").fill(user.username)  # type: ignore[attr-defined]
    page.get_by_test_id("password").fill(user.password)  # type: ignore[attr-defined]
    page.get_by_test_id("signin").click()  # type: ignore[attr-defined]
    page.wait_for_url(lambda url: urlsplit(url).path == path)  # type: ignore[attr-defined]
    wait_connected(page)


def wait_connected(page: object) -> None:
    """Until the page's socket has done NiceGUI's handshake. Before it, what a person types is
    held in the browser and sent later, each event on its own timer; a test that fills a form
    and saves on a slow machine then races those timers against the click."""
    page.wait_for_function("() => window.did_handshake === true")  # type: ignore[attr-defined]


def shot(page: object, name: str) -> Path:
    """Save a full-page screenshot under tests/e2e/screenshots/ and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
