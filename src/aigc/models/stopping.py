"""Apply ``stop`` sequences and ``max_tokens`` to any model's text stream, the same for all.

Stop sequences may span pieces, so the tail that could still start one is held back until the
next piece shows whether it does. The pieces may come from a plain iterator (most models) or an
async one (the batching engine, read on the event loop without a thread hop per token).

Why the text ended (OpenAI's ``finish_reason``): the gateway knows when it cut the text itself
(a stop sequence: ``"stop"``; one more piece would pass ``max_tokens``: ``"length"``, and the
text keeps the start of that piece that fits, unless the piece is a model's counted token). Most
models stop at ``request.max_tokens`` (or their context) on their own, so the gateway never sees
a piece too many: such a model ends its stream with ``Ended(reason)``, an empty piece that says
why. A model that says nothing ended at ``max_tokens`` when it produced that many tokens.

A tool call comes as ``protocols.ToolCallDelta`` pieces, a reasoning model's thinking as
``ReasoningDelta`` pieces: they count against ``max_tokens`` but stop sequences do not look
into them; text held back before one is released first, so
the order of text and calls is kept.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator

from aigc.models.protocols import SIDE_PIECES


class CountedText(str):
    """A piece of text that knows how many tokens made it, so nobody re-tokenizes it."""

    token_count: int

    def __new__(cls, text: str, token_count: int) -> CountedText:
        piece = super().__new__(cls, text)
        piece.token_count = token_count
        return piece


class Ended(str):
    """The empty last piece of a model's stream, saying why it ended: ``"length"`` (it reached
    ``max_tokens`` or its context), ``"stop"`` (end of text), or an upstream's own reason."""

    finish_reason: str

    def __new__(cls, finish_reason: str) -> Ended:
        piece = super().__new__(cls, "")
        piece.finish_reason = finish_reason
        return piece


class BoundedText:
    """Iterate (``for`` or ``async for``, as the pieces allow) to get the deltas to send;
    afterwards ``finish_reason`` and ``tokens`` are set."""

    def __init__(
        self,
        pieces: Iterable[str] | AsyncIterable[str],
        *,
        stop: list[str],
        max_tokens: int,
        count_tokens: Callable[[str], int],
    ) -> None:
        self._pieces = pieces
        self._stop = [s for s in stop if s]
        self._hold = max((len(s) for s in self._stop), default=1) - 1
        self._pending = ""
        self._max_tokens = max_tokens
        self._count = count_tokens
        self._cut: str | None = None  # the gateway ended the text: "stop" or "length"
        self._model_reason: str | None = None  # what the model said (``Ended``)
        self.tokens = 0

    @property
    def finish_reason(self) -> str:
        """Why the text ended; read once the pieces are consumed. The gateway's own cut
        wins, then the model's word; a silent model ended at the limit if it reached it."""
        if self._cut is not None:
            return self._cut
        if self._model_reason is not None:
            return self._model_reason
        return "length" if self.tokens >= self._max_tokens else "stop"

    @property
    def is_async(self) -> bool:
        return isinstance(self._pieces, AsyncIterable)

    def _feed(self, piece: str) -> tuple[str, bool]:
        """The delta this piece releases, and whether the text has ended."""
        reason = getattr(piece, "finish_reason", None)
        if reason is not None:
            self._model_reason = reason
        known = getattr(piece, "token_count", None)
        cost = known if known is not None else self._count(piece)
        ended = False
        if self.tokens + cost > self._max_tokens:
            self._cut = "length"
            if known is not None or isinstance(piece, SIDE_PIECES):
                return "", True  # a model's token, or a call's fragment, is not split
            piece = self._head(piece, self._max_tokens - self.tokens)
            cost, ended = self._count(piece) if piece else 0, True
        self.tokens += cost
        if isinstance(piece, SIDE_PIECES):
            return "", False
        if not self._stop:  # the common case: nothing to hold back or search
            return piece, ended
        pending = self._pending + piece
        cut = min((i for s in self._stop if (i := pending.find(s)) >= 0), default=-1)
        if cut >= 0:
            self._pending = ""
            self._cut = "stop"
            return pending[:cut], True
        ready = len(pending) - self._hold
        if ready > 0:
            self._pending = pending[ready:]
            return pending[:ready], ended
        self._pending = pending
        return "", ended

    def _head(self, piece: str, budget: int) -> str:
        """The longest start of ``piece`` that takes at most ``budget`` tokens, without the
        spaces it would end on (they open the next token): a piece of many tokens (a whole
        sentence, as a fixed answer or an upstream chunk may be) is cut at the limit, not
        dropped whole."""
        low, high = 0, len(piece)
        while low < high:
            mid = (low + high + 1) // 2
            if self._count(piece[:mid]) <= budget:
                low = mid
            else:
                high = mid - 1
        return piece[:low].rstrip()

    def _rest(self) -> str:
        rest, self._pending = self._pending, ""
        return rest

    def __iter__(self) -> Iterator[str]:
        assert isinstance(self._pieces, Iterable)
        for piece in self._pieces:
            delta, done = self._feed(piece)
            if isinstance(piece, SIDE_PIECES) and not done:
                if rest := self._rest():
                    yield rest
                yield piece
                continue
            if delta:
                yield delta
            if done:
                break  # at a stop sequence nothing is pending; at the length limit it is sent
        if rest := self._rest():
            yield rest

    async def __aiter__(self) -> AsyncIterator[str]:
        assert isinstance(self._pieces, AsyncIterable)
        pieces = aiter(self._pieces)
        try:
            async for piece in pieces:
                delta, done = self._feed(piece)
                if isinstance(piece, SIDE_PIECES) and not done:
                    if rest := self._rest():
                        yield rest
                    yield piece
                    continue
                if delta:
                    yield delta
                if done:
                    break  # at a stop sequence nothing is pending; at the length limit it is sent
        finally:
            close = getattr(pieces, "aclose", None)
            if close is not None:
                await close()  # ends the model's stream now (the engine frees the slot)
        if rest := self._rest():
            yield rest
