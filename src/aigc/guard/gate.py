"""What the request pipeline calls: the guard's input stage and the per-request session that
carries the placeholders to the output stage.

    requests, session = guard_input(db, tenant_id, key_id, model, requests, record.guard)
    ...
    out = session.output_guard()   # one per choice
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

from aigc.access import Principal
from aigc.errors import ContentPolicyViolation, InvalidRequest
from aigc.gateway.context import RequestRecord
from aigc.guard import checks, store, structured
from aigc.guard.pii import Pseudonymizer
from aigc.guard.policy import Policy, Rule, rules_for
from aigc.guard.stream import OutputGuard
from aigc.guard.watermark import WatermarkProcessor, tenant_key
from aigc.infra.db import Database
from aigc.models.protocols import ChatMessage, TextRequest

if TYPE_CHECKING:
    from aigc.gateway.services import Services


@dataclass
class GuardSession:
    """One request's guard state: restorable placeholders, output rules, label."""

    pseudonymizer: Pseudonymizer
    output_rules: list[Rule]
    label: str | None

    def output_guard(self) -> OutputGuard:
        return OutputGuard(self.output_rules, self.pseudonymizer)

    @property
    def passthrough(self) -> bool:
        return not self.output_rules and not self.pseudonymizer.by_placeholder and not self.label


def _texts(request: TextRequest) -> list[str]:
    if request.messages is not None:
        return [m.content for m in request.messages]
    return [request.prompt or ""]


def _with_texts(request: TextRequest, texts: list[str]) -> TextRequest:
    if request.messages is not None:
        messages = [ChatMessage(m.role, t) for m, t in zip(request.messages, texts, strict=True)]
        return replace(request, messages=messages)
    return replace(request, prompt=texts[0])


def guard_input(
    policies: list[Policy],
    model: str,
    key_id: str | None,
    requests: list[TextRequest],
    codes: list[str],
    watermark_key: Callable[[], int] | None = None,
) -> tuple[list[TextRequest], GuardSession]:
    """Run the input rules once (every choice shares the prompt) and rewrite the requests.

    Raises ``checks.Blocked`` when a block rule fires; decision codes are appended to ``codes``.
    With a policy's watermark enabled (and ``watermark_key`` given), each request gets the
    green-list logits processor (models without logits ignore it).
    """
    rules = rules_for(policies, "input", model, key_id)
    result = checks.check_input(rules, _texts(requests[0]))
    codes.extend(result.codes)
    if result.texts != _texts(requests[0]):
        requests = [_with_texts(r, result.texts) for r in requests]
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


def constrain(body: Any, model: Any, requests: list[TextRequest]) -> list[TextRequest]:
    """Structured output: each choice gets its own grammar processor (400 when the model
    cannot decode under a grammar, or the format is invalid)."""
    values = body.model_dump(exclude_unset=True)
    constraint = structured.parse_constraint(values)
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


def policies_for(db: Database, tenant_id: str) -> list[Policy]:
    return store.active_policies(db, tenant_id)


def check_chunks(
    db: Database, tenant_id: str, model: str, key_id: str | None, chunks: list[str]
) -> list[checks.ChunkVerdict]:
    """For the knowledge stage: the tenant's retrieval rules on each retrieved chunk."""
    rules = rules_for(policies_for(db, tenant_id), "retrieval", model, key_id)
    return checks.check_retrieved(rules, chunks)


# --- the pipeline's entry points -----------------------------------------------------------


async def guard_request(
    services: Services,
    principal: Principal,
    model: str,
    requests: list[TextRequest],
    record: RequestRecord,
    in_thread: bool = False,
) -> tuple[list[TextRequest], GuardSession]:
    """The input stage for the pipeline: a block becomes OpenAI's content-policy 400.

    Decision codes go into ``record.guard``; the tenant's watermark key derives from the server
    secret (read only when a policy enables the watermark). ``in_thread``: the input is long, so
    the scan (PII, injection, tenant patterns: linear but not free) runs in a worker thread and
    leaves the event loop to other requests."""
    tenant_id, codes = principal.tenant_id, record.guard
    policies = store.cached_policies(tenant_id)
    if policies is None:
        policies = await run_in_threadpool(store.active_policies, services.db, tenant_id)

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
