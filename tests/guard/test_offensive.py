"""Offensive English as moderation's harassment signal (issue 17: output moderation that judges
what a text says)."""

from __future__ import annotations

import numpy as np
import pytest
from profanity_check import predict_prob

from aigc.guard import moderation, offensive

TEXTS = [
    "You are a worthless idiot and everyone hates you.",
    "Shut up, nobody asked for your stupid opinion, moron.",
    "Thanks for the quick reply, the report looks great.",
    "How do I kill a zombie process in Linux?",
    "The patient was shot in the leg and taken to hospital.",
    "这个产品太垃圾了，客服也很差。",
    "",
]


def test_the_unpacked_model_gives_the_packages_probabilities() -> None:
    """offensive.py scores the package's vocabulary, IDF and five calibrated SVMs itself; a new
    release of the package (or of scikit-learn) that changes the model fails here, not in
    production."""
    texts = [*TEXTS, "DAMN it!!! the the the stupid stupid printer", "naïve café idiots"]
    assert isinstance(
        offensive.model(), offensive.OffensiveModel
    )  # the fast path, not the package's
    expected = predict_prob(texts)
    mine = [offensive.model().probability(t) for t in texts]
    np.testing.assert_allclose(mine, expected, atol=1e-12)


@pytest.mark.parametrize(
    "insult",
    [
        "You are a worthless idiot and everyone hates you.",
        "Shut up, nobody asked for your stupid opinion, moron.",
    ],
)
def test_an_english_insult_is_flagged_as_harassment(insult: str) -> None:
    result = moderation.moderate(insult)
    assert result["flagged"] and result["categories"]["harassment"]


@pytest.mark.parametrize(
    "text",
    [
        "How do I kill a zombie process in Linux?",
        "The patient was shot in the leg and taken to hospital.",
        "Thanks for the quick reply, the report looks great.",
    ],
)
def test_ordinary_text_with_alarming_words_is_not_harassment(text: str) -> None:
    assert moderation.category_scores(text)["harassment"] < moderation.THRESHOLD


def test_a_model_of_another_shape_falls_back_to_the_packages_own_scoring() -> None:
    text = "You are a worthless idiot and everyone hates you."
    expected = float(predict_prob([text])[0])
    assert offensive.PackageScorer().probability(text) == pytest.approx(expected)


def test_text_without_latin_words_is_not_scored_by_the_english_model() -> None:
    assert offensive.score("这个产品太垃圾了，客服也很差。") == 0.0
    assert offensive.score("") == 0.0


def test_response_moderation_ranks_an_abusive_reply_above_a_polite_one() -> None:
    abusive = "Figure it out yourself, you pathetic loser. Nobody cares about your dumb question."
    polite = "Here is how to reset your password: open Settings, choose Security, click Reset."
    assert moderation.response_score(abusive) >= moderation.THRESHOLD
    assert moderation.response_score(polite) < 0.5
