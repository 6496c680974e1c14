"""Whether a retrieved chunk is about the question: weighted terms and the retrieval score.

Retrieval always returns its best chunks, even for a question the knowledge base knows nothing
about; grounding must tell "the best of nothing" from a real match, in English and Chinese.

The judgement weighs the question's *content* terms by how rare they are in the knowledge base
(the IDF of its own BM25 statistics), so a rare name or number counts for more than a common
word, and a term the knowledge base has never seen counts most of all: a question about
"PepsiCo" against other companies' filings is not answered by chunks that merely share
"revenue" and "2023". Stop words are left out in both languages (bm25s' English and Chinese
lists: 吗, 多少, 需要, 是否, what, how...; and please, 请, 帮我; and 等于, 相当于, the Chinese
for "is" and "means"), a calculation (1+1等于几, 2 plus 2) is no term at all, Chinese is
segmented by jieba, and a Chinese word is found in a chunk by containment (the chunk may be
segmented differently), a one-character word only where the chunk's own cut has it as a word
(写 is no part of 填写). A Chinese word that is absent still earns part of its weight for
each of its characters present (补助 beside 补贴), because paraphrase in Chinese mostly keeps
characters. ``coverage`` is the found share of the question's weight, 0 to 1.

A chunk that holds some of the question's numbers and none of its words is not about it (2
of 2倍 for "2的平方根是多少").

``judge`` combines coverage with the dense (cosine) score where the embedding model reads the
question's script (MiniLM: English only; the dense score of a Chinese question is noise): a
chunk is relevant when its coverage reaches the threshold of the question's script, or when a
close vector comes with some term evidence; for a Chinese question that the search ranked by
word meanings (``knowledge/meanings.py``), when a close meaning does. One rule
comes first: an English question that names something (a capitalised word past a sentence's
start, an acronym, a code such as FY2023) that the knowledge base has never seen is about
something it does not hold, and no chunk of it is
relevant. The thresholds and the evidence for them are in docs/grounding.md (``bench/grounding.py
--calibrate`` prints it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from aigc.infra.canonical_text import canonical
from aigc.knowledge.index import Bm25, chinese_words, tokenize

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_SPACE = re.compile(r"\s+")

# A Chinese question word absent from the chunk earns this share of the weight of each of its
# characters the chunk holds (a character's weight: its own IDF, at most its share of the word's).
CHARACTER_CREDIT = 0.5
# Thresholds (bench/grounding.py --calibrate prints their evidence; docs/grounding.md).
# Relevant on term evidence alone, by the question's script. Chinese: the best coverage of the
# worst-served answerable question of the zh_docs tuning half (0.16), rounded down to 0.05.
# Latin: a third of the question's weight, set by hand below what MS MARCO's tuning half
# allows (0.45 loses no question there), because its keyword queries paraphrase less than
# people's questions; no conversational English set is at hand to calibrate it on.
MIN_COVERAGE = {"latin": 0.34, "cjk": 0.15}
# A close vector (English-reading model, Latin-script question) with some term evidence:
# above every MS MARCO tuning-half absent-document negative under the coverage threshold.
MIN_DENSE = 0.45
MIN_COVERAGE_WITH_DENSE = 0.2
# A Chinese question that the search ranked by word meanings (knowledge/meanings.py): a chunk
# under the coverage threshold is relevant when it is as close in meaning as every answering
# chunk of the zh_docs tuning half (their lowest meaning, 0.762, rounded down to 0.05) with
# some term evidence (the lowest coverage of an answering chunk, 0.141, rounded down). Meaning
# only ever admits: a floor on it (coverage ≥ 0.20 with meaning ≥ 0.65, from the same half)
# turned away 21 of 48 off-topic requests on zh_docs, but also the answers to plain questions
# on a small handbook (年假怎么申请？, 住宿费上限是多少？), whose short chunks are less close in
# meaning than zh_docs' long ones (tests/knowledge/test_relevance.py).
CLOSE_MEANING = 0.75
MIN_COVERAGE_WITH_MEANING = 0.10


# Words of asking that bm25s' longer English list lacks.
_ASKING = frozenset({"could", "would", "whose", "much", "many", "please", "tell", "get"})
# And its Chinese list: please, help me, tell me, greetings and thanks. 请 was found in 请假
# (leave) and made a request for a poem about spring relevant to the attendance rules.
_ASKING_ZH = frozenset(
    {"请", "请问", "麻烦", "帮", "帮我", "帮忙", "告诉", "告诉我", "你好", "您好", "谢谢"}
)
# Words of being and equality, Chinese for the "is" and "means" that the English list drops:
# no topic of their own. 等于 in "迟到三次等于旷工半天" made "爱情等于什么？" (a question of no
# word the rules hold but this one) relevant to the attendance rules.
_BEING_ZH = frozenset({"等于", "相当于", "意味着", "就是", "算是", "即是"})

# A calculation: numbers joined by operators (1+1, 3×5, 一加一, 2 plus 2), with the word of
# equality after it (等于, =, equals). Its numbers and words are arithmetic, not a topic: a
# knowledge base that holds 1 and 等于 somewhere does not answer "1+1等于几？". A hyphen or a
# slash alone (2023-01-05, BX-2024-0456, 3/4) makes one only before a word of equality.
_NUMBER = r"(?:\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千万亿]+)"
_OPERATOR = r"(?:[+*×÷^]|加上?|减去?|乘以?|除以|plus|minus|times|multiplied\s+by|divided\s+by)"
_EQUALS = r"(?:等于|=|equals?(?:\s+to)?)"
_CALCULATION = re.compile(
    rf"(?<![A-Za-z0-9.\-/]){_NUMBER}(?:\s*(?:{_OPERATOR}|[-−/])\s*{_NUMBER})+"
    rf"(?![A-Za-z0-9.\-/])(?:\s*{_EQUALS}(?![A-Za-z]))?",
    re.I,
)


def _without_calculations(question: str) -> str:
    """``question`` with each calculation blanked out (the question as a space)."""

    def blank(match: re.Match[str]) -> str:
        text = match.group()
        plain = re.search(_OPERATOR, text, re.I) is not None
        equals = re.search(rf"{_EQUALS}$", text, re.I) is not None
        return " " if plain or equals else text

    return _CALCULATION.sub(blank, question)


@lru_cache(maxsize=1)
def _english_stopwords() -> frozenset[str]:
    """bm25s' longer English list (the index's own, Lucene's 33 words, keeps "what", "how",
    "does": harmless to rank by, but they are no evidence of relevance)."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS) | _ASKING


