"""N-gram language model with interpolated modified Kneser-Ney smoothing, as KenLM's lmplz.

The estimate follows lmplz step by step (Heafield et al. 2013; Chen & Goodman 1998):

1. Count. Each sentence is ``<s> w1 .. wk </s>``. The top order keeps raw counts; a lower-order
   n-gram's *adjusted* count is the number of distinct words seen before it (its continuation
   count), except n-grams that begin with ``<s>``, which nothing can precede: they keep raw
   counts. ``<s>`` and ``<unk>`` as unigrams count 0.
2. Discount. Per order, from the counts-of-adjusted-counts n1..n4: Y = n1 / (n1 + 2 n2) and
   D_j = j - (j + 1) Y n_{j+1} / n_j for j = 1, 2, 3+. Where that fails (an n_j is 0 or a D_j
   leaves [0, j], as on character data) ``discount_fallback`` (KenLM's 0.5 1 1.5) is used.
3. Interpolate. p(w | c) = (a(c w) - D(a)) / a(c .) + gamma(c) p(w | c minus its first word),
   gamma(c) = (D1 N1(c .) + D2 N2(c .) + D3 N3+(c .)) / a(c .); unigrams interpolate with the
   uniform 1 / |V| (|V| counts <unk>, not <s>). gamma(c) becomes c's back-off weight.

Counting is sort-based over numpy arrays (no Python object per n-gram): an order-k n-gram is one
int64, ``row of its prefix * |V| + last word``, so ``np.unique`` counts and sorts it (see
``arpa.py`` for the table layout). Queries use the back-off form KenLM uses, over the same tables.
"""

from __future__ import annotations

import array
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aigc.errors import refused_value
from aigc.models.text.arpa import (
    BOS,
    BOS_ID,
    EOS,
    EOS_ID,
    NO_PROB,
    UNK,
    UNK_ID,
    OrderTable,
    lookup,
    read_arpa,
    write_arpa,
)

MAX_ORDER = 9
KENLM_FALLBACK = (0.5, 1.0, 1.5)


@dataclass
class NGramConfig:
    order: int = 3
    # Discounts (D1, D2, D3+) for orders where the closed form fails; None: fail like lmplz.
    discount_fallback: tuple[float, float, float] | None = KENLM_FALLBACK


@dataclass
class Perplexity:
    """What KenLM's ``query`` reports for a corpus (</s> counted as a token)."""

    logprob: float  # total log10 probability
    tokens: int
    oovs: int
    perplexity: float  # including OOVs
    perplexity_excluding_oovs: float


@dataclass
class TrainingReport:
    tokens: int = 0
    sentences: int = 0
    counts: list[int] = field(default_factory=list)
    discounts: list[list[float]] = field(default_factory=list)
    fallback_orders: list[int] = field(default_factory=list)


