"""Decoding for neural models: the acceptance identities on a tiny GPT and RNN.

Greedy equals beam search with one beam; a seed repeats; top-k=1 equals greedy; stop
sequences cut exactly; reported logprobs add up to the model's own score of the text; byte
-level BPE never hands out half a character.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from aigc.models import decoding, trainer
from aigc.models.protocols import TextRequest
from aigc.models.stopping import BoundedText
from aigc.models.text import gpt, neural, rnn
from aigc.models.text.tokenizers import train_tokenizer

TEXT = "\n".join(neural.pydoc_texts()[:40])
CHINESE = (
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。\n"
    "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。\n"
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。\n"
) * 3


def _train_small(model: torch.nn.Module, tokenizer: object, iters: int = 30) -> None:
    ids = neural.encode_documents(tokenizer, [TEXT])
    cfg = trainer.TrainConfig(max_iters=iters, block_size=32, batch_size=8, eval_interval=iters)
    trainer.train(model, ids, ids[-2000:], cfg)


@pytest.fixture(scope="module")
def gpt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tokenizer = train_tokenizer("bpe", [TEXT, CHINESE], 400)
    model = gpt.build(gpt.GPTConfig(tokenizer.vocab_size, 32, 2, 2, 32), eos_id=tokenizer.eos_id)
    _train_small(model, tokenizer)
    out = tmp_path_factory.mktemp("gpt")
    neural.save_checkpoint(model, tokenizer, out)
    return out


@pytest.fixture(scope="module")
def gpt_model(gpt_dir: Path) -> neural.NeuralTextModel:
    return gpt.load({"path": str(gpt_dir)})


@pytest.fixture(scope="module")
def rnn_model(tmp_path_factory: pytest.TempPathFactory) -> neural.NeuralTextModel:
    tokenizer = train_tokenizer("char", [TEXT])
    config = rnn.RNNConfig(tokenizer.vocab_size, n_embd=32, n_hidden=48, n_layer=1)
    model = rnn.RNNLanguageModel(config)
    _train_small(model, tokenizer)
    out = tmp_path_factory.mktemp("rnn")
    neural.save_checkpoint(model, tokenizer, out)
    return rnn.load({"path": str(out)})


def _text(model: neural.NeuralTextModel, **fields: object) -> str:
    request = TextRequest(prompt=fields.pop("prompt", "The "), max_tokens=24, **fields)  # type: ignore[arg-type]
    return "".join(model.generate(request))


def _beam(model: neural.NeuralTextModel, **fields: object) -> list[int]:
    request = TextRequest(prompt="The ", max_tokens=24, **fields)  # type: ignore[arg-type]
    ids = model.prompt_ids(request)
    return [t.id for t in decoding.beam_search(model.lm, ids, request, model.tokenizer.eos_ids, 24)]


def _greedy_ids(model: neural.NeuralTextModel) -> list[int]:
    request = TextRequest(prompt="The ", max_tokens=24, temperature=0.0)
    ids = model.prompt_ids(request)
    eos = model.tokenizer.eos_ids
    return [t.id for t in decoding.sample(model.lm, ids, request, eos, 24)]


@pytest.mark.parametrize("family", ["gpt", "rnn"])
def test_greedy_equals_beam_search_with_one_beam(
    family: str, request: pytest.FixtureRequest
) -> None:
    model = request.getfixturevalue(f"{family}_model")
    greedy = _greedy_ids(model)
    assert len(greedy) > 5
    assert _beam(model, num_beams=1) == greedy


def test_wider_beams_score_at_least_as_well_as_greedy(gpt_model: neural.NeuralTextModel) -> None:
    request = TextRequest(
        prompt="The ", max_tokens=12, num_beams=4, length_penalty=0.0, logprobs=True
    )
    ids = gpt_model.prompt_ids(request)
    eos = gpt_model.tokenizer.eos_ids
    beams = decoding.beam_search(gpt_model.lm, ids, request, eos, 12)
    greedy = list(
        decoding.sample(gpt_model.lm, ids, TextRequest(temperature=0.0, logprobs=True), eos, 12)
    )
    if len(beams) == len(greedy):  # same length: the beam's total must be no worse
        assert sum(t.logprob for t in beams) >= sum(t.logprob for t in greedy) - 1e-4


def test_same_seed_same_text_and_top_k_one_is_greedy(gpt_model: neural.NeuralTextModel) -> None:
    first = _text(gpt_model, temperature=1.0, seed=7)
    assert first == _text(gpt_model, temperature=1.0, seed=7)
    others = {_text(gpt_model, temperature=1.0, seed=s) for s in range(8, 12)}
    assert len(others | {first}) > 1  # sampling does vary with the seed
    greedy = _text(gpt_model, temperature=0.0)
    assert _text(gpt_model, temperature=1.0, top_k=1, seed=3) == greedy
    assert _text(gpt_model, temperature=1.3, top_p=1e-6, seed=4) == greedy
    assert _text(gpt_model, temperature=1.0, min_p=1.0, seed=5) == greedy


def test_stop_sequences_cut_exactly(gpt_model: neural.NeuralTextModel) -> None:
    full = _text(gpt_model, temperature=0.0)
    stop = full[8:11]
    cut = full.index(stop)
    request = TextRequest(prompt="The ", max_tokens=24, temperature=0.0, stop=[stop])
    bounded = BoundedText(
        gpt_model.generate(request), stop=[stop], max_tokens=24, count_tokens=lambda _: 1
    )
    assert "".join(bounded) == full[:cut]
    assert bounded.finish_reason == "stop"


def test_logprobs_add_up_to_the_models_score(gpt_model: neural.NeuralTextModel) -> None:
    request = TextRequest(
        prompt="The ", max_tokens=16, temperature=0.9, seed=1, logprobs=True, top_logprobs=3
    )
    pieces = list(gpt_model.generate(request))
    entries = [e for p in pieces for e in p.tokens]  # type: ignore[attr-defined]
    assert all(len(e["top_logprobs"]) == 3 for e in entries)
    assert all(e["top_logprobs"][0]["logprob"] >= e["logprob"] - 1e-6 for e in entries)
    # The scorer: one forward pass of the plain transformers model over prompt + output.
    prompt = gpt_model.prompt_ids(request)
    eos = gpt_model.tokenizer.eos_ids
    out = [t.id for t in decoding.sample(gpt_model.lm, prompt, request, eos, 16, gpt_model.utf8)]
    ids = torch.tensor([prompt + out])
    with torch.no_grad():
        logp = torch.log_softmax(gpt_model.lm.model(ids).logits[0, :-1].float(), -1)
    scored = logp[len(prompt) - 1 :].gather(1, ids[0, len(prompt) :, None]).sum().item()
    reported = sum(e["logprob"] for e in entries)
    if out and out[-1] in eos:  # the end-of-text token is scored but not shown
        reported += float(logp[-1, out[-1]])
    assert reported == pytest.approx(scored, abs=1e-3)


def test_penalties_and_limits(gpt_model: neural.NeuralTextModel) -> None:
    request = TextRequest(prompt="The ", max_tokens=30, temperature=0.0, no_repeat_ngram_size=2)
    ids = gpt_model.prompt_ids(request)
    eos = gpt_model.tokenizer.eos_ids
    out = [t.id for t in decoding.sample(gpt_model.lm, ids, request, eos, 30)]
    seq = ids + out
    bigrams = list(itertools.pairwise(seq))
    assert len(bigrams) == len(set(bigrams))
    forced = TextRequest(prompt="The ", temperature=0.0, min_tokens=20)
    tokens = list(decoding.sample(gpt_model.lm, ids, forced, eos, 20))
    assert all(t.id not in eos for t in tokens) and len(tokens) == 20
    penalised = _text(gpt_model, temperature=0.0, repetition_penalty=1.5, presence_penalty=1.0)
    assert penalised != _text(gpt_model, temperature=0.0)


def test_byte_level_bpe_never_emits_half_a_character(gpt_dir: Path) -> None:
    tokenizer = neural.load_text_tokenizer(gpt_dir)
    ids = tokenizer.encode("故乡明月，黄河入海流。")
    assert len(ids) > 1
    detok = decoding.IncrementalDetokenizer(tokenizer.decode)
    # Feed raw single-byte tokens too: any byte-level id must wait for its character to end.
    byte_ids = [i for i in range(400) if len(tokenizer.hf.convert_ids_to_tokens(i)) == 1][:256]
    deltas = [detok.add([i]) for i in ids] + [detok.flush()]
    assert "".join(deltas) == "故乡明月，黄河入海流。"
    assert all("\ufffd" not in d for d in deltas)
    assert byte_ids  # the vocabulary starts with the 256 byte symbols


def test_hot_sampling_never_produces_broken_characters(gpt_model: neural.NeuralTextModel) -> None:
    assert gpt_model.utf8 is not None  # byte-level BPE: tokens can be parts of characters
    for seed in range(6):
        request = TextRequest(prompt="明月", max_tokens=40, temperature=2.0, seed=seed)
        pieces = list(gpt_model.generate(request))
        assert all("\ufffd" not in p for p in pieces), pieces


def test_gpt_checkpoint_loads_with_plain_transformers(gpt_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gpt_dir)
    tokenizer = AutoTokenizer.from_pretrained(gpt_dir)
    inputs = tokenizer("The ", return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=12, do_sample=False, pad_token_id=0)
    theirs = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    ours = "".join(
        gpt.load({"path": str(gpt_dir)}).generate(
            TextRequest(prompt="The ", max_tokens=12, temperature=0.0)
        )
    )
    assert theirs == ours


def test_utf8_automaton_accepts_characters_and_refuses_invalid_bytes() -> None:
    from aigc.models.decoding import _utf8_after

    for char in ("中", "é", "😀", "a", "\U0010ffff"):
        assert _utf8_after(0, char.encode()) == 0, char
    assert _utf8_after(0, "中".encode()[:1]) > 0  # owes continuation bytes
    for invalid in (b"\xf4\xbd", b"\xe0\x80", b"\xed\xa0", b"\xc0", b"\x80", b"\xe4a"):
        assert _utf8_after(0, invalid) == -1, invalid


def test_rows_beyond_the_tokenizer_are_never_sampled_and_never_crash() -> None:
    """A checkpoint whose embedding has more rows than its tokenizer has tokens (512 over 257):
    the padding rows stand for no text. They are banned, and stepping over one (a forced id)
    leaves the state alone instead of indexing past the table (a 500 before)."""
    guard = decoding.Utf8Guard([b"a", b"\xe5", b"\xba\x8a"])
    mask = guard.banned(0, 8, torch.device("cpu"))
    assert mask.tolist() == [False, False, True, True, True, True, True, True]
    assert guard.advance(0, 5) == 0
    assert guard.advance(guard.advance(0, 1), 7) == guard.advance(0, 1)
