"""Function calling on local chat models: which tool-call format a checkpoint's chat template
speaks, and the model's text parsed into content and ``ToolCallDelta`` pieces.

Formats (the template renders the tools; the model writes calls in its own syntax):

    hermes  Qwen2 / Qwen2.5 / Qwen3, Hermes:
            <tool_call>\\n{"name": "f", "arguments": {...}}\\n</tool_call>
    llama   Llama 3.1 / 3.2 (JSON calls):
            {"name": "f", "parameters": {...}}
    mistral Mistral-7B-Instruct-v0.3, Mistral-Nemo, Ministral-8B (v3 tokenizers): one array
            [TOOL_CALLS] [{"name": "f", "arguments": {...}}, ...]
    mistral_args  Mistral Small 3.1+, Ministral 3, Devstral (v11+ tokenizers), one per call:
            [TOOL_CALLS]f[ARGS]{...}

Decoding is held to the format by a grammar (``guard.structured.tool_processor``, from
xgrammar's structural tags), so a started call always completes as valid JSON; this module
only reads what was written. Mistral's markers (``[TOOL_CALLS]``, ``[ARGS]``) are special
tokens, which decoding drops from text: a model speaking a Mistral format decodes them as
text while it may call (``MARKERS``), so the parser sees them. Mistral templates also insist
on 9-character alphanumeric call ids in the history (``template_history``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import string
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeGuard

from aigc.models.protocols import ChatMessage, ToolCall, ToolCallDelta
from aigc.models.stopping import CountedText, Ended

# The format → xgrammar's structural-tag builder for it (reasoning off: Qwen2.5's syntax).
# xgrammar has no Mistral builder: ``guard.structured`` builds those tags itself.
GRAMMAR_KEYS = {"hermes": "qwen_3", "llama": "llama"}
_TRIGGERS = {
    "hermes": "<tool_call>",
    "llama": '{"name": ',
    "mistral": "[TOOL_CALLS]",
    "mistral_args": "[TOOL_CALLS]",
}
# Special tokens of a format that the parser must see as text (decoding drops them otherwise).
MARKERS = {"mistral": ("[TOOL_CALLS]",), "mistral_args": ("[TOOL_CALLS]", "[ARGS]")}
MISTRAL = ("mistral", "mistral_args")
# A call's head: its name, then its arguments as far as they are written.
_HEADS = {
    "hermes": r'<tool_call>\s*\{\s*"name"\s*:\s*"(?P<name>[^"]+)"\s*,\s*"arguments"\s*:\s*'
    r"(?P<arguments>.*)",
    "llama": r'\{\s*"name"\s*:\s*"(?P<name>[^"]+)"\s*,\s*"parameters"\s*:\s*(?P<arguments>.*)',
}
# Mistral (v3): an object of the array; v11+: the name up to ``[ARGS]``, then the arguments.
_MISTRAL_HEAD = re.compile(
    r'\{\s*"name"\s*:\s*"(?P<name>[^"]+)"\s*,\s*"arguments"\s*:\s*(?P<arguments>.*)', re.DOTALL
)
_ARGS_HEAD = re.compile(r"\[TOOL_CALLS\](?P<name>[^\[]*)\[ARGS\](?P<arguments>.*)", re.DOTALL)
_HERMES_END = "</tool_call>"
# A whole llama call: the head and the end of its format.
_LLAMA = re.compile(_HEADS["llama"] + r"\}\s*$", re.DOTALL)
# The head of a call cut off before its end (max_tokens): name known, arguments partial.
_CUT = {fmt: re.compile(head, re.DOTALL) for fmt, head in _HEADS.items()}


def format_of(chat_template: str | None) -> str | None:
    """The tool-call format a chat template speaks, or None when it renders no tools."""
    if not chat_template or "tools" not in chat_template:
        return None
    if "<tool_call>" in chat_template:
        return "hermes"
    if '"parameters"' in chat_template and "ipython" in chat_template:
        return "llama"
    if "[TOOL_CALLS]" in chat_template:
        return "mistral_args" if "[ARGS]" in chat_template else "mistral"
    return None


def mistral_id(call_id: str) -> str:
    """A call id as Mistral templates take it: 9 letters or digits (the id itself when it is
    one, else a stable digest of it, so a call and its result keep matching ids)."""
    if len(call_id) == 9 and call_id.isalnum() and call_id.isascii():
        return call_id
    alphabet = string.ascii_letters + string.digits
    number = int.from_bytes(hashlib.sha256(call_id.encode("utf-8")).digest()[:8], "big")
    digits = []
    for _ in range(9):
        number, rest = divmod(number, len(alphabet))
        digits.append(alphabet[rest])
    return "".join(digits)


def template_history(fmt: str | None, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The conversation as the format's chat template accepts it: for Mistral, every call id
    (an assistant's ``tool_calls`` and the ``tool`` messages answering them) mapped to 9
    alphanumeric characters, which those templates check; unchanged for the others."""
    if fmt not in MISTRAL:
        return list(messages)
    out = []
    for m in messages:
        calls = tuple(ToolCall(mistral_id(c.id), c.name, c.arguments) for c in m.tool_calls)
        answers = mistral_id(m.tool_call_id) if m.tool_call_id is not None else None
        out.append(replace(m, tool_calls=calls, tool_call_id=answers))
    return out