class NGramLM:
    """A back-off n-gram model over words; ``<unk>``, ``<s>``, ``</s>`` are ids 0, 1, 2."""

    def __init__(self, vocab: list[str], tables: list[OrderTable]) -> None:
        if vocab[:3] != [UNK, BOS, EOS]:
            raise ValueError("the vocabulary must start with <unk>, <s>, </s>")
        self.vocab = vocab
        self.index = {w: i for i, w in enumerate(vocab)}
        self.tables = tables
        self.order = len(tables)
        self.report = TrainingReport(counts=[len(t) for t in tables])

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # --- training ---------------------------------------------------------------------------

    @classmethod
    def train(
        cls, sentences: Iterable[Sequence[str]], config: NGramConfig | None = None
    ) -> NGramLM:
        """Estimate from tokenised sentences (each a sequence of words, no <s>/</s>)."""
        config = config or NGramConfig()
        if not 1 <= config.order <= MAX_ORDER:
            raise refused_value(
                "param_int_range",
                "order must be between {low} and {high}",
                param="order",
                low=1,
                high=MAX_ORDER,
            )
        index = {UNK: UNK_ID, BOS: BOS_ID, EOS: EOS_ID}
        tokens = array.array("i")
        sentence_count = 0
        for sentence in sentences:
            tokens.append(BOS_ID)
            for word in sentence:
                if word in (UNK, BOS, EOS):
                    continue  # KenLM reads these inside text as whitespace
                tokens.append(index.setdefault(word, len(index)))
            tokens.append(EOS_ID)
            sentence_count += 1
        if sentence_count == 0:
            raise refused_value("training_data_empty", "There is no text to train on", param="data")
        if len(tokens) >= 2**31 - MAX_ORDER:
            raise refused_value(
                "corpus_too_large",
                "The corpus is too large: over 2 billion tokens",
                param="data",
                code="unsupported_value",
            )
        vocab = list(index)
        tables, discounts, fallback = _estimate(np.frombuffer(tokens, np.int32), len(vocab), config)
        model = cls(vocab, tables)
        model.report.tokens = len(tokens) - sentence_count  # words and </s>, as lmplz counts
        model.report.sentences = sentence_count
        model.report.discounts = discounts
        model.report.fallback_orders = fallback
        return model

    # --- scoring ----------------------------------------------------------------------------

    def ids(self, words: Sequence[str]) -> list[int]:
        get = self.index.get
        return [get(w, UNK_ID) for w in words]

    def token_logprobs(self, sentences: Sequence[Sequence[int]], eos: bool = True) -> np.ndarray:
        """log10 p of every token of every id sentence (then of </s>), after an implicit <s>."""
        flat, starts = _flatten(sentences, eos)
        return self._score_flat(flat, starts)

    def score(self, sentence: str | Sequence[str], bos: bool = True, eos: bool = True) -> float:
        """Total log10 probability, as ``kenlm.Model.score`` (words split on whitespace)."""
        words = sentence.split() if isinstance(sentence, str) else sentence
        if not bos:
            raise refused_value(
                "scoring_needs_bos",
                "Scoring without <s> is not supported",
                param="bos",
                code="unsupported_value",
            )
        return float(self.token_logprobs([self.ids(words)], eos=eos).sum(dtype=np.float64))

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> Perplexity:
        """Corpus perplexity including and excluding OOVs, as KenLM's ``query`` prints them."""
        id_sentences = [self.ids(s) for s in sentences]
        logprobs = self.token_logprobs(id_sentences).astype(np.float64)
        flat, _ = _flatten(id_sentences, True)
        target = flat[flat != BOS_ID]
        oov = target == UNK_ID
        total = float(logprobs.sum())
        n, n_oov = len(target), int(oov.sum())
        in_vocab = total - float(logprobs[oov].sum())
        return Perplexity(
            logprob=total,
            tokens=n,
            oovs=n_oov,
            perplexity=10.0 ** (-total / max(n, 1)),
            perplexity_excluding_oovs=10.0 ** (-in_vocab / max(n - n_oov, 1)),
        )

    def _score_flat(self, flat: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Score every non-<s> position of a flat ``<s> w.. </s> <s> ..`` id array."""
        n = len(flat)
        sentence_of = np.cumsum(np.isin(np.arange(n), starts)) - 1
        position = np.arange(n) - starts[sentence_of]  # 0 at each <s>
        rows = self._rows(flat, starts, sentence_of)  # rows[k][i]: k+1 words starting at i
        target = np.nonzero(position > 0)[0]
        context = np.minimum(position[target], self.order - 1)  # words available before
        matched = np.zeros(len(target), np.int64)
        logprob = np.zeros(len(target), np.float64)
        for k in range(1, self.order + 1):
            ok = context >= k - 1
            row = np.full(len(target), -1, np.int64)
            row[ok] = rows[k - 1][target[ok] - k + 1]
            found = row >= 0
            logprob[found] = self.tables[k - 1].logprob[row[found]]
            matched[found] = k
        for j in range(1, self.order):  # back off through contexts longer than the match
            use = (context >= j) & (matched <= j)
            row = np.full(len(target), -1, np.int64)
            row[use] = rows[j - 1][target[use] - j]
            has = row >= 0
            logprob[has] += self.tables[j - 1].backoff[row[has]]
        return logprob

    def _rows(
        self, flat: np.ndarray, starts: np.ndarray, sentence_of: np.ndarray
    ) -> list[np.ndarray]:
        """rows[k][i]: the table row of the (k+1)-gram starting at i (-1 if absent)."""
        n = len(flat)
        ends = np.append(starts[1:], n)[sentence_of]
        rows = [flat.astype(np.int64)]
        for k in range(2, self.order + 1):
            current = np.full(n, -1, np.int64)
            valid = np.nonzero((np.arange(n) + k <= ends) & (rows[-1] >= 0))[0]
            keys = rows[-1][valid] * self.vocab_size + flat[valid + k - 1]
            current[valid] = lookup(self.tables[k - 1], keys)
            rows.append(current)
        return rows

    # --- generation -------------------------------------------------------------------------

    def next_distribution(self, context: Sequence[int]) -> np.ndarray:
        """p(w | context) for every word id; ``context`` is the ids so far, usually from <s>."""
        probs = np.power(10.0, self.tables[0].logprob.astype(np.float64))
        probs[BOS_ID] = 0.0
        history = list(context)[-(self.order - 1) :] if self.order > 1 else []
        rows = self._suffix_rows(history)
        for j, row in enumerate(rows, 1):  # j words of context
            probs *= 10.0 ** float(self.tables[j - 1].backoff[row])
            table = self.tables[j]
            lo = np.searchsorted(table.keys, row * self.vocab_size)
            hi = np.searchsorted(table.keys, (row + 1) * self.vocab_size)
            words = table.keys[lo:hi] % self.vocab_size
            probs[words] = np.power(10.0, table.logprob[lo:hi].astype(np.float64))
        return probs

    def _suffix_rows(self, history: list[int]) -> list[int]:
        """Rows of the history's suffixes of length 1, 2, .. while they exist."""
        rows: list[int] = []
        for j in range(1, len(history) + 1):
            words = history[-j:]
            row = words[0]
            for k, word in enumerate(words[1:], 1):
                found = lookup(self.tables[k], np.array([row * self.vocab_size + word]))
                row = int(found[0])
                if row < 0:
                    return rows
            rows.append(row)
        return rows

    def sample(
        self,
        context: Sequence[int],
        rng: np.random.Generator,
        *,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        allow_unk: bool = False,
        allowed: np.ndarray | None = None,
    ) -> int:
        """One word id after ``context``; ``allowed`` (a mask over the vocabulary) restricts it."""
        probs = self.next_distribution(context)
        if not allow_unk:
            probs[UNK_ID] = 0.0
        if allowed is not None:
            probs = np.where(allowed, probs, 0.0)
        if probs.sum() <= 0.0:
            return EOS_ID
        return sample_from(probs, rng, temperature=temperature, top_k=top_k, top_p=top_p)

    def generate(
        self,
        prefix: Sequence[str] = (),
        *,
        max_words: int = 50,
        seed: int | None = None,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
    ) -> list[str]:
        """Words sampled after ``<s> prefix`` until ``</s>`` or ``max_words``."""
        rng = np.random.default_rng(seed)
        context = [BOS_ID, *self.ids(prefix)]
        out: list[str] = []
        for _ in range(max_words):
            word = self.sample(context, rng, temperature=temperature, top_k=top_k, top_p=top_p)
            if word == EOS_ID:
                break
            out.append(self.vocab[word])
            context.append(word)
        return out

    # --- files ------------------------------------------------------------------------------

    def save_arpa(self, path: Path) -> None:
        write_arpa(Path(path), self.vocab, self.tables)

    @classmethod
    def load_arpa(cls, path: Path) -> NGramLM:
        vocab, tables = read_arpa(Path(path))
        return cls(vocab, tables)

    def save(self, path: Path) -> None:
        """A fast-loading binary copy: tables in ``path`` (.npz), words in ``path.vocab``."""
        arrays: dict[str, Any] = {"report": np.array(json.dumps(asdict(self.report)))}
        for k, table in enumerate(self.tables, 1):
            arrays[f"keys{k}"], arrays[f"logprob{k}"] = table.keys, table.logprob
            arrays[f"backoff{k}"] = table.backoff
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)
        vocab_json = json.dumps(self.vocab, ensure_ascii=False)
        Path(f"{path}.vocab").write_text(vocab_json, encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> NGramLM:
        vocab = json.loads(Path(f"{path}.vocab").read_text(encoding="utf-8"))
        with np.load(path) as data:
            order = sum(1 for name in data.files if name.startswith("keys"))
            tables = [
                OrderTable(data[f"keys{k}"], data[f"logprob{k}"], data[f"backoff{k}"])
                for k in range(1, order + 1)
            ]
            report = json.loads(str(data["report"]))
        model = cls(vocab, tables)
        model.report = TrainingReport(**report)
        return model


def sample_from(
    probs: np.ndarray,
    rng: np.random.Generator,
    *,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
) -> int:
    """One draw from ``probs`` reshaped by temperature, top-k and top-p (0 temperature: argmax)."""
    if temperature <= 0.0:
        return int(np.argmax(probs))
    if temperature != 1.0:
        with np.errstate(divide="ignore"):
            logits = np.log(probs) / temperature
        probs = np.exp(logits - logits.max())
    order = np.argsort(-probs, kind="stable")
    if top_k > 0:
        order = order[:top_k]
    kept = probs[order]
    kept = kept / kept.sum()
    if top_p < 1.0:
        cut = int(np.searchsorted(np.cumsum(kept), top_p)) + 1
        kept = kept[:cut] / kept[:cut].sum()
        order = order[:cut]
    return int(order[rng.choice(len(kept), p=kept)])


def _flatten(sentences: Sequence[Sequence[int]], eos: bool) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(s) + 1 + int(eos) for s in sentences], np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    flat = np.empty(int(lengths.sum()), np.int64)
    for start, sentence in zip(starts.tolist(), sentences, strict=True):
        flat[start] = BOS_ID
        flat[start + 1 : start + 1 + len(sentence)] = sentence
        if eos:
            flat[start + 1 + len(sentence)] = EOS_ID
    return flat, starts


