"""Which sources an answer used: the ``[n]`` markers it wrote, else the sources it matches.

The prompt numbers the sources ``[1]`` … ``[N]`` and asks the model to cite the ones it uses.
The response's ``citations`` then list only what the answer cites, renumbered in the order of
first citation (source 3 cited alone becomes citation 1, and the answer's ``[3]`` is rewritten
``[1]``), so a client can match a marker to its citation by ``index``. Markers are read as
models write them: ``[2]``, ``[1, 3]``, ``[1][3]``, full-width ``【2】``, ``[1-3]`` is not read
(a range). A marker naming no source given (``[9]`` of 3) is removed from the text: it points
at nothing.

A model that writes no marker at all (a small local model, an upstream that ignores the
instruction) is judged by its sentences instead: a source is cited when one sentence of the
answer has at least ``MIN_SENTENCE_COVERAGE`` of its weighted content terms in that source
(``relevance.coverage``, the knowledge base's IDF) and at least ``MIN_SENTENCE_TERMS`` terms.

A model that cannot read sources (``reads_sources`` false: the template model) cites nothing:
its answer does not come from the documents, whatever they say.

Markers are rewritten on the fly for streamed answers: a piece that ends inside a possible
marker (``"see [1"``) is held back until the marker closes or cannot be one.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from aigc.knowledge import grounding, relevance
from aigc.knowledge.retrieve import Hit
from aigc.models.protocols import ToolCallDelta

MARKER = re.compile(r"[\[【]\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*[\]】]")


def marker_numbers(match: re.Match[str]) -> list[int]:
    """The source numbers one ``MARKER`` match names: [2] → [2], [1, 3] → [1, 3]."""
    return [int(n) for n in re.split(r"[,，、]", match.group(1))]


# The longest text a marker may still be completing: "[123, 456, 789]" and spaces.
_HOLD = 24
_OPEN = re.compile(r"[\[【][\d\s,，、]*$")
_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]?")
MIN_SENTENCE_TERMS = 3
MIN_SENTENCE_COVERAGE = 0.6

NOT_READ = {
    "en": "This model cannot read sources: its answer does not come from the documents.",
    "zh": "该模型无法阅读资料：它的回答并非来自文档。",
}


class SourceUse:
    """The sources one grounded response gave its model, and which its answers cited.

    Shared by every choice of the response, in order, so the numbering is one for all.
    """

    def __init__(
        self,
        hits: list[Hit],
        question: str,
        reads_sources: bool = True,
        weights: dict[str, relevance.TermWeights] | None = None,
    ) -> None:
        self.hits = hits
        self.question = question
        self.reads_sources = reads_sources
        self._weights = weights or {}
        self._order: dict[int, int] = {}  # prompt number → citation number
        self._texts: list[str] = []  # every answer, as sent

    # --- markers ---

    def _renumber(self, match: re.Match[str]) -> str:
        kept = []
        for n in marker_numbers(match):
            if 1 <= n <= len(self.hits) and self.reads_sources:
                kept.append(self._order.setdefault(n, len(self._order) + 1))
        if not kept:
            return ""
        return "[" + ", ".join(str(k) for k in dict.fromkeys(kept)) + "]"

    @property
    def _rewrites(self) -> bool:
        """Markers are read only where they can mean a source (else the text is left as is)."""
        return self.reads_sources and bool(self.hits)

    def rewrite(self, text: str) -> str:
        """A whole answer with its markers renumbered (and recorded as the answer)."""
        out = MARKER.sub(self._renumber, text) if self._rewrites else text
        self._texts.append(out)
        return out

    async def rewrite_stream(self, pieces: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """The pieces of one streamed answer with their markers renumbered; pieces that are not
        text pass unchanged: tool-call deltas (``ToolCallDelta`` is an empty ``str``, so it is
        told apart by its type; read as text it vanished, and with it the call)."""
        held = ""
        sent: list[str] = []
        async for piece in pieces:
            if isinstance(piece, ToolCallDelta) or not isinstance(piece, str) or not self._rewrites:
                if held:  # text held for a marker that may be opening ends before a tool call
                    out = MARKER.sub(self._renumber, held)
                    sent.append(out)
                    held = ""
                    if out:
                        yield out
                yield piece
                continue
            held += piece
            open_at = _OPEN.search(held[-_HOLD:])
            cut = len(held) - (len(held[-_HOLD:]) - open_at.start()) if open_at else len(held)
            ready, held = held[:cut], held[cut:]
            if ready:
                out = MARKER.sub(self._renumber, ready)
                sent.append(out)
                if out:
                    yield out
        if held:
            out = MARKER.sub(self._renumber, held)
            sent.append(out)
            if out:
                yield out
        self._texts.append("".join(sent))

    # --- what was used ---

    def _matched(self) -> list[Hit]:
        """Sources one answer sentence matches (for answers without markers), in prompt order."""
        used: list[Hit] = []
        sentences = [s for text in self._texts for s in _SENTENCE.findall(text)]
        for hit in self.hits:
            weights = self._weights.get(hit.kb_id)
            idf = weights.idf if weights is not None else (lambda t: 1.0)
            for sentence in sentences:
                terms = relevance.question_terms(sentence)
                if len(terms) < MIN_SENTENCE_TERMS:
                    continue
                if relevance.coverage(terms, hit.text, idf) >= MIN_SENTENCE_COVERAGE:
                    used.append(hit)
                    break
        return used

    def method(self) -> str | None:
        """How the citations were decided: ``markers``, ``matching`` or None (none could be)."""
        if not self.reads_sources or not self.hits:
            return None
        return "markers" if self._order else "matching"

    def cited(self) -> list[Hit]:
        if self.method() is None:
            return []
        if self._order:
            by_citation = sorted(self._order.items(), key=lambda item: item[1])
            return [self.hits[n - 1] for n, _ in by_citation]
        return self._matched()

    def citations(self) -> list[dict[str, Any]]:
        """The ``citations`` of the response: the sources used, numbered as the answer cites."""
        return grounding.citations(self.cited())

    def summary(self) -> dict[str, Any]:
        """The ``grounding`` field: how many sources were given, how many cited and how that
        was decided, and a note when the model could not read them."""
        out: dict[str, Any] = {
            "sources_given": len(self.hits),
            "cited": len(self.cited()),
            "cited_by": self.method(),
        }
        if self.hits and not self.reads_sources:
            out["note"] = NOT_READ[grounding.language_of(self.question)]
        return out


def response_fields(use: SourceUse | None) -> dict[str, Any]:
    """``citations`` and ``grounding`` for a grounded response, nothing for any other."""
    if use is None:
        return {}
    return {"citations": use.citations(), "grounding": use.summary()}
