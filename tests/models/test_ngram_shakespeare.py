"""Tiny-shakespeare with the shared protocol: our perplexities within 0.5% of KenLM's lmplz."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from aigc.models.text.ngram_lm import NGramConfig, NGramLM

SHARED = Path(__file__).resolve().parents[3] / "shared"
PROTOCOL = SHARED / "tools" / "lm_protocol.py"
pytestmark = pytest.mark.skipif(
    not (PROTOCOL.is_file() and (SHARED / "data" / "text" / "tinyshakespeare.txt").is_file()),
    reason="shared tiny-shakespeare data or protocol is absent",
)

# Measured with lmplz (modified Kneser-Ney; --discount_fallback for characters) and query.
KENLM = {
    ("word", 5): (170.73, 124.25, 1153, 29346),
    ("word", 3): (171.79, None, 1153, 29346),
    ("char", 7): (4.6005, None, None, None),
    ("char", 5): (4.8578, None, None, None),
}


def protocol():
    spec = importlib.util.spec_from_file_location("lm_protocol", PROTOCOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("level", "order"), list(KENLM))
def test_perplexity_matches_lmplz(level: str, order: int) -> None:
    lm = protocol()
    train, valid = lm.split(lm.DATA.read_text(encoding="utf-8"))
    model = NGramLM.train(lm.sentences(train, level), NGramConfig(order=order))
    result = model.perplexity(lm.sentences(valid, level))
    ppl, ppl_excluding, oovs, tokens = KENLM[(level, order)]
    assert result.perplexity == pytest.approx(ppl, rel=0.005)
    if ppl_excluding is not None:
        assert result.perplexity_excluding_oovs == pytest.approx(ppl_excluding, rel=0.005)
    if oovs is not None:
        assert (result.oovs, result.tokens) == (oovs, tokens)
    assert model.report.fallback_orders == ([1] if level == "char" else [])