# --- estimation (lmplz) -----------------------------------------------------------------------


def _estimate(
    tokens: np.ndarray, vocab_size: int, config: NGramConfig
) -> tuple[list[OrderTable], list[list[float]], list[int]]:
    """Modified Kneser-Ney tables from a flat ``<s> w.. </s> <s> ..`` token array.

    Also returns the discounts (D1, D2, D3+) per order and the orders that fell back.
    """
    order = config.order
    counts = _count(tokens, vocab_size, order)
    adjusted = _adjust(counts, order)
    discounts, fallback = [], []
    for k in range(order):
        d, fell = _discounts(adjusted[k], k + 1, config.discount_fallback)
        discounts.append(d)
        if fell:
            fallback.append(k + 1)
    tables = _interpolate(counts, adjusted, discounts, vocab_size)
    return tables, [[float(x) for x in d[1:]] for d in discounts], fallback


@dataclass
class _Counted:
    keys: np.ndarray  # sorted unique n-gram keys
    raw: np.ndarray  # raw counts
    starts_bos: np.ndarray  # first word is <s>
    suffix: np.ndarray  # row of the n-gram without its first word (order >= 2)


def _count(tokens: np.ndarray, vocab_size: int, order: int) -> list[_Counted]:
    """Sorted unique n-grams of every order with raw counts, in about 60 bytes per token.

    ``rows[i]`` is the row (in the previous order's table) of the n-gram starting at token i;
    an order-k key extends it by the token k-1 places on. Sorting the keys groups equal
    n-grams; a group's rank is its row, which the next order builds on.
    """
    n = len(tokens)
    bos_at = np.flatnonzero(tokens == BOS_ID)
    sentence_end = np.repeat(np.append(bos_at[1:], n), np.diff(np.append(bos_at, n)))
    room = (sentence_end - np.arange(n)).astype(np.int32)  # tokens left in the sentence
    del sentence_end
    counted = [
        _Counted(
            np.arange(vocab_size, dtype=np.int64),
            np.bincount(tokens, minlength=vocab_size),
            np.arange(vocab_size) == BOS_ID,
            np.empty(0, np.int64),
        )
    ]
    rows = tokens.astype(np.int32)
    for k in range(2, order + 1):
        starts = np.flatnonzero(room >= k).astype(np.int32)
        keys = rows[starts].astype(np.int64) * vocab_size + tokens[starts + (k - 1)]
        by_key = np.argsort(keys)
        keys = keys[by_key]
        starts = starts[by_key]
        del by_key
        is_new = np.empty(len(keys), bool)
        is_new[:1] = True
        np.not_equal(keys[1:], keys[:-1], out=is_new[1:])
        first = np.flatnonzero(is_new)
        where = starts[first]
        counted.append(
            _Counted(
                keys[first],
                np.diff(np.append(first, len(keys))),
                tokens[where] == BOS_ID,
                rows[where + 1].astype(np.int64),
            )
        )
        del keys, first
        group = np.cumsum(is_new, dtype=np.int32)
        group -= 1
        rows = np.full(n, -1, np.int32)
        rows[starts] = group
        del starts, group, is_new
    return counted


