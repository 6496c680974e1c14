"""Console usability across pages: keyboard use and focus rings, small screens, friendly errors,
and a chat page that keeps still while an answer streams in."""

from __future__ import annotations

import re
from typing import Any

import httpx
from starlette.requests import Request

from tests.e2e.console.conftest import add_user, shot
from tests.e2e.console.test_chat import SLOW, SLOW_YAML
from tests.e2e.server import Org, Server

SMALL_SCREENS = ({"width": 1280, "height": 720}, {"width": 1366, "height": 768})
PAGES = (
    "/chat",
    "/images",
    "/knowledge",
    "/models",
    "/training",
    "/admin/users",
    "/admin/keys",
    "/admin/usage",
    "/admin/audit",
    "/admin/policies",
)
# What has keyboard focus, and whether it shows a ring: an outline or a box-shadow on the
# element, or on the whole field when the element is the bare <input> inside a Quasar field.
FOCUSED = """() => {
  const el = document.activeElement;
  const field = el.closest('.q-field');
  const style = getComputedStyle(field ? field.querySelector('.q-field__control') : el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
  return {
    testid: el.closest('[data-testid]')?.getAttribute('data-testid') || el.tagName,
    ring: outline || style.boxShadow !== 'none',
    label: el.getAttribute('aria-label') || '',
    inMain: !!el.closest('#main'),
  };
}"""


def _focused(page: Any) -> dict[str, Any]:
    return page.evaluate(FOCUSED)  # type: ignore[no-any-return]


