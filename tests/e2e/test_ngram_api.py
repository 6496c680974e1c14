"""An n-gram model trained on a tenant's Chinese poems, served through the OpenAI API.

Tenant A uploads the poems, the train-ngram job runs in the live server, and the model answers
A's completions in clean Chinese while tenant B can neither list nor call it.
"""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest

from aigc.access import Principal
from aigc.config import Settings
from aigc.infra.db import Database
from aigc.models.text.ngram import TrainParams, start_ngram_training
from tests.e2e.server import Org, Server

ZH = Path(__file__).resolve().parents[3] / "shared" / "data" / "text" / "zh"
pytestmark = pytest.mark.skipif(not ZH.is_dir(), reason="shared Chinese poetry data is absent")


def wait_ready(server: Server, key: str, name: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        models = {m["id"]: m for m in server.api("GET", "/v1/models", key=key).json()["data"]}
        status = models.get(name, {}).get("status")
        if status == "ready":
            return
        assert status in ("training", None), models.get(name)
        time.sleep(0.3)
    raise AssertionError(f"{name} did not become ready")


def test_chinese_ngram_trained_by_a_tenant_serves_only_that_tenant(
    server: Server, org_a: Org, org_b: Org
) -> None:
    a, b = server.sdk(org_a.admin_key), server.sdk(org_b.admin_key)
    file_ids = []
    for path in sorted(ZH.glob("*.json")):
        with path.open("rb") as handle:
            file_ids.append(a.files.create(file=handle, purpose="user_data").id)
    settings = Settings(
        data_dir=server.data_dir, database_url=server.env.get("AIGC_DATABASE_URL") or None
    )
    db = Database(settings.db_url)
    try:
        with db.session() as session:
            start_ngram_training(
                session,
                Principal(tenant_id=org_a.id, role="admin"),
                "ngram-poems",
                TrainParams(order=4, tokenizer="bpe", vocab_size=6000, file_ids=file_ids),
                data_dir=server.data_dir,
                import_roots=[],
            )
    finally:
        db.dispose()
    wait_ready(server, org_a.admin_key, "ngram-poems")

    completion = a.completions.create(
        model="ngram-poems", prompt="床前明月光，", max_tokens=40, seed=7
    )
    text = completion.choices[0].text
    assert sum("\u4e00" <= ch <= "\u9fff" for ch in text) >= 5, text
    assert "\ufffd" not in text
    again = a.completions.create(model="ngram-poems", prompt="床前明月光，", max_tokens=40, seed=7)
    assert again.choices[0].text == text
    streamed = a.completions.create(
        model="ngram-poems", prompt="春风", max_tokens=30, seed=1, stream=True
    )
    pieces = "".join(chunk.choices[0].text for chunk in streamed if chunk.choices)
    assert pieces and "\ufffd" not in pieces
    cut = a.completions.create(
        model="ngram-poems", prompt="床前明月光，", max_tokens=60, seed=7, stop=["。"]
    )
    assert "。" not in cut.choices[0].text and cut.choices[0].finish_reason == "stop"
    full = a.completions.create(model="ngram-poems", prompt="床前明月光，", max_tokens=60, seed=7)
    # The same seed gives the same text; the stop sequence cuts it exactly where "。" starts.
    assert full.choices[0].text.startswith(cut.choices[0].text + "。")
    chat = a.chat.completions.create(
        model="ngram-poems", messages=[{"role": "user", "content": "写一句诗"}], seed=3
    )
    assert "\ufffd" not in (chat.choices[0].message.content or "")

    assert "ngram-poems" not in {m.id for m in b.models.list()}
    with pytest.raises(openai.NotFoundError):
        b.models.retrieve("ngram-poems")
    with pytest.raises(openai.NotFoundError):
        b.completions.create(model="ngram-poems", prompt="床前", max_tokens=5)