def _adjust(counts: list[_Counted], order: int) -> list[np.ndarray]:
    """Adjusted counts: raw at the top order and after <s>, continuation counts elsewhere."""
    adjusted: list[np.ndarray] = [np.empty(0)] * order
    adjusted[order - 1] = counts[order - 1].raw.astype(np.int64)
    for k in range(order - 2, -1, -1):
        continuation = np.bincount(counts[k + 1].suffix, minlength=len(counts[k].keys))
        adjusted[k] = np.where(counts[k].starts_bos, counts[k].raw, continuation).astype(np.int64)
    adjusted[0][UNK_ID] = 0
    adjusted[0][BOS_ID] = 0
    return adjusted


def _discounts(
    adjusted: np.ndarray, order: int, fallback: tuple[float, float, float] | None
) -> tuple[np.ndarray, bool]:
    """D[0..3] (D[0] = 0) from counts of counts, in float32 as lmplz; fallback when it fails."""
    n = [int((adjusted == j).sum()) for j in range(5)]
    f32 = np.float32
    try:
        if min(n[1:4]) == 0:
            raise ArithmeticError(f"no {order}-grams with adjusted count {n[1:4].index(0) + 1}")
        y = f32(n[1]) / f32(n[1] + 2.0 * n[2])
        d = [f32(0.0)]
        for j in (1, 2, 3):
            d.append(f32(j) - f32(j + 1) * y * f32(n[j + 1]) / f32(n[j]))
            if not 0.0 <= d[j] <= j:
                raise ArithmeticError(f"{order}-gram discount D{j} = {d[j]:.4f} out of range")
        return np.array(d, np.float64), False
    except ArithmeticError as exc:
        if fallback is None:
            raise refused_value(
                "discounts_not_estimated",
                "Modified Kneser-Ney cannot estimate discounts: {reason}. Is the text very small "
                "or artificial? Train with a discount fallback (KenLM's --discount_fallback).",
                param="data",
                reason=str(exc),
            ) from None
        return np.array([0.0, *fallback], np.float64), True


