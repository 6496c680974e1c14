"""The gguf family on a SentencePiece file (the vocabulary of Llama 2 and Mistral-7B GGUFs:
scored pieces, ``▁`` for blanks, byte fallback, BOS), written by the tests (tiny_gguf).

The family tokenizes with transformers' rebuild of the file's vocabulary and hands the ids to
llama.cpp, so the two must cut every text alike: plain English, leading and repeated blanks,
Chinese the vocabulary has, characters it lacks (byte pieces) and control tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aigc.models.protocols import ChatMessage, TextRequest
from aigc.models.text import gguf as gguf_family
from tests.models.tiny_gguf import save_tiny_gguf

llama_cpp = pytest.importorskip("llama_cpp")

TEXTS = [
    "The quick brown fox",
    " The weather is fine today.",
    "hello  world,\tthe end",
    "今天天气很好，我们去公园散步。",
    "龘靐 are not in the vocabulary: 😀 ü",
    'Call the function with a JSON object: {"city": "北京"}',
]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    torch.set_num_threads(1)
    return save_tiny_gguf(tmp_path_factory.mktemp("spm"), dtype="f32", sentencepiece=True)


@pytest.fixture(scope="module")
def model(files: tuple[Path, Path]) -> gguf_family.GGUFTextModel:
    return gguf_family.load({"path": str(files[0]), "n_threads": 1})


def test_the_file_is_a_sentencepiece_vocabulary(files: tuple[Path, Path]) -> None:
    import gguf

    reader = gguf.GGUFReader(files[0])
    model_field = reader.get_field("tokenizer.ggml.model")
    assert model_field is not None and model_field.contents() == "llama"
    assert reader.get_field("tokenizer.ggml.scores") is not None
    assert reader.get_field("tokenizer.ggml.merges") is None


def test_the_family_and_llama_cpp_cut_every_text_alike(
    model: gguf_family.GGUFTextModel,
) -> None:
    llm = model.lm.llm
    for text in TEXTS:
        ours = model.tokenizer.encode(text)
        assert ours == llm.tokenize(text.encode(), add_bos=True, special=False), text
        assert ours[0] == llm.token_bos()  # the file asks for BOS before a prompt
        assert model.count_tokens(text) == len(llm.tokenize(text.encode(), add_bos=False))
        assert model.tokenizer.hf.decode(ours, skip_special_tokens=True) == text
    byte_pieces = model.tokenizer.hf.convert_ids_to_tokens(model.tokenizer.encode("龘"))
    assert any(p.startswith("<0x") for p in byte_pieces)  # byte fallback, not <unk>
    marked = model.tokenizer.encode("[INST] hi [/INST]")
    assert marked == llm.tokenize(b"[INST] hi [/INST]", add_bos=True, special=True)


def test_llama_cpp_logits_equal_the_checkpoints_forward(files: tuple[Path, Path]) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, hf_dir = files
    reference = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    llm = llama_cpp.Llama(str(path), n_ctx=128, n_threads=1, logits_all=True, verbose=False)
    try:
        for text in TEXTS:
            ids = tokenizer.encode(text)
            llm.reset()
            llm.eval(ids)
            got = torch.from_numpy(llm.scores[: len(ids)].copy())
            with torch.no_grad():
                expected = reference(torch.tensor([ids])).logits[0]
            assert float(expected.std()) > 0.5
            assert float((got - expected).abs().max()) < 0.01
    finally:
        llm.close()


def test_streamed_text_is_whole_characters_with_its_blanks(
    model: gguf_family.GGUFTextModel,
) -> None:
    """Pieces that are a blank and a word (``▁the``) or a byte of a character: the stream
    never shows half a character and loses no blank; streaming equals one call."""
    for prompt in ("北京是中国的首都。", "The quick brown"):
        request = TextRequest(prompt=prompt, max_tokens=40, temperature=2.0, seed=3)
        pieces = list(model.generate(request))
        assert "\ufffd" not in "".join(pieces)
        assert "".join(pieces) == "".join(model.generate(request))
    greedy = TextRequest(prompt="The quick", max_tokens=16, temperature=0)
    ids = model.tokenizer.encode("".join(model.generate(greedy)))
    assert len(ids) > 1


def test_a_chat_renders_with_the_files_template(model: gguf_family.GGUFTextModel) -> None:
    assert model.tool_format == "mistral"  # Mistral v3's template renders tools
    request = TextRequest(messages=[ChatMessage(role="user", content="你好")], max_tokens=5)
    assert isinstance("".join(model.generate(request)), str)