@dataclass(frozen=True)
class Term:
    """A content term of the question, as the index knows it (stemmed, lower-cased).
    ``name``: written as a name or a code in the question (PepsiCo, IBM, FY2023)."""

    text: str
    cjk: bool
    name: bool = False


def _is_name(question: str, start: int, word: str) -> bool:
    """Capitalised past the start of a sentence, two capitals or more, or letters with digits."""
    before = question[:start].rstrip()
    sentence_start = not before or before[-1] in ".?!:;\"'“‘(（"
    capitals = sum(c.isupper() for c in word)
    mixed = any(c.isdigit() for c in word) and any(c.isalpha() for c in word)
    return (word[0].isupper() and not sentence_start) or capitals >= 2 or mixed


def question_terms(question: str) -> list[Term]:
    """The distinct content terms of ``question``: English words stemmed as the index stems
    them (stop words out), Chinese words cut by jieba (precise mode, stop words out). Read
    through ``canonical``, as the index reads text: a question typed with full-width letters
    (ＶＰＮ, ＢＸ－２０２４) has its Latin terms as the chunks do."""
    question = _without_calculations(canonical(question))
    lowered = question.lower()
    seen: dict[str, Term] = {}
    for match in _WORD.finditer(question):
        word = match.group()
        if word.lower() in _english_stopwords():
            continue
        name = _is_name(question, match.start(), word)
        for token in tokenize(word):  # stemmed as BM25 stems them
            if token in seen and name and not seen[token].name:
                seen[token] = Term(token, cjk=False, name=True)
            seen.setdefault(token, Term(token, cjk=False, name=name))
    for word in chinese_words(lowered):
        if word not in _ASKING_ZH and word not in _BEING_ZH:
            seen.setdefault(word, Term(word, cjk=True))
    return list(seen.values())


class TermWeights:
    """IDF of terms in one knowledge base, from its BM25 statistics (document frequency of each
    term over its chunks), with the BM25 formula. A term the index does not know gets the
    largest IDF: a chunk count of zero."""

    def __init__(self, bm25: Bm25) -> None:
        self._vocab = bm25.vocab
        self._df = np.diff(bm25.weights.indptr)  # terms × rows in CSR: stored rows per term
        self._n = int(bm25.weights.shape[1])

    def knows(self, term: Term) -> bool:
        return term.text in self._vocab

    def _idf_of_df(self, df: int) -> float:
        return math.log1p((self._n - df + 0.5) / (df + 0.5))

    def idf(self, term: Term) -> float:
        row = self._vocab.get(term.text)
        if row is not None:
            return self._idf_of_df(int(self._df[row]))
        if term.cjk and len(term.text) > 1:
            # A word the index did not cut out as such is at most as common as its rarest
            # character: that character's IDF is a lower bound of the word's.
            known = [self._vocab.get(ch) for ch in term.text]
            rows = [r for r in known if r is not None]
            if len(rows) == len(known):
                return max(self._idf_of_df(int(self._df[r])) for r in rows)
        return self._idf_of_df(0)


