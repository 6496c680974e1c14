"""Which lines of a document are source code, and the words inside them.

Indirect injection hides instructions in what the assistant reads; code is not addressed to
anyone (``return response``, ``print(fib(5000))``, ``list[BaseRoute] | None,``), yet a
classifier of word shapes sees imperative verbs in it. A line counts as code only when it
parses as Python (after closing the brackets it leaves open, or completing a block header) and
carries a mark of code (a bracket, ``=``, a keyword, a decorator): English sentences almost
never parse, and one-word lines carry no mark. What is written in words inside code stays:
the text of comments and string literals (docstrings, messages), where an instruction can hide.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize

_MARK = re.compile(
    r"[()\[\]{}=]|^@\w|^(?:def|class|return|import|from|if|elif|else|for|while|try|except|"
    r"finally|with|raise|yield|assert|pass|break|continue|lambda|async|await|del|global|"
    r"nonlocal)\b"
)
_NAME = re.compile(r"^[A-Za-z_][\w.]*[,;]?$")
# A mark of code that prose does not carry: =, square or curly brackets, a colon, a bracket
# right after a word (f(x)), or a keyword that opens a statement.
_PROSE_FREE_MARK = re.compile(
    r"[=\[\]{}:]|\w\(|^(?:def|class|return|import|from|raise|yield|assert|lambda|await)\b"
)
_CONTINUATION = re.compile(r"^(?:else|and|or|if|for|in|not in|is)\b|^(?:[-+*/%|&^<>]|==|!=)")
_HEADER = re.compile(r"^(?:async\s+)?(?:def|class|if|elif|for|while|with)\b")
_CLAUSE = re.compile(r"^(?:elif\b.*|else|try|finally|except\b.*):$")
_FSTRING_MIDDLE = getattr(tokenize, "FSTRING_MIDDLE", -1)
_PAIRS = {"(": ")", "[": "]", "{": "}"}


def _balanced(line: str) -> str:
    """``line`` with the brackets it leaves open closed and those it closes opened (a call
    spread over lines: ``foo(a,`` / ``b)``), ignoring brackets inside quotes."""
    stack: list[str] = []
    opened = ""
    quote = ""
    for ch in line:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in _PAIRS:
            stack.append(_PAIRS[ch])
        elif ch in ")]}":
            if stack and stack[-1] == ch:
                stack.pop()
            else:
                opened = {")": "(", "]": "[", "}": "{"}[ch] + opened
    return opened + line + "".join(reversed(stack))


def is_code(line: str, strict: bool = False) -> bool:
    """Whether ``line`` is a line of code (Python, or code shaped like it). ``strict`` asks
    for a mark prose does not carry, for reading names in it: a line of one word (a city on a
    line of an address) or whose only brackets follow a space (ΑΓΛΑΝΤΖΙΑ (ΑΓΛΑΓΓΙΑ), Cyprus
    (Greek)) parses as Python but is no code then."""
    text = line.strip()
    if _NAME.match(text):
        return not strict  # one identifier (unpack_kwargs, AwaitExpr,) or one word (Utrecht)
    if not text or text.startswith("#"):
        return False
    if not _MARK.search(text) and not (strict and _annotated(text)):
        return False
    if strict and not _PROSE_FREE_MARK.search(text):
        return False
    if _CLAUSE.match(text):
        return True
    balanced = _balanced(text.rstrip(",\\"))
    attempts = [balanced]
    if balanced.endswith(":"):
        attempts.append(balanced + " pass")  # a block's header: for x in xs:
    elif _HEADER.match(balanced):
        attempts.append(balanced + ": pass")  # a header spread over lines: def f(a, b,
    if balanced.startswith("@"):
        attempts.append(balanced + "\ndef f(): pass")  # a decorator
    if _CONTINUATION.match(balanced):  # the rest of an expression: else f(x), and y
        attempts.append(("x if y " if balanced.startswith("else") else "x ") + balanced)
    if ":" in balanced:
        attempts.append("{" + balanced + "}")  # entries of a dict: 'a': f(x), k: v for k in
    for attempt in attempts:
        try:
            ast.parse(attempt)
        except (SyntaxError, ValueError):
            continue
        return True
    return False


_WORD_TOKENS = (tokenize.COMMENT, tokenize.STRING, _FSTRING_MIDDLE)


def _word_tokens(code: str) -> list[tokenize.TokenInfo]:
    """The comment and string tokens of a line of code with its indent taken off (an
    f-string's literal text is its own token from Python 3.12)."""
    found: list[tokenize.TokenInfo] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type in _WORD_TOKENS:
                found.append(token)
    except (tokenize.TokenError, SyntaxError):
        pass  # a line cut from a longer statement: what was read so far
    return found


def words_in(line: str) -> str:
    """The comments and string literals of a line of code, joined; empty when it has none."""
    parts: list[str] = []
    for token in _word_tokens(line.lstrip()):
        if token.type == tokenize.COMMENT:
            parts.append(token.string.lstrip("#").strip())
        elif token.type == tokenize.STRING:
            parts.append(_string_text(token.string))
        else:
            parts.append(token.string)
    return " ".join(p for p in parts if p)


_ANNOTATION = re.compile(r"\b([a-z_][a-z0-9_]*): ([A-Za-z_]\w*)")
_BUILTIN_TYPES = frozenset({"str", "int", "float", "bool", "bytes", "object", "list", "dict"})


def _annotated(text: str) -> bool:
    """A parameter on a line of its own, annotated as Python writes it: with a built-in type
    (``source_path: str``) or named after its type (``mapper: Mapper``, ``c_emitter:
    Emitter``). "name: John" is neither."""
    for m in _ANNOTATION.finditer(text):
        name, kind = m.group(1).replace("_", ""), m.group(2)
        if kind in _BUILTIN_TYPES or (len(kind) > 2 and name.endswith(kind.lower())):
            return True
    return False


def word_spans(line: str) -> list[tuple[int, int]]:
    """Where the comments and string literals of a line of code lie, as offsets in ``line``
    (what ``words_in`` reads); the rest of a line of code is names, operators and numbers."""
    indent = len(line) - len(line.lstrip())
    return [
        (indent + token.start[1], indent + token.end[1])
        for token in _word_tokens(line[indent:])
        if token.start[0] == token.end[0]
    ]


def _string_text(literal: str) -> str:
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError):  # an f-string (before 3.12, one token): its text
        return re.sub(r"^[A-Za-z]*", "", literal).strip("'\"")
    return value if isinstance(value, str) else ""


def prose_of(text: str) -> str:
    """``text`` with each line of code replaced by the words inside it (or dropped)."""
    lines = text.split("\n")
    if not any(_MARK.search(line) or _NAME.match(line) for line in map(str.strip, lines)):
        return text
    out = []
    for line in lines:
        if is_code(line):
            words = words_in(line)
            if words:
                out.append(words)
        else:
            out.append(line)
    return "\n".join(out)