def _tab_to(page: Any, testid: str, limit: int = 40) -> list[dict[str, Any]]:
    """Press Tab until ``testid`` has focus; every stop on the way must show a focus ring."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = _focused(page)
        seen.append(now)
        if now["testid"] != "BODY":
            assert now["ring"], f"no visible focus indicator on {now['testid']}"
        if now["testid"] == testid:
            return seen
    raise AssertionError(f"{testid} not reached with Tab: {[s['testid'] for s in seen]}")


def test_keyboard_only_sign_in_and_visible_focus(
    new_page: Any, server: Server, console_org: Org
) -> None:
    member = add_user(server, console_org, "member")
    page = new_page()
    page.set_viewport_size(SMALL_SCREENS[0])
    page.goto("/login?next=/chat")
    page.get_by_test_id("signin").wait_for()
    if _focused(page)["testid"] != "username":  # the field has autofocus; else Tab reaches it
        _tab_to(page, "username", limit=5)
    assert _focused(page)["ring"]
    page.keyboard.type(member.username)
    page.keyboard.press("Tab")
    assert _focused(page)["testid"] == "password" and _focused(page)["ring"]
    page.keyboard.type(member.password)
    page.keyboard.press("Tab")
    assert _focused(page)["testid"] == "signin" and _focused(page)["ring"]  # Quasar button
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/chat$"))
    page.get_by_test_id("chat-input").wait_for()

    # The header's controls, every navigation link and then the chat input, all by Tab.
    path = _tab_to(page, "chat-input")
    reached = {stop["testid"]: stop for stop in path}
    for testid in ("skip", "menu", "lang-en", "lang-zh-CN", "signout", "conv-new"):
        assert testid in reached, testid
    for testid in ("nav-chat", "nav-images", "nav-knowledge", "nav-models", "nav-training"):
        assert testid in reached, testid
    assert reached["menu"]["label"] == "Menu"
    assert reached["lang-en"]["label"] == "Language: English"
    assert reached["lang-zh-CN"]["label"] == "Language: 中文"
    assert reached["signout"]["label"] == "Sign out"
    page.keyboard.press("Tab")
    assert _focused(page)["testid"] == "chat-send" and _focused(page)["ring"]
    shot(page, "usability-focus")

    # "Skip to content" jumps over the header and the drawer into the page itself.
    page.goto("/chat")
    page.get_by_test_id("chat-input").wait_for()
    page.keyboard.press("Tab")
    assert _focused(page)["testid"] == "skip" and _focused(page)["ring"]
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert _focused(page)["inMain"] and _focused(page)["testid"] == "conv-new"

    # The menu button folds the drawer away and back, and says which state it is in.
    menu = page.get_by_test_id("menu")
    menu.focus()
    page.keyboard.press("Enter")
    page.get_by_test_id("nav-chat").wait_for(state="hidden")
    assert menu.get_attribute("aria-expanded") == "false"
    page.keyboard.press("Enter")
    page.get_by_test_id("nav-chat").wait_for()
    assert menu.get_attribute("aria-expanded") == "true"


def test_every_page_fits_small_screens(new_page: Any, server: Server, console_org: Org) -> None:
    admin = add_user(server, console_org, "admin")
    page = new_page(admin)
    for size in SMALL_SCREENS:
        page.set_viewport_size(size)
        for path in PAGES:
            page.goto(path)
            title = page.get_by_test_id("page-title")
            title.wait_for()
            page.wait_for_timeout(200)  # charts and tables settle
            width = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
            assert width[0] <= width[1], f"{path} scrolls sideways at {size}: {width}"
            box = title.bounding_box()
            assert box and box["y"] >= 0 and box["y"] + box["height"] <= size["height"], path
            assert title.is_visible()
    # The drawer is fixed to the viewport: after scrolling a long page it still reaches the
    # bottom edge (full-page screenshots cut it off only because they stretch the page).
    page.set_viewport_size(SMALL_SCREENS[0])
    page.goto("/admin/usage")
    page.get_by_test_id("page-title").wait_for()
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    drawer = page.evaluate(
        "() => { const r = document.querySelector('.q-drawer').getBoundingClientRect();"
        " return [scrollY, r.top, r.bottom, innerHeight]; }"
    )
    assert drawer[0] > 0, "the page should be long enough to scroll"
    assert drawer[1] <= 80 and drawer[2] >= drawer[3] - 1, drawer
    page.goto("/chat")
    page.get_by_test_id("chat-input").wait_for()
    shot(page, "usability-1280")


def test_unknown_address_and_missing_records_are_explained(
    new_page: Any, server: Server, console_org: Org
) -> None:
    member = add_user(server, console_org, "member")
    page = new_page()
    page.goto("/no-such-page")  # signed out: the sign-in page first, as everywhere
    page.wait_for_url(re.compile(r"/login\?next=/no-such-page$"))
    page.get_by_test_id("username").fill(member.username)
    page.get_by_test_id("password").fill(member.password)
    page.get_by_test_id("signin").click()
    page.wait_for_url(re.compile(r"/no-such-page$"))
    body = page.get_by_test_id("not-found")
    body.wait_for()
    assert page.get_by_test_id("page-title").inner_text() == "Page not found"
    assert page.get_by_test_id("nav-chat").is_visible()  # inside the usual frame
    text = page.locator("body").inner_text()
    for leak in ("Traceback", "HTTPException", "404: Not Found", "This page doesn't exist"):
        assert leak not in text
    response = page.goto("/no/such/page/either")
    assert response is not None and response.status == 404
    page.get_by_test_id("not-found").wait_for()
    shot(page, "not-found")
    page.get_by_test_id("error-back").click()
    page.wait_for_url(re.compile(r"/chat$"))

    page.goto("/no-such-page")
    page.get_by_test_id("lang-zh-CN").click()
    page.wait_for_url(re.compile(r"/no-such-page$"))
    assert page.get_by_test_id("page-title").inner_text() == "页面不存在"
    page.get_by_test_id("lang-en").click()
    page.wait_for_url(re.compile(r"/no-such-page$"))

    # A page whose API call fails says so in words, inside the frame.
    for path in ("/knowledge/kb_doesnotexist", "/knowledge/kb_doesnotexist/documents/doc_x"):
        page.goto(path)
        missing = page.get_by_test_id("kb-missing")
        missing.wait_for()
        assert "Traceback" not in page.locator("body").inner_text()
        assert page.get_by_test_id("nav-chat").is_visible()

    # API addresses keep their JSON errors.
    api = httpx.get(f"{server.base_url}/api/no-such-endpoint")
    assert api.status_code == 404 and api.json()["error"]["code"] == "unknown_url"


def test_a_failing_page_shows_no_details() -> None:
    """NiceGUI calls the console's page-exception handler instead of its own error page (which
    prints the exception's class and message); ours names neither, in the person's language."""
    from nicegui import app
    from nicegui.client import Client
    from nicegui.page import page

    from aigc.console.pages import errors

    assert app._page_exception_handler is errors.page_failed
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/chat",
            "query_string": b"",
            "headers": [(b"accept-language", b"zh-CN,zh;q=0.9")],
        }
    )
    with Client(page(""), request=request) as client:
        errors.page_failed(RuntimeError("database password=hunter2"))
    try:
        texts = [str(getattr(e, "text", "")) for e in client.elements.values()]
    finally:
        client.delete()
    assert "无法显示此页面" in texts
    assert not any("hunter2" in t or "RuntimeError" in t for t in texts)


def test_chat_input_stays_put_while_an_answer_streams(
    new_page: Any, server: Server, console_org: Org
) -> None:
    key = console_org.admin_key
    if server.api("GET", f"/v1/models/{SLOW}", key=key).status_code == 404:
        made = server.api(
            "POST", "/api/models", key=key, json={"id": SLOW, "config": {"yaml": SLOW_YAML}}
        )
        assert made.status_code in (201, 409), made.text  # 409: test_chat made it meanwhile
    member = add_user(server, console_org, "member")
    page = new_page(member)
    page.set_viewport_size(SMALL_SCREENS[0])
    page.get_by_test_id("chat-model").click()
    page.get_by_role("option", name=SLOW, exact=True).click()
    watched = [page.get_by_test_id(t) for t in ("chat-input", "chat-send", "chat-messages")]

    def boxes() -> list[tuple[float, ...]]:
        found = [w.bounding_box() for w in watched]
        assert all(found)
        return [tuple(round(b[k], 1) for k in ("x", "y", "width", "height")) for b in found]  # type: ignore[index]

    page.get_by_test_id("chat-input").fill("How do I connect to the VPN?")
    before = boxes()
    page.get_by_test_id("chat-send").click()
    answer = page.get_by_test_id("chat-answer").first
    page.wait_for_function("el => el.innerText.length > 10", arg=answer.element_handle())
    during = []
    while page.get_by_test_id("chat-stop").is_enabled():
        during.append(boxes())
        page.wait_for_timeout(100)
    page.get_by_test_id("chat-thumb-up").wait_for()
    after = boxes()
    assert len(during) >= 3, "the answer should take a while to stream"
    assert "Step 8" in answer.inner_text()
    for sample in [*during, after]:
        assert sample == before
