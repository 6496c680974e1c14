"""Running a policy's rules on text: input (before the model), retrieval (each retrieved chunk).

The output stage runs on the stream and lives in ``stream.py``. Decisions are short codes with no
content (``input:secrets:redact:SECRET``, ``input:injection:flag:0.93``) that go into the
request's audit record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from aigc.guard import injection, moderation, pii
from aigc.guard.policy import Rule
from aigc.infra.canonical_text import canonical_with_positions, span_in

# What a block rule says when its author wrote no message of their own.
DEFAULT_BLOCK_MESSAGE = "This request was blocked by the content policy."


class Blocked(Exception):
    """A block rule fired; ``message`` is safe to show to the caller."""

    def __init__(self, rule: Rule, code: str) -> None:
        self.rule = rule
        self.code = code
        super().__init__(rule.message or DEFAULT_BLOCK_MESSAGE)


@dataclass
class Hit:
    """Where a rule matched and what score it gave (1.0 for pattern matches)."""

    findings: list[pii.Finding] = field(default_factory=list)
    score: float | None = None


def evaluate(rule: Rule, text: str, document: bool = False, opening: bool = True) -> Hit | None:
    """The rule's detector on ``text``: a Hit when it fires, else None. An output rule's
    moderation judges what the model says (``moderation.response_category_scores``);
    ``opening``: the text starts the response (a refusal there lowers the harm scores)."""
    if rule.detector == "pii":
        findings = pii.detect(text, rule.entities)
        return Hit(findings) if findings else None
    if rule.detector in ("regex", "keywords"):
        assert rule.compiled is not None
        # A keyword list holds whichever script its author wrote: 机密 also blocks 機密 and
        # 机\u200b密. A regular expression is matched as written.
        if rule.detector == "keywords":
            read, positions = canonical_with_positions(text)
            found = [(m.start(), m.end()) for m in rule.compiled.finditer(read)]
            spans = [span_in(positions, s, e) for s, e in found if e > s]
        else:
            spans = [(m.start(), m.end()) for m in rule.compiled.finditer(text)]
        findings = [pii.Finding(rule.id.upper(), s, e, text[s:e], 99) for s, e in spans if e > s]
        return Hit(findings, 1.0) if findings else None
    if rule.detector == "injection":
        score = injection.score_document(text) if document else injection.score(text)
        return Hit(score=score) if score >= rule.threshold else None
    wanted = rule.categories or moderation.OPENAI_CATEGORIES
    if rule.stage == "output":
        scores = moderation.response_category_scores(text, wanted, opening)
    else:
        scores = moderation.category_scores(text, wanted)
    best = max(scores.values())
    return Hit(score=best) if best >= rule.threshold else None


def _code(stage: str, rule: Rule, hit: Hit) -> str:
    if hit.score is not None and rule.detector in ("injection", "moderation"):
        return f"{stage}:{rule.id}:{rule.action}:{hit.score:.2f}"
    kinds = sorted({f.entity for f in hit.findings})
    return f"{stage}:{rule.id}:{rule.action}:{'+'.join(kinds)}"


@dataclass
class InputResult:
    texts: list[str]
    codes: list[str]
    pseudonymizer: pii.Pseudonymizer


def json_strings(text: str) -> str:
    """The string values of a JSON text, one a line (the text itself when it is no JSON).

    What a tool call's arguments say is in their values; JSON's braces, quotes and keys look
    like nothing a person writes, and a classifier of prose scores them high for it."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return "\n".join(found)


def check_input(
    rules: list[Rule],
    texts: list[str],
    tool_results: frozenset[int] = frozenset(),
    arguments: frozenset[int] = frozenset(),
) -> InputResult:
    """Apply input rules to each message text, in rule order.

    Redact/pseudonymize rewrite the text (the same value keeps one placeholder across messages);
    block raises ``Blocked``; flag records a code. Only pseudonymized values are restorable.
    Injection rules skip the texts at ``tool_results`` (the retrieval rules judge those) and
    read the string values of tool-call ``arguments`` (JSON), not their syntax.
    """
    pseudo = pii.Pseudonymizer()
    masker = pii.Pseudonymizer()
    masker.counts = pseudo.counts  # one numbering for both kinds of placeholder
    codes: list[str] = []
    out = list(texts)
    for rule in rules:
        if rule.action == "allow":
            continue
        fired: Hit | None = None
        for i, text in enumerate(out):
            if rule.detector == "injection" and i in tool_results:
                continue
            judged = json_strings(text) if rule.detector == "injection" and i in arguments else text
            hit = evaluate(rule, judged)
            if hit is None:
                continue
            fired = fired or hit
            if rule.action == "pseudonymize":
                out[i] = pseudo.redact(text, hit.findings)
            elif rule.action == "redact":
                out[i] = masker.redact(text, hit.findings)
        if fired is not None:
            code = _code("input", rule, fired)
            codes.append(code)
            if rule.action == "block":
                raise Blocked(rule, code)
    return InputResult(out, codes, pseudo)


@dataclass
class ChunkVerdict:
    """One retrieved chunk after the retrieval rules: its (maybe redacted) text, whether to
    drop it, the decision codes, and the block rule that fired with its code (a tool result
    so blocked refuses the request)."""

    text: str
    dropped: bool
    injection_score: float
    codes: list[str]
    blocked: tuple[Rule, str] | None = None


def check_retrieved(
    rules: list[Rule], chunks: list[str], stage: str = "retrieval"
) -> list[ChunkVerdict]:
    """Retrieval rules on every chunk (indirect injection, PII in documents) or tool result
    (``stage`` "tool_result" names them in the codes).

    The knowledge stage calls this before chunks reach the prompt; a ``block`` or ``drop`` rule
    drops the chunk (the request goes on without it), ``redact`` masks values, ``flag``
    records. For tool results ``block`` refuses the request (``ChunkVerdict.blocked``).
    """
    verdicts = []
    for text in chunks:
        codes: list[str] = []
        dropped = False
        blocked: tuple[Rule, str] | None = None
        masker = pii.Pseudonymizer()
        score = injection.score_document(text)  # once per chunk, shared by injection rules
        for rule in rules:
            if rule.action == "allow":
                continue
            if rule.detector == "injection":
                hit = Hit(score=score) if score >= rule.threshold else None
            else:
                hit = evaluate(rule, text, document=True)
            if hit is None:
                continue
            code = _code(stage, rule, hit)
            codes.append(code)
            if rule.action in ("block", "drop"):
                dropped = True
                if rule.action == "block" and blocked is None:
                    blocked = (rule, code)
            elif rule.action in ("redact", "pseudonymize"):
                text = masker.redact(text, hit.findings)
        verdicts.append(ChunkVerdict(text, dropped, score, codes, blocked))
    return verdicts
