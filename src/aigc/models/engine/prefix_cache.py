"""Keys/values of prompt prefixes that requests share (a system prompt, the same retrieved
chunks), kept so the next request with that prefix computes only the rest of its prompt.

Why blocks: requests that share a long system prompt differ after it. The cache holds keys and
values in blocks of ``block_size`` tokens, each keyed by its parent block and its own tokens
(exactly: the key is the parent's unique id and the token tuple, so there are no hash
collisions), so all those requests share one copy of the common blocks and each adds only its
own tail. A lookup follows the chain from the first block while the blocks are there.

Bounded by bytes, evicted least recently used first. A hit touches its chain from the last
block to the first, so a shared first block is always more recent than the tails hanging off
it, and tails go first; a block whose parent was evicted can no longer be reached (its key
names a parent id that is never reused) and ages out like any other.

Used from the engine thread only (lookups while scheduling, insertions after a prefill), so it
needs no lock.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass

import torch

KV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values [1, heads, T, dim]
_ROOT = -1


@dataclass
class _Block:
    id: int
    data: torch.Tensor  # [layers, 2, heads, block_size, head_dim]


class PrefixCache:
    def __init__(self, capacity_bytes: int, block_size: int) -> None:
        self.capacity = capacity_bytes
        self.block_size = block_size
        self.used = 0  # bytes held
        self.evictions = 0
        self._blocks: OrderedDict[tuple[int, tuple[int, ...]], _Block] = OrderedDict()
        self._ids = itertools.count()

    def __len__(self) -> int:
        return len(self._blocks)

    def _chain(self, ids: list[int], limit: int) -> list[tuple[int, tuple[int, ...]]]:
        """The keys of the cached blocks that begin ``ids``, at most ``limit`` tokens."""
        keys: list[tuple[int, tuple[int, ...]]] = []
        parent = _ROOT
        size = self.block_size
        for start in range(0, limit - size + 1, size):
            key = (parent, tuple(ids[start : start + size]))
            block = self._blocks.get(key)
            if block is None:
                break
            keys.append(key)
            parent = block.id
        return keys

    def lookup(self, ids: list[int], limit: int) -> tuple[int, KV | None]:
        """The longest cached prefix of ``ids`` of at most ``limit`` tokens, whole blocks:
        its length and its keys/values per layer [1, heads, length, head_dim] (a new tensor:
        later evictions do not touch it)."""
        keys = self._chain(ids, limit)
        if not keys:
            return 0, None
        for key in reversed(keys):  # the first block ends up the most recent
            self._blocks.move_to_end(key)
        data = torch.cat([self._blocks[key].data for key in keys], dim=3)
        kv = [(layer[0][None], layer[1][None]) for layer in data]
        return len(keys) * self.block_size, kv

    def insert(self, ids: list[int], kv: KV, row: int = 0, offset: int = 0) -> None:
        """Store the whole blocks of ``ids`` (the tokens whose keys/values are row ``row`` of
        ``kv``, from column ``offset``: a left-padded batch's row starts after its padding)."""
        size = self.block_size
        parent = _ROOT
        new: list[tuple[int, tuple[int, ...]]] = []
        for start in range(0, len(ids) - size + 1, size):
            key = (parent, tuple(ids[start : start + size]))
            block = self._blocks.get(key)
            if block is not None:
                self._blocks.move_to_end(key)  # not evicted to make room for its own tail
            else:
                columns = slice(offset + start, offset + start + size)
                data = torch.stack(
                    [torch.stack((k[row, :, columns], v[row, :, columns])) for k, v in kv]
                )
                nbytes = data.numel() * data.element_size()
                if nbytes > self.capacity:
                    return
                self._make_room(nbytes)
                block = _Block(next(self._ids), data)
                self._blocks[key] = block
                self.used += nbytes
            new.append(key)
            parent = block.id
        for key in reversed(new):
            if key in self._blocks:
                self._blocks.move_to_end(key)

    def _make_room(self, nbytes: int) -> None:
        while self._blocks and self.used + nbytes > self.capacity:
            _, block = self._blocks.popitem(last=False)
            self.used -= block.data.numel() * block.data.element_size()
            self.evictions += 1
