"""Tokenizers for the text families: character, word and byte-level BPE.

All three are built on the Hugging Face ``tokenizers`` library, so ``save`` writes the standard
files (tokenizer.json, tokenizer_config.json, special_tokens_map.json) and
``transformers.AutoTokenizer.from_pretrained(dir)`` encodes and decodes exactly as we do.

- char: one token per character, newlines included. The characters get ids 0..n-1 in sorted
  order (nanoGPT's ``stoi``); the four special tokens follow them.
- word: English words (with a leading space attached, GPT-2 style, so decoding restores the
  text exactly), each punctuation mark, each Han character, each newline.
- bpe: byte-level BPE (GPT-2's scheme): any character can be encoded and produced.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from tokenizers import Regex, decoders, models, pre_tokenizers, trainers
from tokenizers import Tokenizer as HFBackend

from aigc.errors import refused_value

KINDS = ("char", "word", "bpe")
PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = [PAD, UNK, BOS, EOS]
DEFAULT_VOCAB = {"word": 30000, "bpe": 4000}

# One Han character; a word (letters/digits, inner apostrophes) with an optional leading space;
# one punctuation mark or symbol with an optional leading space; a newline; other whitespace.
_NOT_WORD = r"\s\p{Han}\p{P}\p{S}"
WORD_PATTERN = rf" ?\p{{Han}}| ?[^{_NOT_WORD}]+(?:'[^{_NOT_WORD}]+)*| ?[\p{{P}}\p{{S}}]|\n|[^\S\n]"


@runtime_checkable
class Tokenizer(Protocol):
    kind: str
    vocab_size: int
    bos_id: int
    eos_id: int
    unk_id: int
    pad_id: int

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def tokens(self, text: str) -> list[str]: ...

    def save(self, directory: Path) -> None: ...


class HFTokenizer:
    """Our tokenizer: a ``tokenizers.Tokenizer`` and the kind that built it."""

    def __init__(self, kind: str, backend: HFBackend) -> None:
        self.kind = kind
        self.backend = backend
        self.vocab_size = backend.get_vocab_size()
        self.pad_id, self.unk_id, self.bos_id, self.eos_id = (self._special_id(t) for t in SPECIALS)

    def _special_id(self, token: str) -> int:
        token_id = self.backend.token_to_id(token)
        if token_id is None:
            raise refused_value(
                "tokenizer_lacks_token",
                "The tokenizer has no {token} token",
                param="tokenizer",
                token=token,
            )
        return token_id

    def encode(self, text: str) -> list[int]:
        return self.backend.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.backend.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return self.backend.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def tokens(self, text: str) -> list[str]:
        return self.backend.encode(text, add_special_tokens=False).tokens

    def id_to_token(self, token_id: int) -> str:
        return self.backend.id_to_token(token_id) or UNK

    def save(self, directory: Path) -> None:
        """The Hugging Face files, loadable by ``AutoTokenizer.from_pretrained(directory)``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.backend.save(str(directory / "tokenizer.json"))
        names = {"bos_token": BOS, "eos_token": EOS, "unk_token": UNK, "pad_token": PAD}
        config = {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "clean_up_tokenization_spaces": False,
            "add_prefix_space": False,
            "model_max_length": 1_000_000,
            "aigc_tokenizer_kind": self.kind,
            **names,
        }
        (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
        (directory / "special_tokens_map.json").write_text(json.dumps(names, indent=2) + "\n")


def train_tokenizer(kind: str, texts: Iterable[str], vocab_size: int | None = None) -> HFTokenizer:
    """Learn a tokenizer of ``kind`` from ``texts``; ``vocab_size`` None: the kind's default.

    For char, ``vocab_size`` None keeps every character seen; otherwise the most frequent.
    """
    if kind not in KINDS:
        raise refused_value(
            "literal_error",
            "Tokenizer kinds are {expected}",
            param="tokenizer",
            expected=", ".join(KINDS),
        )
    if vocab_size is not None and vocab_size < len(SPECIALS) + 1:
        raise refused_value(
            "greater_than_equal",
            "vocab_size is too small",
            param="vocab_size",
            ge=len(SPECIALS) + 1,
        )
    if kind == "char":
        return _train_char(texts, vocab_size)
    if kind == "word":
        backend = HFBackend(models.WordLevel(unk_token=UNK))
        backend.pre_tokenizer = pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated")
        backend.decoder = decoders.Fuse()
        trainer: trainers.Trainer = trainers.WordLevelTrainer(
            vocab_size=vocab_size or DEFAULT_VOCAB["word"], special_tokens=SPECIALS
        )
    else:
        backend = HFBackend(models.BPE())
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size or DEFAULT_VOCAB["bpe"],
            special_tokens=SPECIALS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
    backend.train_from_iterator(texts, trainer=trainer)
    backend.add_special_tokens(SPECIALS)
    return HFTokenizer(kind, backend)


def _train_char(texts: Iterable[str], vocab_size: int | None) -> HFTokenizer:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(text)
    chars = [c for c, _ in counts.most_common(vocab_size - len(SPECIALS))] if vocab_size else []
    chars = sorted(chars or counts)
    vocab = {c: i for i, c in enumerate(chars)}
    for token in SPECIALS:
        vocab[token] = len(vocab)
    backend = HFBackend(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    backend.add_special_tokens(SPECIALS)
    return HFTokenizer("char", backend)


def load_tokenizer(directory: Path) -> HFTokenizer:
    """A tokenizer saved by ``save`` (or any tokenizer.json with our four special tokens)."""
    directory = Path(directory)
    path = directory / "tokenizer.json"
    if not path.is_file():
        raise refused_value(
            "model_folder_lacks",
            "No tokenizer.json in {folder}",
            param="path",
            folder=directory.name,
            file="tokenizer.json",
        )
    kind = "bpe"
    config_path = directory / "tokenizer_config.json"
    if config_path.is_file():
        kind = json.loads(config_path.read_text()).get("aigc_tokenizer_kind", kind)
    return HFTokenizer(kind, HFBackend.from_file(str(path)))


# --- byte-level BPE: keeping sampled text valid UTF-8 ------------------------------------------


def byte_level_bytes(token: str) -> bytes | None:
    """The bytes behind a byte-level BPE token (GPT-2's byte-to-character map); None: special."""
    if token in SPECIALS:
        return None
    try:
        return bytes(_UNICODE_TO_BYTE[ch] for ch in token)
    except KeyError:
        return None


def _unicode_to_byte() -> dict[str, int]:
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


_UNICODE_TO_BYTE = _unicode_to_byte()


class Utf8Guard:
    """Which byte-level tokens may come next so the text stays valid UTF-8.

    Each token is summarised by the continuation bytes it starts with (``lead``), whether the
    rest is well-formed, and the continuation bytes it leaves owing (``tail``). With ``need``
    bytes owed, a token fits if it starts with exactly that many continuation bytes (or is
    nothing but fewer of them); ``end_id`` (end of text) fits only when nothing is owed.
    """

    def __init__(self, tokens: list[bytes | None], end_id: int) -> None:
        n = len(tokens)
        self.lead = np.zeros(n, np.int64)
        self.tail = np.zeros(n, np.int64)
        ok = np.zeros(n, bool)
        only_continuation = np.zeros(n, bool)
        for i, token in enumerate(tokens):
            if token is None:
                continue
            lead = 0
            while lead < len(token) and 0x80 <= token[lead] <= 0xBF:
                lead += 1
            tail = _utf8_tail(token[lead:])
            self.lead[i], ok[i] = lead, tail is not None
            self.tail[i] = tail or 0
            only_continuation[i] = lead == len(token)
        self.allowed = []
        for need in range(4):
            fits = ok & ((self.lead == need) | (only_continuation & (self.lead < need)))
            fits[end_id] = need == 0
            self.allowed.append(fits)

    def need_after(self, need: int, token: int) -> int:
        lead = int(self.lead[token])
        return int(self.tail[token]) if lead >= need else need - lead


def _utf8_tail(data: bytes) -> int | None:
    """Continuation bytes still owed after ``data`` (no leading continuations); None: invalid."""
    i = 0
    while i < len(data):
        byte = data[i]
        size = 0 if byte < 0x80 else 1 if 0xC2 <= byte <= 0xDF else 2 if byte >> 4 == 0xE else 3
        if 0x80 <= byte <= 0xC1 or byte > 0xF4:
            return None
        body = data[i + 1 : i + 1 + size]
        if any(not 0x80 <= b <= 0xBF for b in body):
            return None
        if len(body) < size:
            return size - len(body)
        i += 1 + size
    return 0
