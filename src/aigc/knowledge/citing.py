"""Which sources an answer used: the ``[n]`` markers it wrote, else the sources it matches.

The prompt numbers the sources ``[1]`` … ``[N]`` and asks the model to cite the ones it uses.
The response's ``citations`` then list only what the answer cites, renumbered in the order of
first citation (source 3 cited alone becomes citation 1, and the answer's ``[3]`` is rewritten
``[1]``), so a client can match a marker to its citation by ``index``. Markers are read as
models write them: ``[2]``, ``[1, 3]``, ``[1][3]``, ``【2】`` and full-width ``［2］``;
``[1-3]`` is not read (a range). A marker naming no source given (``[9]`` of 3) is removed
from the text: it points at nothing.

A model that writes no marker at all (a small local model, an upstream that ignores the
instruction) is judged by its sentences instead: a source is cited when one sentence of the
answer has at least ``MIN_SENTENCE_COVERAGE`` of its weighted content terms in that source
(``relevance.coverage``, the knowledge base's IDF) and at least ``MIN_SENTENCE_TERMS`` terms.

A model that cannot read sources (``reads_sources`` false: the template model) cites nothing:
its answer does not come from the documents, whatever they say.

Markers are rewritten on the fly for streamed answers: a piece that ends inside a possible
marker (``"see [1"``) is held back until the marker closes or cannot be one.

A bracketed number is a marker only where one can stand (``MarkerMode``): in prose, not in
code (a fenced block or an `inline` span) and not right after an underscore or a closing
bracket (``my_list[1]``, a Markdown ``[guide][1]``; ``[1][3]`` is two markers, and
``growth[1]`` one); in a JSON answer (``response_format``) only inside its strings,
since ``"floors": [2, 3]`` is data; under a regex or choice constraint nowhere, since the
text must stay as it was decoded (such answers are cited by their sentences).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

from aigc.knowledge import grounding, relevance
from aigc.knowledge.retrieve import Hit
from aigc.models.protocols import SIDE_PIECES
from aigc.models.stopping import Ended

# Pieces of a stream that are not the answer's text (each an empty or side ``str`` subclass).
_NOT_TEXT = (*SIDE_PIECES, Ended)

MARKER = re.compile(r"[\[【［]\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*[\]】］]")


def marker_numbers(match: re.Match[str]) -> list[int]:
    """The source numbers one ``MARKER`` match names: [2] → [2], [1, 3] → [1, 3]."""
    return [int(n) for n in re.split(r"[,，、]", match.group(1))]


# The longest text a marker may still be completing: "[123, 456, 789]" and spaces.
_HOLD = 24
_OPEN = re.compile(r"[\[【［][\d\s,，、]*$")
_TICKS = re.compile(r"`+|\n")
_TRAILING_TICKS = re.compile(r"`+$")
# my_list[1] and obj.items[1] index, [guide][1] is a Markdown reference link: no citation
# right after a name with an underscore or a dot inside, or after a closing bracket. A word or
# number may carry one ("growth[1]", "2023[1]", as encyclopaedias write them).
_IDENTIFIER = re.compile(r"\w*[_.]\w+(?:[_.]\w+)*$|\w+_$")

MarkerMode = Literal["text", "json", "none"]


def marker_mode(constraint_kind: str | None) -> MarkerMode:
    """Where markers may stand in an answer decoded under this output constraint (None: free
    text; json_object / json_schema: JSON; regex / choice: the text must stay as decoded)."""
    if constraint_kind is None:
        return "text"
    return "json" if constraint_kind in ("json_object", "json_schema") else "none"


class _Regions:
    """Splits an answer, as it arrives piece by piece, into the parts where a marker may stand
    and the rest: code (a run of backticks opens it; the same run, or for a fence of three or
    more any run as long, closes it; an inline span also ends with its line) or, in a JSON
    answer, what lies outside strings."""

    def __init__(self, mode: MarkerMode) -> None:
        self.mode = mode
        self.code = ""  # the backtick run that opened the code we are in ("": prose)
        self.in_string = False
        self.escaped = False

    def split(self, text: str) -> list[tuple[str, bool]]:
        if self.mode == "none":
            return [(text, False)]
        return self._json(text) if self.mode == "json" else self._prose(text)

    def _prose(self, text: str) -> list[tuple[str, bool]]:
        out: list[tuple[str, bool]] = []
        at = 0
        for run in _TICKS.finditer(text):
            ticks = run.group()
            if ticks == "\n":  # an inline span ends with its line (a stray ` opens no block)
                if self.code and len(self.code) < 3:
                    out.append((text[at : run.start()], False))
                    self.code, at = "", run.start()
                continue
            if not self.code:
                out.append((text[at : run.start()], True))
                self.code, at = ticks, run.start()
            elif ticks == self.code or 3 <= len(self.code) <= len(ticks):  # a fence closes
                out.append((text[at : run.end()], False))
                self.code, at = "", run.end()
        out.append((text[at:], not self.code))
        return [(part, counts) for part, counts in out if part]

    def _json(self, text: str) -> list[tuple[str, bool]]:
        out: list[tuple[str, bool]] = []
        at = 0
        for i, ch in enumerate(text):
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif ch == "\\":
                    self.escaped = True
                elif ch == '"':
                    out.append((text[at:i], True))
                    self.in_string, at = False, i
            elif ch == '"':
                out.append((text[at : i + 1], False))
                self.in_string, at = True, i + 1
        out.append((text[at:], self.in_string))
        return [(part, counts) for part, counts in out if part]


class _Markers:
    """The markers of one answer where they count (``_Regions``; not after ``_IDENTIFIER`` or
    a closing bracket), as the answer arrives: ``each`` maps each one, with its offset in the
    answer, to its replacement."""

    def __init__(self, mode: MarkerMode, each: Callable[[re.Match[str], int], str]) -> None:
        self.regions = _Regions(mode)
        self.each = each
        self.previous = ""  # the last characters before the next part (as the model wrote it)
        self.offset = 0  # characters of the answer read so far
        self.chain = -1  # where the last marker ended: "[1][3]" is two markers, a_b[1][3] none

    def read(self, text: str) -> str:
        out = []
        for part, counts in self.regions.split(text):
            out.append(self._markers_in(part) if counts else part)
            self.previous = (self.previous + part)[-_HOLD:]
            self.offset += len(part)
        return "".join(out)

    def _markers_in(self, part: str) -> str:
        def one(match: re.Match[str]) -> str:
            before = (self.previous + part[: match.start()])[-_HOLD:]
            start = self.offset + match.start()
            if start != self.chain and (
                before.endswith(("]", "】", "］")) or _IDENTIFIER.search(before)
            ):
                return match.group()
            self.chain = self.offset + match.end()
            return self.each(match, start)

        return MARKER.sub(one, part)

    def safe_cut(self, held: str) -> int:
        """How much of ``held`` can be read now: not a marker or a run of backticks that the
        next piece may still complete."""
        cut = len(held)
        open_at = _OPEN.search(held[-_HOLD:])
        if open_at:
            cut = len(held) - (len(held[-_HOLD:]) - open_at.start())
        ticks = _TRAILING_TICKS.search(held[:cut])
        return ticks.start() if ticks else cut


def marker_matches(text: str, mode: MarkerMode = "text") -> list[tuple[int, list[int]]]:
    """The markers of a whole answer where they count: (offset, the numbers each names)."""
    found: list[tuple[int, list[int]]] = []

    def keep(match: re.Match[str], offset: int) -> str:
        found.append((offset, marker_numbers(match)))
        return match.group()

    _Markers(mode, keep).read(text)
    return found


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
        mode: MarkerMode = "text",
    ) -> None:
        self.hits = hits
        self.question = question
        self.reads_sources = reads_sources
        self.mode = mode
        self._weights = weights or {}
        self._order: dict[int, int] = {}  # prompt number → citation number
        self._texts: list[str] = []  # every answer, as sent

    # --- markers ---

    def _renumber(self, match: re.Match[str], _offset: int = 0) -> str:
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
        return self.reads_sources and bool(self.hits) and self.mode != "none"

    def rewrite(self, text: str) -> str:
        """A whole answer with its markers renumbered (and recorded as the answer)."""
        out = _Markers(self.mode, self._renumber).read(text) if self._rewrites else text
        self._texts.append(out)
        return out

    async def rewrite_stream(self, pieces: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """The pieces of one streamed answer with their markers renumbered. A piece that is not
        text passes unchanged, in its place: a tool-call delta, reasoning or an end marker is a
        ``str`` subclass (``_NOT_TEXT``), and read as text it vanished, the call with it. Text
        may be a ``str`` subclass too (an upstream's piece carrying its tokens): it is read."""
        markers = _Markers(self.mode, self._renumber)
        held = ""
        sent: list[str] = []

        def release(text: str) -> str:
            out = markers.read(text) if self._rewrites else text
            sent.append(out)
            return out

        async for piece in pieces:
            if not isinstance(piece, str) or isinstance(piece, _NOT_TEXT):
                # text held for a marker that may be opening ends before a tool call
                if held and (out := release(held)):
                    yield out
                held = ""
                yield piece
                continue
            held += piece
            cut = markers.safe_cut(held) if self._rewrites else len(held)
            ready, held = held[:cut], held[cut:]
            if ready and (out := release(ready)):
                yield out
        if held and (out := release(held)):
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
