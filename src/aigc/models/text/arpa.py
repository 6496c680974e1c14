"""The ARPA back-off language model format, read and written over packed numpy tables.

An ARPA file lists, per order, ``log10 p(w | context)``, the n-gram, and (below the top order)
its ``log10`` back-off weight. KenLM, SRILM and others read and write it.

In memory an order-k table is three parallel arrays sorted by ``keys``, where an n-gram's key is
``row of its (k-1)-word prefix in the order k-1 table * vocab size + last word id`` (order 1:
the word id itself, so the unigram row of word ``w`` is ``w``). Sorting by key sorts n-grams
lexicographically, so all continuations of one context sit in one contiguous run.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aigc.errors import refused_value

UNK, BOS, EOS = "<unk>", "<s>", "</s>"
UNK_ID, BOS_ID, EOS_ID = 0, 1, 2
NO_PROB = -99.0  # log10 probability written for <s>, which is never predicted
MISSING_UNK = -100.0  # KenLM's log10 p(<unk>) for files that do not list it


@dataclass
class OrderTable:
    keys: np.ndarray  # int64, sorted, unique
    logprob: np.ndarray  # float32, log10
    backoff: np.ndarray  # float32, log10 (all zero at the top order)

    def __len__(self) -> int:
        return len(self.keys)


def lookup(table: OrderTable, keys: np.ndarray) -> np.ndarray:
    """Rows of ``keys`` in ``table`` (-1 where absent)."""
    if len(table.keys) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    rows = np.searchsorted(table.keys, keys)
    rows = np.minimum(rows, len(table.keys) - 1)
    return np.where(table.keys[rows] == keys, rows, -1)


def ngram_words(vocab: list[str], tables: list[OrderTable], order: int) -> list[str]:
    """The n-grams of one order as space-joined strings, in table order."""
    vocab_size = len(vocab)
    words = np.array(vocab, dtype=object)
    texts = words[tables[0].keys]
    for k in range(1, order):
        keys = tables[k].keys
        texts = texts[keys // vocab_size] + " " + words[keys % vocab_size]
    return list(texts)


def write_arpa(path: Path, vocab: list[str], tables: list[OrderTable]) -> None:
    """Write an ARPA file; floats keep float32 precision so readers get the same numbers."""
    spaced = next((w for w in vocab if not w or any(ch.isspace() for ch in w)), None)
    if spaced is not None:
        raise ValueError(f"ARPA words cannot be empty or hold whitespace: {spaced!r}")
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write("\\data\\\n")
        for k, table in enumerate(tables, 1):
            out.write(f"ngram {k}={len(table)}\n")
        for k, table in enumerate(tables, 1):
            out.write(f"\n\\{k}-grams:\n")
            grams = ngram_words(vocab, tables, k)
            probs = [f"{p:.9g}" for p in table.logprob.tolist()]
            if k < len(tables):
                backoffs = [f"{b:.9g}" for b in table.backoff.tolist()]
                lines = [f"{p}\t{g}\t{b}\n" for p, g, b in zip(probs, grams, backoffs, strict=True)]
            else:
                lines = [f"{p}\t{g}\n" for p, g in zip(probs, grams, strict=True)]
            out.writelines(lines)
        out.write("\n\\end\\\n")


def read_arpa(path: Path) -> tuple[list[str], list[OrderTable]]:
    """Read an ARPA file (ours, KenLM's, SRILM's) into a vocabulary and packed tables.

    The vocabulary puts <unk>, <s>, </s> at ids 0, 1, 2 (as KenLM does); a file without <unk>
    gets one with KenLM's log10 probability of -100.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            return _parse(handle)
    except (OSError, UnicodeDecodeError) as exc:
        raise refused_value(
            "data_unreadable",
            "Cannot read the ARPA file {name}: {reason}",
            param="path",
            name=Path(path).name,
            reason=str(exc),
        ) from None


