"""Decoding for every neural language model: greedy, sampling and beam search.

A model is seen through ``StepLM``: ``prefill`` a prompt, then ``step`` one token at a time,
``select`` rows of its state (beam search reorders beams). Each step's logits go through the
same chain, in this order:

    per-request logits processors (structured output, watermark...)
    → repetition penalty (prompt and output), presence/frequency penalties (output)
    → no_repeat_ngram_size → min_tokens (end-of-text banned until then)
    → temperature → top-k → top-p → min-p → pick (argmax, a seeded draw, or beams)

Reported logprobs are the model's own (log-softmax of its raw logits), as vLLM reports them, so
they add up to what the model's scorer says about the same text.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from aigc.models.protocols import TextRequest


class StepLM(Protocol):
    """A causal language model decoded one token at a time (batch rows = beams)."""

    vocab_size: int
    device: torch.device
    max_context: int | None  # positions it can attend to; None: any length (recurrent)

    def prefill(self, ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """``ids`` [B, T] → logits of the next token [B, V] and the state after them."""
        ...

    def step(
        self, state: Any, ids: torch.Tensor, history: torch.Tensor
    ) -> tuple[torch.Tensor, Any]:
        """Feed one token per row (``ids`` [B]); ``history`` [B, T] is every token so far
        (prompt and output), for models with a bounded context that must re-read it."""
        ...

    def select(self, state: Any, rows: torch.Tensor) -> Any:
        """The state of the rows ``rows`` (beam search keeps and reorders beams)."""
        ...


@dataclass
class Token:
    """One generated token with its logprob and the most likely alternatives."""

    id: int
    logprob: float
    top: list[tuple[int, float]] = field(default_factory=list)


# --- never half a character: a UTF-8 automaton over token bytes ---------------------------


class Utf8Guard:
    """Keeps a byte-level model from producing invalid UTF-8.

    A byte-level BPE token is a run of bytes, possibly part of a character. The state is the
    position inside the current character; a token is allowed only if its bytes continue a
    valid UTF-8 sequence from there. Without this, a sampled stray byte would reach the client
    as U+FFFD (mojibake); with it, every finished character is whole.
    """

    def __init__(self, token_bytes: Sequence[bytes]) -> None:
        table = torch.full((UTF8_STATES, len(token_bytes)), -1, dtype=torch.long)
        for token_id, data in enumerate(token_bytes):
            for state in range(UTF8_STATES):
                table[state, token_id] = _utf8_after(state, data)
        self.next_state = table
        self._banned = [table[s] < 0 for s in range(UTF8_STATES)]

    def banned(self, state: int, size: int, device: torch.device) -> torch.Tensor:
        """A mask of the tokens that may not follow. Rows of a vocabulary padded beyond the
        tokenizer's are banned too: no text stands behind them (a model whose embedding has
        512 rows over a 257-token tokenizer sampled them, and the request failed)."""
        mask = self._banned[state][:size]
        if mask.numel() < size:
            mask = torch.cat([mask, torch.ones(size - mask.numel(), dtype=torch.bool)])
        return mask.to(device)

    def advance(self, state: int, token_id: int) -> int:
        if token_id >= self.next_state.shape[1]:  # beyond the tokenizer: no bytes, no change
            return state
        return max(0, int(self.next_state[state, token_id]))


# States: 0 (between characters), 1-3 (that many continuation bytes owed, any value), and the
# four lead bytes whose next byte has a narrower range (no overlongs, surrogates or > U+10FFFF).
# Per-request sampling options every neural backend honours (the gateway refuses them for
# families whose ``decoding_fields`` lack them); beam search and logprobs come on top where served.
SAMPLING_FIELDS = frozenset(
    {
        "top_k",
        "min_p",
        "presence_penalty",
        "frequency_penalty",
        "repetition_penalty",
        "no_repeat_ngram_size",
        "min_tokens",
    }
)
BEAM_FIELDS = frozenset({"num_beams", "length_penalty", "early_stopping"})

_NARROW = {4: (0xA0, 0xBF, 1), 5: (0x80, 0x9F, 1), 6: (0x90, 0xBF, 2), 7: (0x80, 0x8F, 2)}
_LEAD = {0xE0: 4, 0xED: 5, 0xF0: 6, 0xF4: 7}
UTF8_STATES = 8


def _utf8_after(state: int, data: bytes) -> int:
    """The state after ``data`` starting from ``state``; -1 if the bytes are not UTF-8."""
    for byte in data:
        if state in _NARROW:
            low, high, state = _NARROW[state]
            if not low <= byte <= high:
                return -1
        elif state > 0:
            if byte & 0xC0 != 0x80:
                return -1
            state -= 1
        elif byte < 0x80:
            continue
        elif byte in _LEAD:
            state = _LEAD[byte]
        elif 0xC2 <= byte <= 0xDF:
            state = 1
        elif 0xE1 <= byte <= 0xEF:
            state = 2
        elif 0xF1 <= byte <= 0xF3:
            state = 3
        else:
            return -1
    return state


# --- logits processing ---------------------------------------------------------------------


def apply_penalties(
    logits: torch.Tensor, history: list[int], generated: list[int], request: TextRequest
) -> torch.Tensor:
    """Repetition (HF/CTRL: on prompt and output), presence and frequency (OpenAI: output)."""
    if request.repetition_penalty != 1.0 and history:
        seen = torch.tensor(sorted(set(history)), device=logits.device)
        values = logits[seen]
        logits[seen] = torch.where(
            values > 0, values / request.repetition_penalty, values * request.repetition_penalty
        )
    if (request.presence_penalty or request.frequency_penalty) and generated:
        ids, counts = torch.tensor(generated, device=logits.device).unique(return_counts=True)
        logits[ids] -= request.frequency_penalty * counts.to(logits.dtype)
        logits[ids] -= request.presence_penalty
    return logits


def banned_by_ngrams(history: Sequence[int], n: int) -> list[int]:
    """Tokens that would repeat an n-gram already in ``history`` (no_repeat_ngram_size)."""
    if n <= 0 or len(history) < n:
        return []
    prefix = tuple(history[len(history) - n + 1 :]) if n > 1 else ()
    banned = []
    for i in range(len(history) - n + 1):
        if tuple(history[i : i + n - 1]) == prefix:
            banned.append(history[i + n - 1])
    return banned


def process_logits(
    logits: torch.Tensor,
    history: list[int],
    generated: list[int],
    request: TextRequest,
    eos_ids: Sequence[int],
    utf8: Utf8Guard | None = None,
) -> torch.Tensor:
    """Every rule that changes which tokens may come next (one row, float32 logits [V])."""
    if utf8 is not None:
        state = 0
        for token_id in generated:
            state = utf8.advance(state, token_id)
        logits = logits.masked_fill(
            utf8.banned(state, logits.numel(), logits.device), float("-inf")
        )
    for processor in request.logits_processors:
        logits = processor(generated, logits)
    logits = apply_penalties(logits, history, generated, request)
    banned = banned_by_ngrams(history, request.no_repeat_ngram_size)
    if len(generated) < request.min_tokens:
        banned.extend(eos_ids)
    if banned:
        logits[torch.tensor(banned, device=logits.device)] = float("-inf")
    if eos_ids and not bool(torch.isfinite(logits).any()):
        # The rules together leave no token (a grammar needing a character the vocabulary
        # lacks, min_tokens against a finished grammar): the answer ends here. Sampling from
        # nothing raised, failing the request (and every request of a batching-engine step).
        # A grammar's dead end is the caller's error once the answer ends (structured.unfinished).
        logits[torch.tensor(list(eos_ids), device=logits.device)] = 0.0
    return logits


def sampling_filter(logits: torch.Tensor, request: TextRequest) -> torch.Tensor:
    """Temperature, then top-k, top-p (nucleus) and min-p, as masks on one row of logits."""
    logits = logits / request.temperature
    if request.top_k > 0 and request.top_k < logits.numel():
        kth = torch.topk(logits, request.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if request.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # Keep the smallest prefix whose mass reaches top_p (the first token always stays).
        drop = probs.cumsum(-1) - probs >= request.top_p
        logits = logits.clone()
        logits[order[drop]] = float("-inf")
    if request.min_p > 0.0:
        probs = torch.softmax(logits, dim=-1)
        logits = logits.masked_fill(probs < request.min_p * probs.max(), float("-inf"))
    return logits


def make_generator(seed: int | None, device: torch.device) -> torch.Generator:
    """One generator per request: the same seed gives the same text, whatever runs beside it."""
    gen = torch.Generator(device=device)
    gen.manual_seed(seed if seed is not None else secrets.randbits(63))
    return gen


def _token(raw_logprobs: torch.Tensor, token_id: int, top_n: int) -> Token:
    top: list[tuple[int, float]] = []
    if top_n > 0:
        values, ids = torch.topk(raw_logprobs, min(top_n, raw_logprobs.numel()))
        top = list(zip(ids.tolist(), values.tolist(), strict=True))
    return Token(token_id, float(raw_logprobs[token_id]), top)


# --- the decoders --------------------------------------------------------------------------


def decode(
    lm: StepLM,
    prompt_ids: list[int],
    request: TextRequest,
    eos_ids: Sequence[int],
    utf8: Utf8Guard | None = None,
) -> Iterator[list[Token]]:
    """Yield generated tokens: one at a time for greedy/sampling, all at the end for beams."""
    max_new = request.max_tokens if request.max_tokens is not None else 256
    if request.num_beams > 1:
        yield beam_search(lm, prompt_ids, request, eos_ids, max_new, utf8)
        return
    for token in sample(lm, prompt_ids, request, eos_ids, max_new, utf8):
        yield [token]


@torch.inference_mode()
def sample(
    lm: StepLM,
    prompt_ids: list[int],
    request: TextRequest,
    eos_ids: Sequence[int],
    max_new: int,
    utf8: Utf8Guard | None = None,
) -> Iterator[Token]:
    """Greedy (temperature 0) or seeded sampling, one token per step; stops at end-of-text."""
    if not prompt_ids:
        raise ValueError("the prompt must hold at least one token")
    generator = make_generator(request.seed, lm.device)
    history = list(prompt_ids)
    generated: list[int] = []
    ids = torch.tensor([history], device=lm.device)
    logits, state = lm.prefill(ids)
    eos = set(eos_ids)
    top_n = request.top_logprobs if request.logprobs else 0
    for _ in range(max_new):
        raw = logits[0].float()
        processed = process_logits(raw.clone(), history, generated, request, eos_ids, utf8)
        if request.temperature == 0.0:
            token_id = int(torch.argmax(processed))
        else:
            probs = torch.softmax(sampling_filter(processed, request), dim=-1)
            token_id = int(torch.multinomial(probs, 1, generator=generator))
        raw_logprobs = torch.log_softmax(raw, dim=-1) if request.logprobs else raw
        yield _token(raw_logprobs, token_id, top_n) if request.logprobs else Token(token_id, 0.0)
        if token_id in eos:
            return
        history.append(token_id)
        generated.append(token_id)
        step_ids = torch.tensor([token_id], device=lm.device)
        logits, state = lm.step(state, step_ids, torch.tensor([history], device=lm.device))


@torch.inference_mode()
def beam_search(
    lm: StepLM,
    prompt_ids: list[int],
    request: TextRequest,
    eos_ids: Sequence[int],
    max_new: int,
    utf8: Utf8Guard | None = None,
) -> list[Token]:
    """The most likely continuation under ``num_beams`` beams, scored sum(logp) / len**α.

    A beam that ends (end-of-text) joins the finished hypotheses; the search stops when
    ``num_beams`` have finished and, unless ``early_stopping``, no live beam can still beat the
    worst of them (transformers' heuristic), or at ``max_tokens``.
    """
    if not prompt_ids:
        raise ValueError("the prompt must hold at least one token")
    width = request.num_beams
    alpha = request.length_penalty
    eos = set(eos_ids)
    ids = torch.tensor([prompt_ids], device=lm.device)
    logits, state = lm.prefill(ids)
    beams: list[tuple[float, list[Token]]] = [(0.0, [])]  # (sum of processed logprobs, tokens)
    finished: list[tuple[float, list[Token]]] = []  # (normalised score, tokens)
    top_n = request.top_logprobs if request.logprobs else 0

    def normalised(total: float, length: int) -> float:
        return total / (max(1, length) ** alpha)

    for step in range(max_new):
        candidates: list[tuple[float, int, int, Token]] = []
        for row, (total, tokens) in enumerate(beams):
            raw = logits[row].float()
            generated = [t.id for t in tokens]
            processed = process_logits(
                raw.clone(), prompt_ids + generated, generated, request, eos_ids, utf8
            )
            logp = torch.log_softmax(processed, dim=-1)
            raw_logp = torch.log_softmax(raw, dim=-1)
            values, top_ids = torch.topk(logp, min(2 * width, logp.numel()))
            for value, token_id in zip(values.tolist(), top_ids.tolist(), strict=True):
                if value == float("-inf"):
                    continue
                candidates.append((total + value, row, token_id, _token(raw_logp, token_id, top_n)))
        candidates.sort(key=lambda c: c[0], reverse=True)
        next_beams: list[tuple[float, list[Token]]] = []
        rows: list[int] = []
        for rank, (total, row, token_id, token) in enumerate(candidates):
            tokens = [*beams[row][1], token]
            if token_id in eos:
                if rank < width:
                    finished.append((normalised(total, len(tokens)), tokens))
                continue
            next_beams.append((total, tokens))
            rows.append(row)
            if len(next_beams) == width:
                break
        if not next_beams or _beams_done(finished, next_beams, width, request, step + 1, alpha):
            beams = next_beams
            break
        beams = next_beams
        state = lm.select(state, torch.tensor(rows, device=lm.device))
        last = torch.tensor([b[1][-1].id for b in beams], device=lm.device)
        history = torch.tensor([prompt_ids + [t.id for t in b[1]] for b in beams], device=lm.device)
        logits, state = lm.step(state, last, history)
    if len(finished) < width:
        finished.extend((normalised(total, len(tokens)), tokens) for total, tokens in beams)
    if not finished:
        return []
    return max(finished, key=lambda f: f[0])[1]


def _beams_done(
    finished: list[tuple[float, list[Token]]],
    alive: list[tuple[float, list[Token]]],
    width: int,
    request: TextRequest,
    length: int,
    alpha: float,
) -> bool:
    if len(finished) < width:
        return False
    if request.early_stopping:
        return True
    worst = min(score for score, _ in finished)
    best_alive = max(total for total, _ in alive) / (length**alpha)
    return best_alive <= worst


# --- text out ------------------------------------------------------------------------------


class IncrementalDetokenizer:
    """Token ids in, text deltas out, never half a character.

    A byte-level BPE token may hold part of a UTF-8 sequence: its text waits (as vLLM does)
    until the following tokens complete the character. Decoding a short window before the new
    tokens keeps SentencePiece-style leading spaces right.
    """

    def __init__(self, decode_ids: Any, context_ids: Sequence[int] = ()) -> None:
        self._decode = decode_ids
        self._ids: list[int] = list(context_ids[-4:])
        self._prefix = 0  # start of the window decoded for context
        self._read = len(self._ids)  # tokens before this were already sent

    def add(self, token_ids: Sequence[int]) -> str:
        self._ids.extend(token_ids)
        before = self._decode(self._ids[self._prefix : self._read])
        now = self._decode(self._ids[self._prefix :])
        if len(now) <= len(before) or now.endswith("\ufffd"):
            return ""  # an incomplete character: wait for the next token
        delta = now[len(before) :]
        self._prefix, self._read = self._read, len(self._ids)
        return delta

    def flush(self) -> str:
        """Whatever is left when generation ends (an incomplete character stays out)."""
        before = self._decode(self._ids[self._prefix : self._read])
        now = self._decode(self._ids[self._prefix :])
        self._read = len(self._ids)
        return now[len(before) :].rstrip("\ufffd")
