"""The guard's stages as the request pipeline runs them.

``aigc.guard`` holds the checks as plain functions of policies and texts; this module adds what
only the gateway knows: the tenant's cached policies and the server secret (input), OpenAI's
content-policy 400 on a block, the request body's output constraint, and the output rules on a
whole answer (``guard_text``) or on a stream (``StreamCheck``). Decision codes go into the
caller's ``codes`` list, which the middleware audits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from starlette.concurrency import run_in_threadpool

from aigc.access import Principal
from aigc.errors import ContentPolicyViolation, InvalidRequest
from aigc.gateway.schemas import SamplingFields
from aigc.gateway.services import Services
from aigc.guard import checks, store, structured
from aigc.guard.gate import GuardSession, guard_input
from aigc.guard.watermark import tenant_key
from aigc.models.protocols import TextModel, TextRequest


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
    requests."""
    tenant_id = principal.tenant_id
    policies = await services.lookups.get_or_load(  # one database read per tenant at a time
        ("policies", tenant_id),
        lambda: store.cached_policies(tenant_id),
        lambda: run_in_threadpool(store.active_policies, services.db, tenant_id),
    )

    def key() -> int:
        return tenant_key(services.settings.server_secret(), tenant_id)

    try:
        if in_thread:
            return await run_in_threadpool(
                guard_input, policies, model, principal.key_id, requests, codes, key
            )
        return guard_input(policies, model, principal.key_id, requests, codes, key)
    except checks.Blocked as blocked:
        codes.append(blocked.code)
        raise ContentPolicyViolation(str(blocked), code="content_policy_violation") from None


def constrain(
    body: SamplingFields, model: TextModel, requests: list[TextRequest]
) -> list[TextRequest]:
    """Structured output: each choice gets its own grammar processor (400 when the model
    cannot decode under a grammar, or the format is invalid)."""
    constraint = structured.parse_constraint(body.model_dump(exclude_unset=True))
    if constraint is None:
        return requests
    if any(r.num_beams > 1 for r in requests):
        raise InvalidRequest(
            "response_format cannot be combined with beam search", param="response_format"
        )
    return [
        replace(
            r,
            logits_processors=(*r.logits_processors, structured.processor_for(model, constraint)),
        )
        for r in requests
    ]


def guard_text(
    session: GuardSession | None, text: str, finish_reason: str, codes: list[str]
) -> tuple[str, str]:
    """The output stage on a whole answer (non-streaming): text and finish reason."""
    if session is None or session.passthrough:
        return text, finish_reason
    out = session.output_guard()
    text = out.feed(text) + out.finish()
    codes.extend(c for c in out.codes if c not in codes)
    if out.blocked:
        return text, "content_filter"
    return text + (f"\n\n{session.label}" if session.label else ""), finish_reason


class StreamCheck:
    """The output stage on one streamed choice: wraps the model's deltas, holds back a window,
    ends early with ``content_filter`` when a block rule fires."""

    def __init__(self, session: GuardSession | None, codes: list[str]) -> None:
        self.session = session
        self.codes = codes
        self.blocked = False

    async def wrap(self, deltas: AsyncIterator[str]) -> AsyncIterator[str]:
        if self.session is None or self.session.passthrough:
            async for delta in deltas:
                yield delta
            return
        out = self.session.output_guard()
        try:
            async for delta in deltas:
                released = out.feed(delta)
                if released:
                    yield released
                if out.blocked:
                    break
            tail = out.finish()
            if tail:
                yield tail
            if self.session.label and not out.blocked:
                yield f"\n\n{self.session.label}"
        finally:
            self.blocked = out.blocked is not None
            self.codes.extend(c for c in out.codes if c not in self.codes)

    def finish_reason(self, model_reason: str) -> str:
        return "content_filter" if self.blocked else model_reason
