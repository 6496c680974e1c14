"""A library's error on a malformed file, as a reason a person can read.

A parser's exception text is written for programmers: Pillow names the stream it was given
("cannot identify image file <_io.BytesIO object at 0x5580c5733620>"), zipfile's KeyError
comes quoted with the class name in front ("KeyError: \"There is no item named
'[Content_Types].xml' in the archive\""), an IndexError says only "list index out of range".
Documents' failure reasons are shown to the people who uploaded them, so only what the text
says about the *file* is kept: no object reprs, no exception class names, no paths of this
server, and nothing at all from errors that are a library tripping over the file's structure.
"""

from __future__ import annotations

import re

_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")
_PATH = re.compile(r"'?(?:/[\w.@+-]+){2,}/?'?")  # a path of this server (a temp file, a module)
# A part an Office or OFD container must have and lacks: zipfile's and python-pptx's words.
_MISSING_PART = re.compile(
    r"There is no item named '([^']+)' in the archive|no member '/?([^']+)' in package"
)
# Errors whose text is about the library's code, not the file (a lookup that found nothing,
# a None where a part was expected): they say only that the structure could not be read.
_CODE_ERRORS = (KeyError, IndexError, AttributeError, TypeError, AssertionError, RecursionError)
MAX_REASON = 300


def library_reason(exc: BaseException) -> str:
    """What ``exc`` says about the file, in plain words ("" when it says nothing plain)."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    if found := _MISSING_PART.search(text):
        return f"the archive lacks {found.group(1) or found.group(2)}"
    if isinstance(exc, _CODE_ERRORS):
        return ""
    text = _PATH.sub("", _REPR.sub("", text))
    text = re.sub(r"\(\s*\)|\[Errno \d+\]", "", text)
    text = re.sub(r"\s+", " ", text).strip(" :;,")
    return text[:MAX_REASON]


def with_reason(summary: str, exc: BaseException) -> str:
    """``summary``, then what ``exc`` says about the file after a colon, if anything."""
    reason = library_reason(exc)
    return f"{summary}: {reason}" if reason else summary
