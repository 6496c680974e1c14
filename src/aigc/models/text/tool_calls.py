"""Function calling on local chat models: which tool-call format a checkpoint's chat template
speaks, and the model's text parsed into content and ``ToolCallDelta`` pieces.

Formats (the template renders the tools; the model writes calls in its own syntax):

    hermes  Qwen2 / Qwen2.5 / Qwen3, Hermes:
            <tool_call>\\n{"name": "f", "arguments": {...}}\\n</tool_call>
    llama   Llama 3.1 / 3.2 (JSON calls):
            {"name": "f", "parameters": {...}}

Decoding is held to the format by a grammar (``guard.structured.tool_processor``, from
xgrammar's structural tags for these formats), so a started call always completes as valid
JSON; this module only reads what was written. Mistral's ``[TOOL_CALLS]`` (a special token
that decoding drops) is not read yet: such checkpoints do not offer tools.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from aigc.models.protocols import ToolCallDelta
from aigc.models.stopping import Ended

# The format → xgrammar's structural-tag builder for it (reasoning off: Qwen2.5's syntax).
GRAMMAR_KEYS = {"hermes": "qwen_3", "llama": "llama"}
_TRIGGERS = {"hermes": "<tool_call>", "llama": '{"name": '}
# A call's head: its name, then its arguments as far as they are written.
_HEADS = {
    "hermes": r'<tool_call>\s*\{\s*"name"\s*:\s*"(?P<name>[^"]+)"\s*,\s*"arguments"\s*:\s*'
    r"(?P<arguments>.*)",
    "llama": r'\{\s*"name"\s*:\s*"(?P<name>[^"]+)"\s*,\s*"parameters"\s*:\s*(?P<arguments>.*)',
}
# A whole call: the head and the end of its format.
_HERMES = re.compile(_HEADS["hermes"] + r"\}\s*</tool_call>", re.DOTALL)
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
    return None


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
    """

    def __init__(self, fmt: str, count_tokens: Callable[[str], int]) -> None:
        self.fmt = fmt
        self.trigger = _TRIGGERS[fmt]
        self.count_tokens = count_tokens
        self.buffer = ""
        self.in_call = False
        self.calls = 0

    def feed(self, pieces: Iterable[str]) -> Iterator[str]:
        for piece in pieces:
            reason = getattr(piece, "finish_reason", None)
            if reason is not None:
                yield from self._drain()
                yield Ended("tool_calls" if self.calls and reason == "stop" else reason)
                continue
            self.buffer += piece
            yield from self._scan()
        yield from self._drain()

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
        """The deltas of the call at the head of the buffer once its text is whole."""
        if self.fmt == "hermes":
            end = self.buffer.find("</tool_call>")
            if end < 0:
                return None
            text, self.buffer = (
                self.buffer[: end + len("</tool_call>")],
                self.buffer[end + len("</tool_call>") :],
            )
            found = _HERMES.match(text)
        else:
            try:
                _, end = json.JSONDecoder().raw_decode(self.buffer)
            except ValueError:
                return None
            text, self.buffer = self.buffer[:end], self.buffer[end:]
            found = _LLAMA.match(text)
        self.in_call = False
        if found is None:  # not the format after all: it is text
            return [text]
        return self._call(found["name"], _compact(found["arguments"]), text)

    def _call(self, name: str, arguments: str, text: str) -> list[str]:
        index = self.calls
        self.calls += 1
        call_id = f"call_{secrets.token_hex(12)}"
        return [
            ToolCallDelta(index, call_id, name, ""),
            ToolCallDelta(index, arguments=arguments, token_count=self.count_tokens(text)),
        ]

    def _drain(self) -> Iterator[str]:
        rest, self.buffer = self.buffer, ""
        cut = _CUT[self.fmt].match(rest) if self.in_call else None
        self.in_call = False
        if cut is not None:
            yield from self._call(cut["name"], cut["arguments"], rest)
        elif rest and (not self.calls or rest.strip()):
            yield rest


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
