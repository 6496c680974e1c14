"""A fresh install offers ngram-pydoc, ready at once, through the OpenAI API."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.server import Server, new_admin_key


def test_fresh_server_serves_ngram_pydoc(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", new_admin_key(), AIGC_DEFAULT_MODELS="on").start()
    try:
        client = server.sdk(server.admin_key)
        listed = {m["id"]: m for m in server.api("GET", "/v1/models").json()["data"]}
        assert listed["ngram-pydoc"]["status"] == "ready" and listed["ngram-pydoc"]["shared"]
        completion = client.completions.create(
            model="ngram-pydoc", prompt="The for statement", max_tokens=20, seed=1
        )
        assert completion.choices[0].text.strip()
        assert completion.usage.completion_tokens <= 20
        chat = client.chat.completions.create(
            model="ngram-pydoc", messages=[{"role": "user", "content": "{"}], max_tokens=20
        )
        assert chat.choices[0].message.content is not None
    finally:
        server.stop()
