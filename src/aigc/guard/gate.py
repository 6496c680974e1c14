"""The guard's input stage and the per-request session that carries the placeholders to the
output stage, as plain functions of policies and requests.

    requests, session = guard_input(policies, model, key_id, requests, codes, watermark_key)
    ...
    out = session.output_guard()   # one per choice

The request pipeline's adapters (the tenant's cached policies, the server secret, the 400 on a
block, the output stage on answers and streams) live in ``aigc.gateway.guarding``.

Function calling: a tool result (a ``tool`` message) is untrusted text from outside, like a
retrieved document, so the retrieval rules judge it first (indirect injection: flag, drop =
the result is withheld from the model, block = the request is refused); then the input rules
read every message and the arguments of earlier calls, so a value pseudonymised once keeps its
placeholder through a call and its result. Injection rules of the input stage read what the
caller wrote, not tool results.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from aigc.guard import checks, pii, store, zh_names
from aigc.guard.pii import Pseudonymizer
from aigc.guard.policy import Policy, Rule, Stage, rules_for
from aigc.guard.stream import OutputGuard
from aigc.guard.watermark import WatermarkProcessor
from aigc.infra.db import Database
from aigc.models.protocols import ChatMessage, TextRequest


@dataclass
class GuardSession:
    """One request's guard state: restorable placeholders, output rules, label."""

    pseudonymizer: Pseudonymizer
    output_rules: list[Rule]
    label: str | None

    def output_guard(self) -> OutputGuard:
        return OutputGuard(self.output_rules, self.pseudonymizer)

    def arguments_guard(self) -> OutputGuard:
        """The output rules for one tool call's arguments (JSON text, restored JSON-safe)."""
        return OutputGuard(self.output_rules, self.pseudonymizer, json_strings=True)

    @property
    def passthrough(self) -> bool:
        return not self.output_rules and not self.pseudonymizer.by_placeholder and not self.label


WITHHELD = "[This tool result was withheld by the content policy.]"


def _chat_texts(messages: list[ChatMessage]) -> tuple[list[str], frozenset[int], frozenset[int]]:
    """Every text of a conversation the input rules read (each message, then the arguments
    of the calls it carries), which of them are tool results, and which call arguments."""
    texts: list[str] = []
    results: set[int] = set()
    arguments: set[int] = set()
    for m in messages:
        if m.role == "tool":
            results.add(len(texts))
        texts.append(m.content)
        for call in m.tool_calls:
            arguments.add(len(texts))
            texts.append(call.arguments)
    return texts, frozenset(results), frozenset(arguments)


def _with_chat_texts(messages: list[ChatMessage], texts: list[str]) -> list[ChatMessage]:
    rewritten = iter(texts)
    out = []
    for m in messages:
        content = next(rewritten)
        calls = tuple(replace(c, arguments=next(rewritten)) for c in m.tool_calls)
        out.append(replace(m, content=content, tool_calls=calls))
    return out


@dataclass(frozen=True)
class Inputs:
    """The texts the input rules read, each once: the messages every choice shares (chat), or
    every distinct prompt (completions: a list of prompts is one request per prompt and
    choice), so one pseudonymizer numbers the values of all of them; and which are tool
    results and which tool-call arguments.

    Collected once per request (``inputs_of``): the gateway decides from them where the scan
    runs (``scan_is_costly``) and hands the same ones to ``guard_input``."""

    texts: list[str]
    results: frozenset[int] = frozenset()
    arguments: frozenset[int] = frozenset()


def inputs_of(requests: list[TextRequest]) -> Inputs:
    if requests[0].messages is not None:
        return Inputs(*_chat_texts(requests[0].messages))
    return Inputs(list(dict.fromkeys(r.prompt or "" for r in requests)))


def _with_tool_results(inputs: Inputs, messages: list[ChatMessage]) -> Inputs:
    """The same inputs with the tool results as screening left them (masked or withheld): the
    results stand in ``texts`` in the order of the tool messages."""
    screened = iter(m.content for m in messages if m.role == "tool")
    texts = [next(screened) if i in inputs.results else t for i, t in enumerate(inputs.texts)]
    return replace(inputs, texts=texts)


def screen_tool_results(
    rules: list[Rule], messages: list[ChatMessage], codes: list[str]
) -> list[ChatMessage]:
    """The retrieval rules on each tool result: masked, withheld (``drop``) or the request
    refused (``block``: raises ``checks.Blocked``); codes ``tool_result:RULE:ACTION:...``."""
    places = [i for i, m in enumerate(messages) if m.role == "tool"]
    if not places or not rules:
        return messages
    verdicts = checks.check_retrieved(rules, [messages[i].content for i in places], "tool_result")
    out = list(messages)
    for i, verdict in zip(places, verdicts, strict=True):
        codes.extend(c for c in verdict.codes if c not in codes)
        if verdict.blocked is not None:
            raise checks.Blocked(*verdict.blocked)
        out[i] = replace(out[i], content=WITHHELD if verdict.dropped else verdict.text)
    return out


