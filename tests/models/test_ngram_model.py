"""The n-gram family on the platform: text model over a tokenizer, the job, the default model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from aigc.access import Principal
from aigc.config import Settings
from aigc.infra.db import Database
from aigc.infra.jobs import JobRunner
from aigc.infra.schema import ModelRecord, Tenant
from aigc.infra.storage.directory import DirectoryStore
from aigc.models.family import get_family
from aigc.models.protocols import ChatMessage, TextRequest
from aigc.models.text.ngram import (
    DEFAULT_NAME,
    NGramTextModel,
    TrainParams,
    arpa_word,
    bootstrap_default,
    start_ngram_training,
    token_of_arpa_word,
    train_on_texts,
)
from aigc.tables import Base

POEMS = [
    "床前明月光，疑是地上霜。\n举头望明月，低头思故乡。",
    "白日依山尽，黄河入海流。\n欲穷千里目，更上一层楼。",
    "春眠不觉晓，处处闻啼鸟。\n夜来风雨声，花落知多少。",
    "红豆生南国，春来发几枝。\n愿君多采撷，此物最相思。",
] * 3
ENGLISH = [
    "The quick brown fox jumps over the lazy dog.\nA {json: [1, 2]} value.",
    "Language models assign probabilities to sentences.\nThe fox is quick.",
] * 4


def test_arpa_words_escape_whitespace_reversibly() -> None:
    for token in [" we", "\n", "a\\u0020b", "明", "\u3000", "Ġthe"]:
        word = arpa_word(token)
        assert not any(ch.isspace() for ch in word) and token_of_arpa_word(word) == token


@pytest.mark.parametrize("kind", ["char", "word", "bpe"])
def test_trained_model_generates_clean_text(kind: str, tmp_path: Path) -> None:
    params = TrainParams(order=3, tokenizer=kind, vocab_size=300 if kind == "bpe" else None)
    config = train_on_texts(POEMS + ENGLISH, params, tmp_path)
    assert config["val_perplexity"] > 1 and config["ngrams"][0] > 3
    assert json.loads((tmp_path / "ngram.json").read_text())["tokenizer"] == kind
    model = get_family("ngram").loader({"path": str(tmp_path)})
    request = TextRequest(prompt="床前明月光，", max_tokens=40, seed=5)
    text = "".join(model.generate(request))
    assert text == "".join(model.generate(request))  # same seed, same text
    assert "\ufffd" not in text and any("\u4e00" <= ch <= "\u9fff" for ch in text)
    greedy = "".join(
        model.generate(TextRequest(prompt="床前明月光，", max_tokens=20, temperature=0))
    )
    assert greedy.startswith("疑是地上霜")  # the training text, most likely
    chat = "".join(model.generate(TextRequest(messages=[ChatMessage("user", "hi")], seed=1)))
    assert chat and "\n" not in chat  # a chat answer is one line
    assert model.count_tokens("床前明月光") == 5 or kind == "bpe"


def test_loads_a_plain_arpa_file_with_whitespace_words(tmp_path: Path) -> None:
    config = train_on_texts(ENGLISH, TrainParams(order=2, tokenizer="word"), tmp_path / "m")
    arpa = Path(config["path"]) / "model.arpa"
    model = NGramTextModel.load(arpa)
    assert model.tokenizer is None and model.count_tokens("a b c") == 3
    text = "".join(model.generate(TextRequest(prompt="The", max_tokens=5, seed=0)))
    assert text


def test_a_negative_seed_samples_like_any_other(tmp_path: Path) -> None:
    """The API takes seeds of either sign (as vLLM does); numpy's generator takes only
    unsigned ones, and a negative seed once ended a request on an n-gram model in a 500."""
    config = train_on_texts(ENGLISH, TrainParams(order=2, tokenizer="word"), tmp_path / "m")
    model = get_family("ngram").loader({"path": config["path"]})
    request = TextRequest(prompt="The", max_tokens=8, seed=-7)
    text = "".join(model.generate(request))
    assert text and text == "".join(model.generate(request))  # seeded: the same text again


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'aigc.db'}")
    Base.metadata.create_all(database.engine)
    with database.session() as s:
        s.add_all([Tenant(id="t_a", name="A"), Tenant(id="t_b", name="B")])
    return database


def test_training_job_registers_a_ready_model_for_its_tenant(db: Database, tmp_path: Path) -> None:
    data = tmp_path / "imports"
    data.mkdir()
    (data / "poems.jsonl").write_text(
        "".join(
            json.dumps({"paragraphs": p.split("\n")}, ensure_ascii=False) + "\n" for p in POEMS
        ),
        encoding="utf-8",
    )
    admin = Principal(tenant_id="t_a", role="owner", platform_admin=True)
    member = Principal(tenant_id="t_a", role="member")
    params = TrainParams(order=3, tokenizer="char", data_path=str(data))
    with db.session() as s:
        with pytest.raises(Exception, match="platform admin"):
            start_ngram_training(
                s, member, "ngram-x", params, data_dir=tmp_path, import_roots=[data]
            )
        record, job = start_ngram_training(
            s, admin, "ngram-poems", params, data_dir=tmp_path, import_roots=[data]
        )
        record_id = record.id
    runner = JobRunner(db, tmp_path, worker_id="test")
    assert runner.run_once()
    with db.session() as s:
        record = s.get(ModelRecord, record_id)
        assert (record.status, record.tenant_id) == ("ready", "t_a")
        assert record.config["val_perplexity"] > 1 and record.config["job_id"] == job.id
        model = get_family("ngram").loader(record.config)
    assert "\ufffd" not in "".join(model.generate(TextRequest(prompt="春眠", max_tokens=10)))


def test_default_model_is_trained_once(db: Database, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    bootstrap_default(db, settings)
    with db.session() as s:
        record = s.scalar(select(ModelRecord).where(ModelRecord.name == DEFAULT_NAME))
        assert (record.status, record.tenant_id, record.family) == ("ready", None, "ngram")
        config = dict(record.config)
    arpa = Path(config["path"]) / "model.arpa"
    stamp = arpa.stat().st_mtime_ns
    with pytest.MonkeyPatch.context() as patch:  # one key's existence, no folder listing
        patch.setattr(DirectoryStore, "list", lambda *a, **k: pytest.fail("listed the store"))
        bootstrap_default(db, settings)  # idempotent: nothing retrained
    assert arpa.stat().st_mtime_ns == stamp
    model = get_family("ngram").loader(config)
    text = "".join(model.generate(TextRequest(prompt="The for statement", max_tokens=30, seed=0)))
    assert text.strip()
    assert config["tokenizer"] == "bpe" and config["val_perplexity"] < 40


def test_lowercase_models_read_prompts_in_lower_case(tmp_path: Path) -> None:
    params = TrainParams(order=3, tokenizer="word", lowercase=True)
    config = train_on_texts(ENGLISH, params, tmp_path)
    assert config["lowercase"] is True
    model = get_family("ngram").loader({"path": str(tmp_path)})
    text = "".join(model.generate(TextRequest(prompt="THE QUICK", max_tokens=3, temperature=0)))
    assert text == " brown fox jumps"
