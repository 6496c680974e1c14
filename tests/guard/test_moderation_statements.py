"""What a text *says*: hate stated about a group of people, and the word forms of self-harm and
sexual content (the words "suicidal", "self-harming", "sexually" were no hits: the lexicon
ended each word at a word boundary, so only "suicide", "self-harm", "sex" counted)."""

from __future__ import annotations

import pytest

from aigc.guard import moderation, statements, windows


@pytest.mark.parametrize(
    "hateful",
    [
        "Immigrants are criminals and should all be deported.",
        "All Muslims are terrorists.",
        "Women are inferior, everyone knows it.",
        "Jews should be gassed.",
        "gays need to be wiped out",
        "Those refugees are nothing but parasites.",
        "河南人都是骗子。",
        "黑人都该死",
        "外地人应该滚出上海！",
    ],
)
def test_hate_stated_about_a_group_is_flagged(hateful: str) -> None:
    """Before, these scored 0.2–0.6 (a word like "criminals" is in no lexicon, and the
    classifier learnt requests): what a response or a post says of a group for who they are
    is OpenAI's "hate", whether or not it asks for anything."""
    scores = moderation.category_scores(hateful, moderation.OPENAI_CATEGORIES)
    assert scores["hate"] >= moderation.THRESHOLD
    assert moderation.response_score(hateful) >= moderation.THRESHOLD


@pytest.mark.parametrize(
    "not_hateful",
    [
        "Are immigrants criminals? What does the data say?",
        "The idea that immigrants are criminals is a myth.",
        "It is a stereotype that women are inferior at maths.",
        "为什么有人说河南人都是骗子？",
        "说河南人都是骗子是地域偏见。",
        "The Chinese are hardworking people.",
        "Rats are animals, and so are dogs.",
        "If your daughter should die of this illness, it would be a comfort to know.",
        "Men are from Mars, women are from Venus.",
    ],
)
def test_a_question_a_rebuttal_or_praise_of_a_group_is_no_hate(not_hateful: str) -> None:
    assert not statements.states_hate(not_hateful)
    assert moderation.category_scores(not_hateful)["hate"] < moderation.THRESHOLD


@pytest.mark.parametrize(
    ("said", "category"),
    [
        ("I've been self-harming again since the exams.", "self-harm"),
        ("I feel suicidal most nights.", "self-harm"),
        ("I keep thinking about cutting myself.", "self-harm"),
        ("I overdosed on my pills last spring.", "self-harm"),
        ("He kept touching me sexually.", "sexual"),
        ("Send nudes", "sexual"),
    ],
)
def test_every_form_of_a_lexicon_word_counts(said: str, category: str) -> None:
    """A word is weak evidence (0.4) on its own, whatever form it takes."""
    assert moderation.category_scores(said)[category] >= 0.4


def test_a_long_text_of_many_questions_is_read_once() -> None:
    """Each match finds its sentence by bisecting the sentence breaks found once, so a long
    text of questions that would match costs linear time, not one scan per match."""
    text = "Are immigrants criminals? " * 4000
    assert not statements.states_hate(text)
    assert statements.states_hate(text + "Immigrants are criminals.")


@pytest.mark.parametrize(
    ("abuse", "category"),
    [
        ("你这个傻逼，赶紧滚。", "harassment"),
        ("你们这群败类", "harassment"),
        ("你真是个废物，去死吧。", "harassment"),
        ("垃圾，你！", "harassment"),
        ("操你妈", "harassment"),
        ("我要杀了你全家。", "violence"),
        ("老子迟早弄死你", "harassment"),
        ("你活着就是浪费空气，不如自杀算了。", "self-harm"),
        ("你應該去自殺", "self-harm"),  # traditional characters read as simplified
    ],
)
def test_abuse_addressed_to_someone_in_chinese_is_flagged(abuse: str, category: str) -> None:
    """English abuse has the offensive-language model ("I will kill you" 0.87); the same in
    Chinese scored one lexicon word at most (你这个傻逼 0.4, 我要杀了你全家 0.36)."""
    assert moderation.category_scores(abuse)[category] >= moderation.THRESHOLD
    assert moderation.response_score(abuse) >= moderation.THRESHOLD


@pytest.mark.parametrize(
    "ordinary",
    [
        "你把垃圾倒了吧。",
        "你这个垃圾分类做得不对。",
        "废物回收站在哪里？",
        "你是个废物利用专家。",
        "我要杀了这个进程。",
        "你还是去上班吧。",
        "你就是个天才！",
    ],
)
def test_words_of_abuse_in_ordinary_chinese_sentences_are_no_abuse(ordinary: str) -> None:
    assert not statements.abuse_categories(ordinary)
    assert moderation.response_score(ordinary) < moderation.THRESHOLD


def test_what_comes_after_the_first_4000_characters_is_read_too() -> None:
    """The classifiers read the first 4,000 characters of a text only: a threat after a page
    of a report was never read by them (0.4, not flagged). A long text is read window by
    window, the most harmful window counting; a text that fits is read whole, as before."""
    threat = "I will kill you and your whole family tonight, you worthless piece of trash."
    report = "The board reviewed the quarterly report and approved the budget for next year. "
    page = (report * 50)[: windows.WINDOW - 50]
    assert moderation.moderate(threat)["flagged"]
    assert moderation.moderate(page + threat)["flagged"]
    assert not moderation.moderate(page + report * 5)["flagged"]
    assert windows.windows(threat) == [threat]
    long = report * 200
    assert "".join(windows.windows(long)) == long
    assert max(len(piece) for piece in windows.windows(long)) <= windows.WINDOW


def test_a_card_number_after_20000_characters_is_pii() -> None:
    report = "The board approved the budget for next year. " * 500
    card = " My card is 4111 1111 1111 1111."
    assert len(report) > 20000
    assert moderation.category_scores(card, ["pii"]) == {"pii": 1.0}
    assert moderation.category_scores(report + card, ["pii"]) == {"pii": 1.0}