# PII detection beyond the default policy's secrets costs milliseconds per kilobyte (measured
# on 4 KB with the machine loaded: secrets 1.3 ms, every format-and-checksum entity 16-19 ms,
# Chinese names 107 ms: a segmenter and a name model), the other detectors microseconds to
# about one. An input the gateway would scan on the event loop because it is short goes to a
# worker thread when such a rule will read more than this many characters of it.
PII_INLINE_MAX_CHARS = 256
_CHEAP_PII = frozenset(pii.SECRETS_ONLY)


def _costly_rule(rule: Rule) -> bool:
    return rule.detector == "pii" and (
        rule.entities is None or bool(set(rule.entities) - _CHEAP_PII)
    )


def scan_is_costly(policies: list[Policy], model: str, key_id: str | None, inputs: Inputs) -> bool:
    """Whether the input stage would hold the event loop: a PII rule beyond secrets over more
    than ``PII_INLINE_MAX_CHARS`` characters of input (tool results, which the retrieval rules
    read, included), or the first Chinese text for a names rule (the name model and jieba's
    dictionary are read then)."""
    stages: tuple[Stage, ...] = ("input", "retrieval")
    costly = [r for s in stages for r in rules_for(policies, s, model, key_id) if _costly_rule(r)]
    if not costly:
        return False
    if sum(len(t) for t in inputs.texts) > PII_INLINE_MAX_CHARS:
        return True
    names = any(r.entities is None or "CN_PERSON" in r.entities for r in costly)
    return names and any(zh_names.would_load(t) for t in inputs.texts)


def guard_input(
    policies: list[Policy],
    model: str,
    key_id: str | None,
    requests: list[TextRequest],
    codes: list[str],
    watermark_key: Callable[[], int] | None = None,
    inputs: Inputs | None = None,
) -> tuple[list[TextRequest], GuardSession]:
    """Run the input rules once over the input (every choice shares its prompt) and rewrite
    the requests.

    Raises ``checks.Blocked`` when a block rule fires; decision codes are appended to ``codes``.
    With a policy's watermark enabled (and ``watermark_key`` given), each request gets the
    green-list logits processor (models without logits ignore it). ``inputs``: the requests'
    texts when the caller has already collected them (``inputs_of``), else collected here.
    """
    if inputs is None:
        inputs = inputs_of(requests)
    messages = requests[0].messages
    if messages is not None and inputs.results:
        retrieval = rules_for(policies, "retrieval", model, key_id)
        screened = screen_tool_results(retrieval, messages, codes)
        if screened is not messages:
            requests = [replace(r, messages=screened) for r in requests]
            inputs = _with_tool_results(inputs, screened)
    rules = rules_for(policies, "input", model, key_id)
    texts = inputs.texts
    result = checks.check_input(rules, texts, inputs.results, inputs.arguments)
    codes.extend(result.codes)
    if result.texts != texts:
        if messages is not None:
            chat = _with_chat_texts(requests[0].messages or [], result.texts)
            requests = [replace(r, messages=chat) for r in requests]
        else:  # completions: each request's own prompt, as rewritten
            rewritten = dict(zip(texts, result.texts, strict=True))
            requests = [replace(r, prompt=rewritten[r.prompt or ""]) for r in requests]
    marking = next((p.watermark for p in policies if p.watermark.enabled), None)
    if marking is not None and watermark_key is not None:
        key = watermark_key()
        requests = [
            replace(
                r,
                logits_processors=(
                    *r.logits_processors,
                    WatermarkProcessor(key, marking.gamma, marking.delta),
                ),
            )
            for r in requests
        ]
        codes.append("output:watermark")
    label = next((p.labels.text for p in policies if p.labels.explicit), None)
    session = GuardSession(
        result.pseudonymizer, rules_for(policies, "output", model, key_id), label
    )
    return requests, session


def policies_for(db: Database, tenant_id: str) -> list[Policy]:
    return store.active_policies(db, tenant_id)


def check_chunks(
    db: Database, tenant_id: str, model: str, key_id: str | None, chunks: list[str]
) -> list[checks.ChunkVerdict]:
    """For the knowledge stage: the tenant's retrieval rules on each retrieved chunk."""
    rules = rules_for(policies_for(db, tenant_id), "retrieval", model, key_id)
    return checks.check_retrieved(rules, chunks)
