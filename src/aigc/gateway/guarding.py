"""The guard's stages as the request pipeline runs them.

``aigc.guard`` holds the checks as plain functions of policies and texts; this module adds what
only the gateway knows: the tenant's cached policies and the server secret (input), OpenAI's
content-policy 400 on a block, the request body's output constraint, and the output rules on a
whole answer (``guard_text``) or on a stream (``StreamCheck``). Decision codes go into the
caller's ``codes`` list, which the middleware audits.

Tool calls in answers: their arguments pass the output rules whole (``guard_calls``; on a
stream ``StreamCheck`` holds each call back until it is complete), placeholders restored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from starlette.concurrency import run_in_threadpool

from aigc.access import Principal
from aigc.errors import ContentPolicyViolation, refused_value
from aigc.gateway.services import Services
from aigc.gateway.tooling import CallAssembler
from aigc.guard import checks, store, structured
from aigc.guard.gate import GuardSession, guard_input, inputs_of, scan_is_costly
from aigc.guard.stream import OutputGuard
from aigc.guard.watermark import tenant_key
from aigc.models.protocols import ReasoningDelta, TextModel, TextRequest, ToolCall, ToolCallDelta


async def guard_request(
    services: Services,
    principal: Principal,
    model: str,
    requests: list[TextRequest],
    codes: list[str],
    in_thread: bool = False,
) -> tuple[list[TextRequest], GuardSession]:
    """The input stage: the requests as the guard rewrote them and the session for the output
    stage; a block becomes OpenAI's content-policy 400.

    The tenant's watermark key derives from the server secret (read only when a policy enables
    the watermark). ``in_thread``: the input is long, so the scan (PII, injection, tenant
    patterns: linear but not free) runs in a worker thread and leaves the event loop to other
    requests; so does a PII rule beyond secrets over more than a few hundred characters
    (``gate.scan_is_costly``)."""
    tenant_id = principal.tenant_id
    policies = await services.lookups.get_or_load(  # one database read per tenant at a time
        ("policies", tenant_id),
        lambda: store.cached_policies(tenant_id),
        lambda: run_in_threadpool(store.active_policies, services.db, tenant_id),
    )

    def key() -> int:
        return tenant_key(services.settings.server_secret(), tenant_id)

    try:
        if in_thread:  # a long input: its texts are collected off the event loop too
            return await run_in_threadpool(
                guard_input, policies, model, principal.key_id, requests, codes, key
            )
        inputs = inputs_of(requests)  # once: to decide where the scan runs, and for the scan
        if scan_is_costly(policies, model, principal.key_id, inputs):
            return await run_in_threadpool(
                guard_input, policies, model, principal.key_id, requests, codes, key, inputs
            )
        return guard_input(policies, model, principal.key_id, requests, codes, key, inputs)
    except checks.Blocked as blocked:
        codes.append(blocked.code)
        raise ContentPolicyViolation(str(blocked), code="content_policy_violation") from None


def constrain(
    constraint: structured.Constraint | None, model: TextModel, requests: list[TextRequest]
) -> list[TextRequest]:
    """Structured output (``constraint``, the body's as ``structured.parse_constraint`` read
    it): each choice gets its own grammar processor (400 when the model cannot decode under a
    grammar); a model that enforces a chat's JSON format itself (an upstream) gets it as
    ``response_format`` instead. A local chat model offered tools decodes under its
    tool-call grammar instead (``structured.tool_processor``)."""
    tools = requests[0].tools if requests else None
    local_format = getattr(model, "tool_format", None)  # TextModelBase declares it
    if tools is not None and tools.callable and local_format is not None:
        if constraint is not None or any(r.num_beams > 1 or r.logprobs for r in requests):
            raise refused_value(
                "tools_not_combined",
                "On this model, tools cannot be combined with response_format, guided "
                "decoding, beam search or logprobs",
                param="tools",
                code="unsupported_parameter",
            )
        return [
            replace(
                r,
                logits_processors=(*r.logits_processors, structured.tool_processor(model, tools)),
            )
            for r in requests
        ]
    if constraint is None:
        return requests
    if any(r.num_beams > 1 for r in requests):
        raise refused_value(
            "format_with_beam_search",
            "response_format cannot be combined with beam search",
            param="response_format",
            code="unsupported_parameter",
        )
    sent_on = structured.openai_format(constraint)
    chat = all(r.messages is not None for r in requests)
    if getattr(model, "enforces_formats", False) and sent_on is not None and chat:
        return [replace(r, response_format=sent_on) for r in requests]
    return [
        replace(
            r,
            logits_processors=(*r.logits_processors, structured.processor_for(model, constraint)),
        )
        for r in requests
    ]


def guard_text(
    session: GuardSession | None,
    text: str,
    finish_reason: str,
    codes: list[str],
    label: bool = True,
) -> tuple[str, str]:
    """The output stage on a whole answer (non-streaming): text and finish reason.
    ``label``: append the policy's explicit label (not to an answer that only called tools)."""
    if session is None or session.passthrough:
        return text, finish_reason
    out = session.output_guard()
    text = out.feed(text) + out.finish()
    codes.extend(c for c in out.codes if c not in codes)
    if out.blocked:
        return text, "content_filter"
    return text + (f"\n\n{session.label}" if session.label and label else ""), finish_reason