def _parse(handle: io.TextIOBase) -> tuple[list[str], list[OrderTable]]:
    lines = _lines(handle)
    counts = _header(lines)
    if not counts:
        raise refused_value(
            "arpa_not_arpa",
            "Not an ARPA file: no \\data\\ section with n-gram counts",
            param="path",
        )
    sections: list[tuple[list[str], np.ndarray, np.ndarray]] = []
    for k in range(1, len(counts) + 1):
        header = f"\\{k}-grams:" if k == 1 else next(lines, None)  # the header read \1-grams:
        if header != f"\\{k}-grams:":
            raise refused_value(
                "arpa_malformed",
                "ARPA file: {reason}",
                param="path",
                reason=f"expected \\{k}-grams:, found {header!r}",
            )
        grams, probs, backoffs = [], [], []
        for _ in range(counts[k - 1]):
            fields = (next(lines, None) or "").split()
            if len(fields) not in (k + 1, k + 2):
                raise refused_value(
                    "arpa_malformed",
                    "ARPA file: {reason}",
                    param="path",
                    reason=f"malformed {k}-gram line {' '.join(fields)!r}",
                )
            probs.append(float(fields[0]))
            grams.append(" ".join(fields[1 : k + 1]))
            backoffs.append(float(fields[k + 1]) if len(fields) == k + 2 else 0.0)
        sections.append((grams, np.array(probs, np.float32), np.array(backoffs, np.float32)))
    return _pack(sections)


def _lines(handle: io.TextIOBase) -> Iterator[str]:
    for line in handle:
        line = line.strip()
        if line:
            yield line


def _header(lines: Iterator[str]) -> list[int]:
    for line in lines:
        if line == "\\data\\":
            break
    counts: list[int] = []
    for line in lines:
        if not line.startswith("ngram "):
            if line != "\\1-grams:":
                raise refused_value(
                    "arpa_malformed",
                    "ARPA file: {reason}",
                    param="path",
                    reason=f"unexpected line {line!r} in the header",
                )
            break
        counts.append(int(line.split("=", 1)[1]))
    return counts


def _pack(
    sections: list[tuple[list[str], np.ndarray, np.ndarray]],
) -> tuple[list[str], list[OrderTable]]:
    unigrams, uni_probs, uni_backoffs = sections[0]
    vocab = [UNK, BOS, EOS]
    vocab += [w for w in unigrams if w not in (UNK, BOS, EOS)]
    index = {w: i for i, w in enumerate(vocab)}
    logprob = np.full(len(vocab), MISSING_UNK, np.float32)
    backoff = np.zeros(len(vocab), np.float32)
    ids = np.array([index[w] for w in unigrams], np.int64)
    logprob[ids], backoff[ids] = uni_probs, uni_backoffs
    if BOS not in unigrams:
        logprob[BOS_ID] = NO_PROB
    if EOS not in unigrams:
        raise refused_value(
            "arpa_malformed", "ARPA file: {reason}", param="path", reason="the unigrams lack </s>"
        )
    tables = [OrderTable(np.arange(len(vocab), dtype=np.int64), logprob, backoff)]
    vocab_size = len(vocab)
    for k, (grams, probs, backoffs) in enumerate(sections[1:], 2):
        try:
            words = np.array([[index[w] for w in g.split(" ")] for g in grams], np.int64)
        except KeyError as exc:
            raise refused_value(
                "arpa_malformed",
                "ARPA file: {reason}",
                param="path",
                reason=f"{k}-gram word {exc} is not a unigram",
            ) from None
        words = words.reshape(len(grams), k)
        rows = words[:, 0]
        for j in range(1, k - 1):
            rows = lookup(tables[j], rows * vocab_size + words[:, j])
            if (rows < 0).any():
                bad = grams[int(np.argmax(rows < 0))]
                raise refused_value(
                    "arpa_malformed",
                    "ARPA file: {reason}",
                    param="path",
                    reason=f"the prefix of the {k}-gram '{bad}' is missing",
                )
        keys = rows * vocab_size + words[:, k - 1]
        order = np.argsort(keys, kind="stable")
        tables.append(OrderTable(keys[order], probs[order], backoffs[order]))
    return vocab, tables