def _latin_tokens(text: str) -> set[str]:
    return set(tokenize(_CJK_RUN.sub(" ", text)))


@lru_cache(maxsize=256)
def _chunk_words(lowered: str) -> frozenset[str]:
    """A chunk's own Chinese words, cut once: citing matches every answer sentence against
    every source, each through ``coverage``."""
    return frozenset(chinese_words(lowered))


def coverage(terms: list[Term], text: str, idf: Callable[[Term], float]) -> float:
    """The IDF-weighted share of ``terms`` that ``text`` holds (0 when there are none)."""
    return _share(_found(terms, text, idf))


def _share(found: list[tuple[Term, float, float]]) -> float:
    total = sum(weight for _, weight, _ in found)
    return sum(part for _, _, part in found) / total if total > 0 else 0.0


def _found(
    terms: list[Term], text: str, idf: Callable[[Term], float]
) -> list[tuple[Term, float, float]]:
    """Each term with its weight and the part of it that ``text`` holds."""
    if not terms:
        return []
    # Chinese PDFs break lines inside words; terms are read through ``canonical`` too
    lowered = canonical(_SPACE.sub("", text.lower()))
    latin = _latin_tokens(text.lower())
    out = []
    for term in terms:
        weight = idf(term)
        if not term.cjk:
            found = weight if term.text in latin else 0.0
        elif len(term.text) == 1:  # a one-character word: as a word of the chunk, not a part
            found = weight if term.text in _chunk_words(lowered) else 0.0  # of one (填写)
        elif term.text in lowered:
            found = weight
        else:  # each character present earns its own weight, at most its share of the word's
            share = weight / len(term.text)
            found = CHARACTER_CREDIT * sum(
                min(share, idf(Term(ch, cjk=True))) for ch in term.text if ch in lowered
            )
        out.append((term, weight, found))
    return out


def _numbers_only(found: list[tuple[Term, float, float]]) -> bool:
    """Whether a chunk holds none of a question's words, only some of its numbers (when it
    has words): 2 and 5 are in many chunks that are not about "2的平方根是多少"."""
    words = [part for term, _, part in found if term.cjk or not term.text.isdigit()]
    return bool(words) and not any(words)


def judged(
    coverage_score: float,
    dense_score: float | None,
    dense_reads_script: bool,
    script: str,
    meaning_score: float | None = None,
) -> bool:
    """The calibrated decision from a chunk's coverage, its dense score and, for a Chinese
    question the search ranked by word meanings, its meaning score."""
    if coverage_score >= MIN_COVERAGE[script]:
        return True
    if script == "cjk" and meaning_score is not None:
        return coverage_score >= MIN_COVERAGE_WITH_MEANING and meaning_score >= CLOSE_MEANING
    return (
        dense_reads_script
        and dense_score is not None
        and dense_score >= MIN_DENSE
        and coverage_score >= MIN_COVERAGE_WITH_DENSE
    )


@dataclass(frozen=True)
class Judgement:
    """One chunk's relevance and the evidence for it (kept for the bench and for debugging)."""

    relevant: bool
    coverage: float
    dense: float | None
    meaning: float | None = None


def judge(
    hit_text: str,
    dense_score: float | None,
    terms: list[Term],
    weights: TermWeights | None,
    script: str,
    meaning_score: float | None = None,
) -> Judgement:
    """One chunk against the question's ``terms`` (``script``: the question's, ``latin`` or
    ``cjk``); without ``weights`` (an index not loaded) every term weighs the same. The dense
    score counts for Latin-script questions only: the default embedding model reads English;
    a Chinese question's ``meaning_score`` (when the search ranked by meanings) counts for it."""
    found = _found(terms, hit_text, weights.idf if weights is not None else lambda t: 1.0)
    score = _share(found)
    if _numbers_only(found):  # the question's numbers are no topic without one of its words
        return Judgement(False, round(score, 4), dense_score, meaning_score)
    if (
        script == "latin"
        and weights is not None
        and any(t.name and not weights.knows(t) for t in terms)
    ):
        # The question names something (PepsiCo, FY2023, IBM) that no chunk of this knowledge
        # base mentions: whatever else matches is about something else. Not for Chinese
        # questions: the Latin words in them (JDK, Executors) are the paraphrase's own.
        return Judgement(False, round(score, 4), dense_score, meaning_score)
    relevant = judged(score, dense_score, script == "latin", script, meaning_score)
    return Judgement(relevant, round(score, 4), dense_score, meaning_score)
