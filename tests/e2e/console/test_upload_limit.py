"""An uploader's size limit holds on the server, not only in the browser: a signed-in person
posting straight to a page's upload address (NiceGUI's ``/_nicegui/client/<id>/upload/<id>``)
is refused, in their language, before the server reads the body; a fitting upload still works.
"""

from __future__ import annotations

import io
import json
import socket
from typing import Any

import httpx
from PIL import Image

from tests.e2e.console.conftest import add_user, wait_connected
from tests.e2e.server import Org, Server

# Well over the Chat page's image limit, well under the platform's max_upload_bytes (512 MiB).
OVERSIZED = 100 * 1024 * 1024


def _upload_address(page: Any, testid: str) -> str:
    """The address the uploader posts to: this page's client id and the element's id."""
    client_id = page.evaluate("() => window.clientId")
    element = page.get_by_test_id(testid).get_attribute("id")  # NiceGUI's "c<id>"
    return f"/_nicegui/client/{client_id}/upload/{element.removeprefix('c')}"


def _cookie_header(page: Any) -> str:
    return "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())


def _headers_only(server: Server, path: str, cookies: str, length: str) -> tuple[str, bytes]:
    """Send a POST's head alone, asking to be told before the body goes (Expect:
    100-continue), and read what the server answers first: its status line and the rest."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nCookie: {cookies}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"{length}Expect: 100-continue\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        status = answer.split(b"\r\n", 1)[0].decode()
        if status.split(" ")[1:2] != ["100"]:
            _, _, rest = answer.partition(b"\r\n\r\n")
            sock.settimeout(30)
            while True:  # the refusal closes the connection: read its body to the end
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            return status, rest
        return status, b""


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 10)).save(buffer, "PNG")
    return buffer.getvalue()


def test_an_oversized_upload_posted_past_the_browser_is_refused_unread(
    new_page: Any, server: Server, console_org: Org
) -> None:
    member = add_user(server, console_org, "member")
    page = new_page(member, lang="zh-CN")
    page.goto("/console/lang/zh-CN?next=/chat")
    page.wait_for_url(lambda url: url.endswith("/chat"))
    wait_connected(page)
    path = _upload_address(page, "chat-attach")
    cookies = _cookie_header(page)
    assert "aigc_session=" in cookies and "aigc_lang=zh-CN" in cookies

    # The head alone: refused before any of the body is asked for (no "100 Continue").
    status, body = _headers_only(server, path, cookies, f"Content-Length: {OVERSIZED}\r\n")
    assert status.startswith("HTTP/1.1 413"), status
    error = json.loads(body)["error"]
    assert error["code"] == "request_too_large"
    assert "上传内容超过了" in error["message"]  # in the person's language

    # A body that does not say its length could be any length: refused the same way.
    status, body = _headers_only(server, path, cookies, "Transfer-Encoding: chunked\r\n")
    assert status.startswith("HTTP/1.1 411"), status
    assert json.loads(body)["error"]["code"] == "length_required"

    # A fitting upload to the same address still arrives and is shown on the page.
    fits = httpx.post(
        server.base_url + path,
        files={"file": ("小图.png", _png(), "image/png")},
        headers={"Cookie": cookies},
        timeout=30,
    )
    assert fits.status_code == 200, fits.text
    page.get_by_test_id("chat-attachment-image").wait_for()
    assert page.get_by_test_id("chat-attachment-image").get_attribute("alt") == "小图.png"


def test_the_knowledge_base_uploader_keeps_its_document_limit(
    new_page: Any, server: Server, console_org: Org
) -> None:
    """One document a request, at most ``kb_max_document_bytes`` (100 MiB): a larger declared
    body is refused unread, though the platform takes uploads up to 512 MiB elsewhere."""
    admin = add_user(server, console_org, "admin")
    kb = server.api(
        "POST", "/api/kb", key=console_org.admin_key, json={"name": "Limits", "dense": False}
    ).json()
    page = new_page(admin, path=f"/knowledge/{kb['id']}")
    path = _upload_address(page, "kb-upload")
    length = f"Content-Length: {200 * 1024 * 1024}\r\n"
    status, body = _headers_only(server, path, _cookie_header(page), length)
    assert status.startswith("HTTP/1.1 413"), status
    assert json.loads(body)["error"]["message"] == (
        "This upload is larger than the limit of 100 MB."
    )