def guard_calls(
    session: GuardSession | None, calls: list[ToolCall], finish_reason: str, codes: list[str]
) -> tuple[list[ToolCall], str]:
    """The output rules on each call's arguments: masked values stay masked, pseudonymised
    ones are restored (JSON-escaped); a call a block rule fires on is withheld and the choice
    ends with ``content_filter``."""
    if session is None or session.passthrough or not calls:
        return calls, finish_reason
    kept = []
    for call in calls:
        guarded, blocked = _guard_arguments(session, call.arguments, codes)
        if blocked:
            finish_reason = "content_filter"
            continue
        kept.append(replace(call, arguments=guarded))
    return kept, finish_reason


def guard_reasoning(
    session: GuardSession | None, reasoning: str, codes: list[str]
) -> tuple[str, bool]:
    """The output rules on a reasoning model's thinking (sent to the caller as
    ``reasoning_content``, so policed as the answer is, without its label): the text as sent,
    and whether a block rule fired (the choice then ends with ``content_filter``)."""
    if session is None or session.passthrough or not reasoning:
        return reasoning, False
    out = session.output_guard()
    guarded = out.feed(reasoning) + out.finish()
    codes.extend(c for c in out.codes if c not in codes)
    return ("" if out.blocked else guarded), out.blocked is not None


def _guard_arguments(session: GuardSession, arguments: str, codes: list[str]) -> tuple[str, bool]:
    out = session.arguments_guard()
    guarded = out.feed(arguments) + out.finish()
    codes.extend(c for c in out.codes if c not in codes)
    return guarded, out.blocked is not None


class StreamCheck:
    """The output stage on one streamed choice: wraps the model's deltas, holds back a window,
    ends early with ``content_filter`` when a block rule fires. Tool-call deltas are held until
    their call is complete, then sent as one delta with the guarded arguments (text before a
    call is released first). A reasoning model's thinking (``ReasoningDelta``) passes its own
    window of the same rules, its held tail released before the answer begins; a block there
    ends the choice as one in the answer does. ``calls`` gathers the calls as sent on: what
    the choice called."""

    def __init__(self, session: GuardSession | None, codes: list[str]) -> None:
        self.session = session
        self.codes = codes
        self.blocked = False
        self.calls = CallAssembler()

    async def wrap(self, deltas: AsyncIterator[str]) -> AsyncIterator[str]:
        if self.session is None or self.session.passthrough:
            async for delta in deltas:
                if isinstance(delta, ToolCallDelta):
                    self.calls.add(delta)
                yield delta
            return
        out = self.session.output_guard()
        calls = CallAssembler()
        wrote = False  # any text: only then is the explicit label appended
        thinking: OutputGuard | None = None  # the rules on the thinking, while it streams
        try:
            async for delta in deltas:
                if isinstance(delta, ReasoningDelta):
                    thinking = thinking or self.session.output_guard()
                    if released := thinking.feed(delta.reasoning):
                        yield ReasoningDelta(released)
                    if self._ended(thinking):
                        break
                    continue
                if thinking is not None:  # the answer begins: the thinking's held tail first
                    if held := thinking.finish():
                        yield ReasoningDelta(held)
                    if self._ended(thinking):
                        break
                    thinking = None
                if isinstance(delta, ToolCallDelta):
                    if held := out.finish():
                        yield held
                    if delta.call_index not in calls.calls:
                        for whole in self._complete(calls):
                            yield whole
                    calls.add(delta)
                    continue
                if delta and calls.calls:  # text after a call: the call goes first
                    for whole in self._complete(calls):
                        yield whole
                wrote = wrote or bool(delta)
                released = out.feed(delta)
                if released:
                    yield released
                if out.blocked:
                    break
            if thinking is not None and not self.blocked:  # the choice was all thinking
                if held := thinking.finish():
                    yield ReasoningDelta(held)
                self._ended(thinking)
            if not out.blocked and not self.blocked:
                for whole in self._complete(calls):
                    yield whole
            tail = out.finish()
            if tail:
                yield tail
            if self.session.label and not out.blocked and not self.blocked and wrote:
                yield f"\n\n{self.session.label}"
        finally:
            self.blocked = self.blocked or out.blocked is not None
            self.codes.extend(c for c in out.codes if c not in self.codes)

    def _ended(self, thinking: OutputGuard) -> bool:
        """Whether a block rule fired on the thinking (its codes recorded either way)."""
        self.codes.extend(c for c in thinking.codes if c not in self.codes)
        self.blocked = self.blocked or thinking.blocked is not None
        return thinking.blocked is not None

    def _complete(self, calls: CallAssembler) -> list[ToolCallDelta]:
        """The held calls, each as one delta with its guarded arguments; a blocked one is
        withheld and ends the choice with ``content_filter``."""
        assert self.session is not None
        out = []
        for index, call in zip(sorted(calls.calls), calls.result(), strict=True):
            arguments, blocked = _guard_arguments(self.session, call.arguments, self.codes)
            self.blocked = self.blocked or blocked
            if not blocked:
                out.append(ToolCallDelta(index, call.id, call.name, arguments))
                self.calls.add(out[-1])
        calls.calls.clear()
        return out

    def finish_reason(self, model_reason: str) -> str:
        return "content_filter" if self.blocked else model_reason