@lru_cache(maxsize=256)
def _folder_format(path: str, stamp: float) -> str | None:
    folder = Path(path)
    template: Any = None
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        template = jinja.read_text(encoding="utf-8", errors="replace")
    else:
        try:
            config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        template = config.get("chat_template") if isinstance(config, dict) else None
    if isinstance(template, list):  # named templates: the default one
        template = next(
            (
                t.get("template")
                for t in template
                if isinstance(t, dict) and t.get("name") == "default"
            ),
            None,
        )
    return format_of(template if isinstance(template, str) else None)


def folder_format(path: str | None) -> str | None:
    """The tool-call format of the checkpoint in ``path`` (read once per change of its files),
    for model listings that must not load the model."""
    if not path:
        return None
    folder = Path(path)
    stamps = [
        p.stat().st_mtime
        for p in (folder / "tokenizer_config.json", folder / "chat_template.jinja")
        if p.is_file()
    ]
    return _folder_format(str(folder), max(stamps, default=0.0))


class CallParser:
    """The model's text pieces → content pieces and ``ToolCallDelta`` pieces, in order.

    Text that could be the start of a call is held back until it is known; a call is given as
    two deltas (its id and name, then its arguments as compact JSON) once its text is complete.
    Whitespace between or after calls is not content. A call cut off (``max_tokens``) is given
    with the arguments written so far, as OpenAI gives a cut call (``finish_reason: length``).

    Usage bills the tokens the model generated: each piece's ``token_count`` (counted once,
    as it arrives, when a piece has none) is owed until a piece goes out, which carries all
    that is owed (``_paid``); what no piece carries (the markup and whitespace that are not
    content) goes out as an empty counted piece before the end. Re-counting the joined text
    (a call's ``{"name": ...}`` re-tokenized whole) billed other numbers than were made.
    """

    def __init__(self, fmt: str, count_tokens: Callable[[str], int]) -> None:
        self.fmt = fmt
        self.trigger = _TRIGGERS[fmt]
        self.count_tokens = count_tokens
        self.buffer = ""
        self.in_call = False
        self.in_array = False  # mistral: inside the ``[...]`` of calls after ``[TOOL_CALLS]``
        self.calls = 0
        self.value: _ValueEnd | None = None  # hermes, llama: the call's JSON read so far
        self.owed = 0  # tokens of the pieces read that no piece given out has carried yet

    def feed(self, pieces: Iterable[str]) -> Iterator[str]:
        """Closing it closes ``pieces`` (a reader that left cancels the generation)."""
        try:
            for piece in pieces:
                yield from self._step(piece)
            yield from self._paid(self._drain())
            yield from self._settled()
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()

    async def afeed(self, pieces: AsyncIterable[str]) -> AsyncIterator[str]:
        """``feed`` for a model that streams on the event loop (the batching engine)."""
        try:
            async for piece in pieces:
                for out in self._step(piece):
                    yield out
            for out in self._paid(self._drain()):
                yield out
            for out in self._settled():
                yield out
        finally:
            aclose = getattr(pieces, "aclose", None)
            if aclose is not None:
                await aclose()

    def _step(self, piece: str) -> Iterator[str]:
        reason = getattr(piece, "finish_reason", None)
        if reason is not None:
            yield from self._paid(self._drain())
            yield from self._settled()
            yield Ended("tool_calls" if self.calls and reason == "stop" else reason)
            return
        known = getattr(piece, "token_count", None)
        self.owed += known if known is not None else self.count_tokens(piece)
        self.buffer += piece
        yield from self._paid(self._scan())

    def _paid(self, pieces: Iterable[str]) -> Iterator[str]:
        """``pieces`` as given out, the first to go carrying the tokens owed so far."""
        for piece in pieces:
            if isinstance(piece, ToolCallDelta):
                piece.token_count, self.owed = self.owed, 0
                yield piece
            else:
                yield CountedText(piece, self.owed)
                self.owed = 0

    def _settled(self) -> Iterator[str]:
        """The tokens no piece carried (markup, whitespace that is not content), as an empty
        piece: billed all the same."""
        if self.owed:
            yield CountedText("", self.owed)
            self.owed = 0

    def _scan(self) -> Iterator[str]:
        while True:
            if self.in_call:
                call = self._complete()
                if call is None:
                    return
                yield from call
                continue
            at = self.buffer.find(self.trigger)
            if at < 0:
                keep = _partial_suffix(self.buffer, self.trigger)
                text, self.buffer = (
                    self.buffer[: len(self.buffer) - keep],
                    self.buffer[len(self.buffer) - keep :],
                )
                if text and (not self.calls or text.strip()):
                    yield text
                return
            before, self.buffer = self.buffer[:at], self.buffer[at:]
            if before and (not self.calls or before.strip()):
                yield before
            self.in_call = True

    def _complete(self) -> list[str] | None:
        """The deltas of the call at the head of the buffer once its text is whole (None: wait
        for more text; an empty list: progress without a call)."""
        if self.fmt == "mistral":
            return self._complete_array()
        if self.fmt == "mistral_args":
            return self._complete_args()
        if self.fmt == "hermes":
            return self._complete_hermes()
        whole = self._whole_value(0)
        if whole is None:
            return None
        end = whole[1]
        text, self.buffer = self.buffer[:end], self.buffer[end:]
        self._end_value()
        found = _LLAMA.match(text)
        if found is None:  # not the format after all: it is text
            return [text]
        return self._call(found["name"], _compact(found["arguments"]), text)

    def _complete_hermes(self) -> list[str] | None:
        """Hermes: ``<tool_call>``, a JSON object, ``</tool_call>``. The object is read as JSON
        first, and the end marker looked for after it: a string argument may hold the text
        ``</tool_call>`` (the grammar lets the model write that token inside a string)."""
        start = self._hermes_start()
        if start is None:
            return None
        if not self.buffer.startswith("{", start):  # not the format after all: it is text
            text, self.buffer = self.buffer, ""
            self._end_value()
            return [text]
        whole = self._whole_value(start)
        if whole is None:
            return None  # the object goes on (the grammar makes it close)
        value, end = whole
        after = self.buffer[end:].lstrip()
        if len(after) < len(_HERMES_END) and _HERMES_END.startswith(after):
            return None  # the end marker is still to come
        self._end_value()
        if not after.startswith(_HERMES_END) or not _named(value):
            text, self.buffer = self.buffer[:end], self.buffer[end:]
            return [text]  # not the format after all: it is text
        end = len(self.buffer) - len(after) + len(_HERMES_END)
        text, self.buffer = self.buffer[:end], self.buffer[end:]
        return self._hermes_call(value, text)

    def _hermes_start(self) -> int | None:
        """Where the value after ``<tool_call>`` begins in the buffer, once it has begun."""
        if self.value is None:
            body = self.buffer[len(self.trigger) :]
            if not body.strip():
                return None
            self.value = _ValueEnd(len(self.buffer) - len(body.lstrip()))
        return self.value.start

    def _whole_value(self, start: int) -> tuple[Any, int] | None:
        """The call's JSON value starting at ``start`` in the buffer and where it ends, once
        it is whole and parses, else None. The buffer is read on from where the last piece
        left it (each character once), and parsed once, when the value closes."""
        if self.value is None:
            self.value = _ValueEnd(start)
        return self.value.parse(self.buffer)

    def _end_value(self) -> None:
        """The call's text has been read: the parser is ready for the next call."""
        self.in_call, self.value = False, None

    def _hermes_call(self, value: dict[str, Any], text: str) -> list[str]:
        """A Hermes object that names a function (``_named``) as the call's deltas."""
        return self._call(value["name"], _arguments_json(value.get("arguments", {})), text)

    def _complete_array(self) -> list[str] | None:
        """Mistral v3: ``[TOOL_CALLS]``, then an array of calls, read one object at a time so
        each call is given as soon as its object closes (each object's brackets followed as
        the pieces come, and it is decoded once, when it closes)."""
        if not self.in_array:
            rest = self.buffer[len(self.trigger) :].lstrip()
            if not rest:
                return None
            if not rest.startswith("["):  # not the format after all: it is text
                text, self.buffer, self.in_call = self.buffer, "", False
                return [text]
            self.buffer, self.in_array = rest[1:], True
        if self.value is None:  # between calls: the separators are no content
            rest = self.buffer.lstrip().removeprefix(",").lstrip()
            if not rest:
                return None
            if rest.startswith("]"):
                self.buffer, self.in_array, self.in_call = rest[1:], False, False
                return []
            self.buffer = rest
        whole = self._object_at(0)
        if whole is None:
            return None  # the object goes on (the grammar makes it close)
        value, end = whole
        self.value = None  # the next call's object, if any, starts after this one
        text, self.buffer = self.buffer[:end], self.buffer[end:]
        if not _named(value):
            self.in_array = self.in_call = False
            return [text]
        return self._call(value["name"], _arguments_json(value.get("arguments", {})), text)

    def _complete_args(self) -> list[str] | None:
        """Mistral v11+: ``[TOOL_CALLS]name[ARGS]`` then the arguments' JSON object."""
        found = _ARGS_HEAD.match(self.buffer)
        if found is None:
            return None
        start = found.start("arguments")
        rest = self.buffer[start:]
        if not rest.strip():
            return None
        whole = self._object_at(start + len(rest) - len(rest.lstrip()))
        if whole is None:
            return None
        end = whole[1]
        text, self.buffer = self.buffer[:end], self.buffer[end:]
        self._end_value()
        return self._call(found["name"].strip(), _compact(text[start:]), text)

    def _object_at(self, start: int) -> tuple[Any, int] | None:
        """The JSON value at ``start`` of the buffer and where it ends, once whole: an object
        or array read on as the pieces come (``_whole_value``); anything else (not the format:
        the grammar writes objects) decoded as it stands."""
        if self.value is None and not self.buffer.startswith(("{", "["), start):
            try:
                return json.JSONDecoder().raw_decode(self.buffer, start)
            except ValueError:
                return None
        return self._whole_value(start)

    def _call(self, name: str, arguments: str, text: str) -> list[str]:
        index = self.calls
        self.calls += 1
        # Mistral's ids are 9 alphanumerics (its templates refuse others in the history).
        call_id = (
            "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(9))
            if self.fmt in MISTRAL
            else f"call_{secrets.token_hex(12)}"
        )
        return [  # the tokens of ``text`` are carried by ``_paid``
            ToolCallDelta(index, call_id, name, ""),
            ToolCallDelta(index, arguments=arguments),
        ]

    def _drain(self) -> Iterator[str]:
        if self.in_call and self.fmt == "hermes":
            yield from self._drain_hermes()
            return
        rest, self.buffer = self.buffer, ""
        cut = None
        if self.in_call:
            if self.fmt == "mistral":
                rest = rest.lstrip().removeprefix(",").lstrip() if self.in_array else rest
                cut = _MISTRAL_HEAD.match(rest) if self.in_array else None
            else:
                cut = (_ARGS_HEAD if self.fmt == "mistral_args" else _CUT[self.fmt]).match(rest)
            if cut is None and self.fmt in MISTRAL:
                rest = ""  # cut before its name was whole: no call, and the marker is no text
        self.in_array = False
        self._end_value()
        if cut is not None:
            yield from self._call(cut["name"], cut["arguments"], rest)
        elif rest and (not self.calls or rest.strip()):
            yield rest

    def _drain_hermes(self) -> Iterator[str]:
        """A Hermes call cut off (``max_tokens``): its arguments when its object was whole
        (the end marker missing), else as far as they were written; nothing when its name
        was not whole yet (the grammar had started a call: its markup is no content)."""
        start = self._hermes_start()
        whole = self._whole_value(start) if start is not None else None
        value = whole[0] if whole is not None else None
        rest, self.buffer = self.buffer, ""
        self._end_value()
        if _named(value):
            yield from self._hermes_call(value, rest)
            return
        cut = _CUT["hermes"].match(rest)
        if cut is not None:
            yield from self._call(cut["name"], _compact(cut["arguments"]), rest)


