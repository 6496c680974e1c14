"""The ``x-error-details`` header carries a refusal's kind and values, some of them the
caller's own text: it must stay one line of printable ASCII, bounded, whatever that text holds
(line breaks that would start a header of their own, Chinese, megabytes), and the refusal a 400,
never a 500 from a header the server could not write."""

from __future__ import annotations

import json

from tests.e2e.server import Org, Server
from tests.engine.stub_openai import StubServer

HOSTILE = "text/x\r\nSet-Cookie: aigc_session=evil\r\n\r\n<script>文字</script>" + "A" * 100_000


def test_a_refusal_echoing_the_callers_text_keeps_its_header_one_ascii_line(
    server: Server, org_a: Org, stub: StubServer
) -> None:
    model = stub.register(server, model="vision", vision=True)
    url = f"data:{HOSTILE};base64,AAAA"
    content = [{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": url}}]
    answer = server.api(
        "POST",
        "/v1/chat/completions",
        key=org_a.member_key,
        json={"model": model, "messages": [{"role": "user", "content": content}]},
    )
    assert answer.status_code == 400, answer.text[:300]
    assert "set-cookie" not in answer.headers
    raw = answer.headers.get("x-error-details")
    assert raw is not None and len(raw) <= 4000
    assert raw.isascii() and raw.isprintable()
    (detail,) = json.loads(raw)
    shown = detail["ctx"]["type"]
    assert "\r" not in shown and "\n" not in shown and len(shown) <= 40
