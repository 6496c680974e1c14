"""The modified Kneser-Ney n-gram model: a proper distribution, lmplz's numbers, KenLM parity."""

from __future__ import annotations

import re
from pathlib import Path
from pydoc_data.topics import topics

import numpy as np
import pytest

from aigc.errors import InvalidRequest
from aigc.models.text.arpa import BOS_ID, UNK_ID
from aigc.models.text.ngram_lm import NGramConfig, NGramLM, sample_from

TOY = [s.split() for s in ["a b c a", "b c a b c", "a a b", "c b a c", "b b c c a"]]


def pydoc_sentences() -> list[list[str]]:
    """English that ships with Python: every line of the help topics, lower-cased words."""
    lines = "\n".join(topics[k] for k in sorted(topics)).lower().split("\n")
    return [s for s in (re.findall(r"[a-z']+|[^\sa-z']", line) for line in lines) if s]


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_every_context_gives_a_distribution(order: int) -> None:
    model = NGramLM.train(TOY, NGramConfig(order=order))
    for context in ([BOS_ID], [BOS_ID, 3], [3, 4], [5, 3, 4], [4, 4, 4], [UNK_ID]):
        probs = model.next_distribution(context)
        assert probs[BOS_ID] == 0.0
        assert probs.sum() == pytest.approx(1.0, abs=1e-5)


def test_discount_fallback_as_kenlm() -> None:
    with pytest.raises(InvalidRequest, match="discount"):
        NGramLM.train(TOY, NGramConfig(order=3, discount_fallback=None))
    model = NGramLM.train(TOY, NGramConfig(order=3))
    assert model.report.fallback_orders and model.report.discounts[0] == [0.5, 1.0, 1.5]


def test_arpa_and_binary_round_trip(tmp_path: Path) -> None:
    sentences = pydoc_sentences()[:3000]
    model = NGramLM.train(sentences[:2500], NGramConfig(order=4))
    held_out = sentences[2500:]
    model.save_arpa(tmp_path / "m.arpa")
    model.save(tmp_path / "m.npz")
    expected = model.token_logprobs([model.ids(s) for s in held_out])
    for loaded in (NGramLM.load_arpa(tmp_path / "m.arpa"), NGramLM.load(tmp_path / "m.npz")):
        assert loaded.vocab == model.vocab
        got = loaded.token_logprobs([loaded.ids(s) for s in held_out])
        np.testing.assert_allclose(got, expected, atol=1e-6)
    assert NGramLM.load(tmp_path / "m.npz").report.counts == model.report.counts


def test_reads_arpa_in_other_toolkits_style(tmp_path: Path) -> None:
    """SRILM/KenLM conventions: spaces or tabs, back-offs left out, no <unk>, -99 for <s>."""
    text = """
\\data\\
ngram 1=4
ngram 2=2

\\1-grams:
-0.5 </s>
-99\t<s>\t-0.3
-0.4 x -0.2
-1.0 y

\\2-grams:
-0.1 <s> x
-0.2\tx y

\\end\\
"""
    (tmp_path / "k.arpa").write_text(text, encoding="utf-8")
    model = NGramLM.load_arpa(tmp_path / "k.arpa")
    assert model.vocab == ["<unk>", "<s>", "</s>", "x", "y"]
    # <s> x: -0.1; x y: -0.2; y </s>: no bigram, no back-off for y: -0.5
    assert model.score("x y") == pytest.approx(-0.1 - 0.2 - 0.5, abs=1e-6)
    # <s> y: back-off(<s>) + p(y); OOV z: back-off(y) is 0, p(<unk>) is KenLM's -100
    assert model.score("y z", eos=False) == pytest.approx(-0.3 - 1.0 - 100.0, abs=1e-5)
    (tmp_path / "bad.arpa").write_text("\\data\\\nngram 1=1\n\n\\1-grams:\n-1 a b c d\n")
    with pytest.raises(InvalidRequest, match="malformed"):
        NGramLM.load_arpa(tmp_path / "bad.arpa")


def test_sampling_controls() -> None:
    rng = np.random.default_rng(0)
    probs = np.array([0.0, 0.0, 0.1, 0.6, 0.3])
    assert sample_from(probs, rng, temperature=0.0) == 3
    assert {sample_from(probs, rng, top_k=1) for _ in range(20)} == {3}
    assert {sample_from(probs, rng, top_p=0.5) for _ in range(20)} == {3}
    assert {sample_from(probs, rng, top_k=2) for _ in range(200)} == {3, 4}
    model = NGramLM.train(pydoc_sentences()[:2000], NGramConfig(order=3))
    first = model.generate(["the"], seed=7, max_words=30)
    assert first == model.generate(["the"], seed=7, max_words=30) and first
    greedy = model.generate(["the"], temperature=0.0, max_words=30)
    assert greedy == model.generate(["the"], top_k=1, seed=3, max_words=30)


@pytest.mark.parametrize("order", [3, 5, 7])
def test_kenlm_reads_our_arpa_and_scores_the_same(order: int, tmp_path: Path) -> None:
    """KenLM built with MAX_ORDER=9 (the Makefile's test step builds it)."""
    kenlm = pytest.importorskip("kenlm", reason="KenLM's Python module is not installed")
    sentences = pydoc_sentences()
    cut = int(len(sentences) * 0.9)
    model = NGramLM.train(sentences[:cut], NGramConfig(order=order))
    model.save_arpa(tmp_path / "m.arpa")
    theirs = kenlm.Model(str(tmp_path / "m.arpa"))
    assert theirs.order == order
    held_out = sentences[cut:]
    for sentence in held_out[:300]:
        tokens = len(sentence) + 1
        ours = model.score(sentence)
        assert abs(ours - theirs.score(" ".join(sentence), bos=True, eos=True)) <= 1e-4 * tokens
    total = sum(len(s) + 1 for s in held_out)
    ours_total = float(model.token_logprobs([model.ids(s) for s in held_out]).sum())
    theirs_total = sum(theirs.score(" ".join(s)) for s in held_out)
    assert abs(ours_total - theirs_total) <= 1e-4 * total
