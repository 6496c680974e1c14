"""The running batch: the keys/values of every decoding request in one set of buffers.

Split from the engine loop because it is its own data structure with its own invariants
(rows left-padded to a common window, per-row costs, amortised growth), tested on its own;
the loop only asks it to add rows, remove rows and make room for the next column.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers.cache_utils import DynamicCache, DynamicLayer

KV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values [B, heads, T, head_dim]


class _Window:
    """The columns [start, end) of the batch buffers in use, and how many rows are running."""

    def __init__(self) -> None:
        self.rows = 0
        self.start = 0
        self.end = 0


class _SlotLayer(DynamicLayer):
    """One layer's keys/values, a view of the batch's buffers: a decode step writes its new
    column in place (the stock layer concatenates, copying the whole cache every step)."""

    def __init__(self, window: _Window, keys: torch.Tensor, values: torch.Tensor) -> None:
        super().__init__()
        self.window = window
        self.buffers = (keys, values)
        self.device = keys.device
        self.is_initialized = True
        self.refresh()

    def refresh(self) -> None:
        w, (keys, values) = self.window, self.buffers
        self.keys = keys[: w.rows, :, w.start : w.end]
        self.values = values[: w.rows, :, w.start : w.end]

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        w, (keys, values) = self.window, self.buffers
        end = w.end + key_states.shape[-2]  # the batch advances ``end`` after the step
        keys[: w.rows, :, w.end : end] = key_states
        values[: w.rows, :, w.end : end] = value_states
        self.keys = keys[: w.rows, :, w.start : end]
        self.values = values[: w.rows, :, w.start : end]
        return self.keys, self.values


class RunningBatch:
    """The keys/values of the decoding requests: one row each in preallocated buffers.

    Rows are left-padded to a common window of columns; ``mask`` [rows, width] marks real
    positions. Every cost is per row, not per batch: a request joining copies in its own rows,
    one leaving is replaced by the last row (one row copied), and columns that became padding
    for every row are dropped by moving the window's start. Only running out of room copies
    the whole window, and the buffers then grow with spare room (amortised).
    """

    ROOM = 64  # spare columns (and rows) reserved whenever the buffers are (re)allocated

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.window = _Window()
        self.layers: list[_SlotLayer] = []
        self.cache: DynamicCache | None = None
        self.mask = torch.zeros(0, 0, dtype=torch.long)
        self.padded = False  # some row has padding columns (else attention needs no mask)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def width(self) -> int:
        return self.window.end - self.window.start

    def _allocate(self, like: KV, rows: int, columns: int) -> None:
        """New buffers with the window copied to column 0.

        Left uninitialised: every column a step reads is written first (the window copied
        here, a joining row's keys/values and its padding zeros, each step's new column), so
        the memory of spare rows and columns is only touched, and paid for, once used."""
        w = self.window
        layers = []
        for i, (k, v) in enumerate(like):
            size = (rows, k.shape[1], columns, k.shape[3])
            keys, values = k.new_empty(size), v.new_empty(size)
            if self.layers and w.rows:
                old_keys, old_values = self.layers[i].buffers
                keys[: w.rows, :, : self.width] = old_keys[: w.rows, :, w.start : w.end]
                values[: w.rows, :, : self.width] = old_values[: w.rows, :, w.start : w.end]
            layers.append(_SlotLayer(w, keys, values))
        w.start, w.end = 0, self.width
        self.layers = layers
        self.cache = DynamicCache()
        self.cache.layers = list(layers)

    def _room(self, like: KV, rows: int, left: int, right: int) -> None:
        """Make room for ``rows`` rows, ``left`` columns before the window and ``right`` after."""
        w = self.window
        if self.layers:
            keys = self.layers[0].buffers[0]
            fits = rows <= keys.shape[0] and w.start >= left and w.end + right <= keys.shape[2]
            if fits:
                return
            if rows <= keys.shape[0] and left + self.width + right <= keys.shape[2]:
                self._shift(left)  # enough columns, in the wrong place: slide the window
                return
        spare_rows = min(self.ROOM, rows)  # room to join without a copy, up to ROOM rows
        spare_columns = max(self.ROOM, self.width)  # doubling: few copies as the window grows
        self._allocate(like, rows + spare_rows, left + self.width + right + spare_columns)
        self._shift(left)

    def _shift(self, start: int) -> None:
        """Move the window to begin at column ``start`` (one copy of the window)."""
        w = self.window
        if w.start == start:
            return
        if w.rows:
            for layer in self.layers:
                for buffer in layer.buffers:
                    buffer[: w.rows, :, start : start + self.width] = buffer[
                        : w.rows, :, w.start : w.end
                    ].clone()
        w.start, w.end = start, start + self.width

    def add(self, request_ids: list[str], kv: KV, mask: torch.Tensor | None = None) -> None:
        """Rows join: ``kv`` [b, heads, L, dim] per layer, ``mask`` [b, L] (None: all real)."""
        b, length = len(request_ids), kv[0][0].shape[2]
        if mask is None:
            mask = torch.ones(b, length, dtype=torch.long, device=kv[0][0].device)
        w = self.window
        grow_left = max(0, length - self.width)
        self._room(kv, w.rows + b, grow_left, 1)
        w.start -= grow_left
        if grow_left and w.rows:  # columns now before the window: padding of the rows there
            for layer in self.layers:
                for buffer in layer.buffers:
                    buffer[: w.rows, :, w.start : w.start + grow_left] = 0
        self.mask = F.pad(self.mask, (grow_left, 0)) if w.rows else self.mask.new_zeros(0, 0)
        rows = slice(w.rows, w.rows + b)
        for layer, (k, v) in zip(self.layers, kv, strict=True):
            keys, values = layer.buffers
            keys[rows, :, w.end - length : w.end] = k
            values[rows, :, w.end - length : w.end] = v
            keys[rows, :, w.start : w.end - length] = 0  # padding: a masked column must be
            # finite (softmax gives it weight 0, and 0 × inf is nan)
            values[rows, :, w.start : w.end - length] = 0
        joined = F.pad(
            mask.to(self.mask.device if w.rows else mask.device), (self.width - length, 0)
        )
        self.mask = torch.cat([self.mask, joined]) if w.rows else joined
        self.padded = bool((self.mask == 0).any())  # membership changes only: rare syncs
        w.rows += b
        self.ids.extend(request_ids)
        self._refresh()

    def remove(self, request_ids: set[str]) -> None:
        """Each leaving row is overwritten by the last row; then padding-only columns go."""
        gone = sorted((i for i, rid in enumerate(self.ids) if rid in request_ids), reverse=True)
        if not gone:
            return
        w = self.window
        for i in gone:
            last = w.rows - 1
            if i != last:
                for layer in self.layers:
                    for buffer in layer.buffers:
                        buffer[i, :, w.start : w.end] = buffer[last, :, w.start : w.end]
                self.mask[i] = self.mask[last]
                self.ids[i] = self.ids[last]
            self.ids.pop()
            w.rows -= 1
        if not w.rows:
            self.layers, self.cache = [], None  # idle: give the memory back
            self.mask = torch.zeros(0, 0, dtype=torch.long)
            self.padded = False
            w.start = w.end = 0
            return
        self.mask = self.mask[: w.rows]
        first = int((self.mask.sum(0) > 0).nonzero()[0])
        self.mask = self.mask[:, first:]
        self.padded = bool((self.mask == 0).any())
        w.start += first
        self._refresh()

    def before_step(self) -> torch.Tensor:
        """Room for one more column; the attention mask of this step."""
        like = [layer.buffers for layer in self.layers]
        self._room(like, self.window.rows, 0, 1)
        self._refresh()
        return F.pad(self.mask, (0, 1), value=1)

    def after_step(self, mask: torch.Tensor) -> None:
        self.window.end += 1
        self.mask = mask
        self._refresh()

    def _refresh(self) -> None:
        for layer in self.layers:
            layer.refresh()


def kv_of(cache: Any) -> KV:
    return [(layer.keys, layer.values) for layer in cache.layers]


def cache_of(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values
