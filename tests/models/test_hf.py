"""Local Hugging Face causal LMs registered by path: import roots, chat templates, generation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from aigc.errors import InvalidRequest, PermissionDenied
from aigc.infra.db import Database
from aigc.models.protocols import ChatMessage, TextRequest
from aigc.models.registry import ModelRegistry
from aigc.models.text import gpt, hf, neural
from aigc.models.text.tokenizers import train_tokenizer
from aigc.tables import Base

TEXT = "\n".join(neural.pydoc_texts()[:10])
TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _llama_dir(root: Path, with_template: bool) -> Path:
    """A tiny Llama (rotary positions, RMSNorm, SwiGLU) with our byte-level BPE tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = train_tokenizer("bpe", [TEXT], 300)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=64,
        eos_token_id=tokenizer.eos_id,
        bos_token_id=tokenizer.bos_id,
    )
    folder = root / ("llama-chat" if with_template else "llama")
    neural.save_checkpoint(LlamaForCausalLM(config), tokenizer, folder)
    if with_template:
        import json

        cfg_path = folder / "tokenizer_config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["chat_template"] = TEMPLATE
        cfg_path.write_text(json.dumps(cfg))
    return folder


def test_registered_by_path_only_under_import_roots(tmp_path: Path) -> None:
    root = tmp_path / "models"
    folder = _llama_dir(root, with_template=False)
    db = Database(f"sqlite:///{tmp_path / 'aigc.db'}")
    Base.metadata.create_all(db.engine)
    registry = ModelRegistry([root])
    with db.session() as s:
        record = registry.register(s, None, "hf-llama", {"path": str(folder)}, tenant_id=None)
        with pytest.raises(PermissionDenied):
            ModelRegistry([tmp_path / "elsewhere"]).register(
                s, None, "hf-other", {"path": str(folder)}
            )
        with pytest.raises(InvalidRequest, match=r"config\.json"):
            registry.register(s, None, "hf-empty", {"path": str(root)})
        model = registry.load(record)
    text = "".join(model.generate(TextRequest(prompt="The ", max_tokens=10, temperature=0)))
    assert "\ufffd" not in text
    # No chat template: the documented default prompt ("Role: text" lines, then "Assistant:").
    chat = TextRequest(messages=[ChatMessage("user", "hello")], max_tokens=4)
    assert model.tokenizer.decode(model.prompt_ids(chat)) == "User: hello\nAssistant:"
    db.dispose()


def test_chat_template_from_the_tokenizer_is_used(tmp_path: Path) -> None:
    model = hf.load({"path": str(_llama_dir(tmp_path, with_template=True))})
    chat = TextRequest(
        messages=[ChatMessage("system", "be brief"), ChatMessage("user", "hi")], max_tokens=4
    )
    prompt = model.tokenizer.decode(model.prompt_ids(chat))
    assert prompt == "<|system|>be brief\n<|user|>hi\n<|assistant|>"
    assert isinstance("".join(model.generate(chat)), str)


def test_cli_models_add_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aigc.cli import app

    tokenizer = train_tokenizer("char", [TEXT])
    folder = tmp_path / "models" / "tiny-gpt"
    neural.save_checkpoint(
        gpt.build(gpt.GPTConfig(tokenizer.vocab_size, 16, 1, 1, 16)), tokenizer, folder
    )
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AIGC_IMPORT_ROOTS", str(tmp_path / "models"))
    runner = CliRunner()
    added = runner.invoke(app, ["models", "add", "--path", str(folder), "--name", "hf-tiny"])
    assert added.exit_code == 0, added.output
    refused = runner.invoke(app, ["models", "add", "--path", str(tmp_path), "--name", "hf-x"])
    assert refused.exit_code == 1 and "import roots" in refused.output
    listed = runner.invoke(app, ["models", "list"])
    assert "hf-tiny" in listed.output