def _interpolate(
    counts: list[_Counted],
    adjusted: list[np.ndarray],
    discounts: list[np.ndarray],
    vocab_size: int,
) -> list[OrderTable]:
    order = len(counts)
    gammas: list[np.ndarray] = []  # gammas[k]: per row of order k as a context (k = 0: empty)
    uninterp: list[np.ndarray] = []
    for k in range(order):
        a = adjusted[k]
        d = discounts[k]
        context = np.zeros(len(a), np.int64) if k == 0 else counts[k].keys // vocab_size
        n_contexts = 1 if k == 0 else len(counts[k - 1].keys)
        denominator = np.bincount(context, weights=a, minlength=n_contexts)
        mass = np.bincount(context, weights=d[np.minimum(a, 3)] * (a > 0), minlength=n_contexts)
        with np.errstate(divide="ignore", invalid="ignore"):
            gammas.append(np.where(denominator > 0, mass / denominator, 0.0))
            uninterp.append((a - d[np.minimum(a, 3)]) / denominator[context])
    tables: list[OrderTable] = []
    lower = np.empty(0)
    for k in range(order):
        if k == 0:
            prob = uninterp[0] + gammas[0][0] / (vocab_size - 1)  # uniform excludes <s>
            prob[BOS_ID] = 1.0
        else:
            context = counts[k].keys // vocab_size
            prob = uninterp[k] + gammas[k][context] * lower[counts[k].suffix]
        lower = prob
        with np.errstate(divide="ignore"):
            logprob = np.minimum(0.0, np.log10(prob)).astype(np.float32)
        if k == 0:
            logprob[BOS_ID] = NO_PROB
        if k + 1 < order:
            gamma = gammas[k + 1]
            with np.errstate(divide="ignore"):
                backoff = np.where(gamma > 0, np.log10(np.where(gamma > 0, gamma, 1.0)), 0.0)
            backoff = backoff.astype(np.float32)
        else:
            backoff = np.zeros(len(prob), np.float32)
        tables.append(OrderTable(counts[k].keys, logprob, backoff))
    return tables


def iter_words(lines: Iterable[str]) -> Iterator[list[str]]:
    """Whitespace-split non-empty lines: the sentence format of lmplz and query."""
    for line in lines:
        words = line.split()
        if words:
            yield words
