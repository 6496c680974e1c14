"""Apply ``stop`` sequences and ``max_tokens`` to any model's text stream, the same for all.

Stop sequences may span pieces, so the tail that could still start one is held back until the
next piece shows whether it does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator


class BoundedText:
    """Iterate to get the deltas to send; afterwards ``finish_reason`` and ``tokens`` are set."""

    def __init__(
        self,
        pieces: Iterable[str],
        *,
        stop: list[str],
        max_tokens: int,
        count_tokens: Callable[[str], int],
    ) -> None:
        self._pieces = pieces
        self._stop = [s for s in stop if s]
        self._max_tokens = max_tokens
        self._count = count_tokens
        self.finish_reason = "stop"
        self.tokens = 0

    def __iter__(self) -> Iterator[str]:
        if not self._stop:
            yield from self._length_only()
            return
        hold = max((len(s) for s in self._stop), default=1) - 1
        pending = ""
        for piece in self._pieces:
            cost = self._count(piece)
            if self.tokens + cost > self._max_tokens:
                self.finish_reason = "length"
                break
            self.tokens += cost
            pending += piece
            cut = min((i for s in self._stop if (i := pending.find(s)) >= 0), default=-1)
            if cut >= 0:
                if pending[:cut]:
                    yield pending[:cut]
                self.finish_reason = "stop"
                return
            ready = len(pending) - hold
            if ready > 0:
                yield pending[:ready]
                pending = pending[ready:]
        if pending:
            yield pending

    def _length_only(self) -> Iterator[str]:
        """The common case, no stop sequences: nothing to hold back or search."""
        for piece in self._pieces:
            cost = self._count(piece)
            if self.tokens + cost > self._max_tokens:
                self.finish_reason = "length"
                return
            self.tokens += cost
            yield piece