class _ValueEnd:
    """Where a JSON object or array that begins at ``start`` of a growing text closes: the
    nesting of brackets outside strings, read on from where the last call stopped, so a call
    streamed in many pieces is read once, not once per piece."""

    def __init__(self, start: int) -> None:
        self.start = start
        self.read = start  # the text is read up to here
        self.depth = 0
        self.in_string = self.escaped = False
        self.end: int | None = None  # just past the closing bracket, once read
        self.parsed: tuple[Any, int] | None = None  # the value and its end, once parsed

    def parse(self, text: str) -> tuple[Any, int] | None:
        """The value and where it ends in ``text`` once it is whole and parses, else None."""
        if self.parsed is None and self.end is None and self.find(text) is not None:
            assert self.end is not None
            # not JSON: more text cannot mend it (the grammar prevents this)
            with contextlib.suppress(ValueError):
                self.parsed = json.loads(text[self.start : self.end]), self.end
        return self.parsed

    def find(self, text: str) -> int | None:
        """Where the value closes in ``text`` (the text so far: it only grows), or None."""
        if self.end is not None:
            return self.end
        for i in range(self.read, len(text)):
            char = text[i]
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif char == "\\":
                    self.escaped = True
                elif char == '"':
                    self.in_string = False
            elif char == '"':
                self.in_string = True
            elif char in "{[":
                self.depth += 1
            elif char in "}]":
                self.depth -= 1
                if self.depth <= 0:
                    self.end = i + 1
                    return self.end
        self.read = len(text)
        return None


def _named(value: Any) -> TypeGuard[dict[str, Any]]:
    """Whether a call's decoded JSON is an object with a function's name."""
    return isinstance(value, dict) and isinstance(value.get("name"), str)


def _arguments_json(arguments: Any) -> str:
    """A call's decoded arguments as compact JSON (some fine-tunes write them as a string)."""
    if isinstance(arguments, str):
        return _compact(arguments)
    return json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))


def _compact(arguments: str) -> str:
    """The arguments as compact JSON (the grammar lets single blanks in); as written when
    they are not JSON."""
    try:
        return json.dumps(json.loads(arguments), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        return arguments.strip()


def _partial_suffix(text: str, trigger: str) -> int:
    """How many last characters of ``text`` could begin ``trigger``."""
    for size in range(min(len(text), len(trigger) - 1), 0, -1):
        if trigger.startswith(text[-size:]):
            return size
    return 0
