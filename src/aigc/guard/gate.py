"""The guard's input stage and the per-request session that carries the placeholders to the
output stage, as plain functions of policies and requests.

    requests, session = guard_input(policies, model, key_id, requests, codes, watermark_key)
    ...
    out = session.output_guard()   # one per choice

The request pipeline's adapters (the tenant's cached policies, the server secret, the 400 on a
block, the output stage on answers and streams) live in ``aigc.gateway.guarding``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from aigc.guard import checks, store
from aigc.guard.pii import Pseudonymizer
from aigc.guard.policy import Policy, Rule, rules_for
from aigc.guard.stream import OutputGuard
from aigc.guard.watermark import WatermarkProcessor
from aigc.infra.db import Database
from aigc.models.protocols import TextRequest


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


def _inputs(requests: list[TextRequest]) -> list[str]:
    """The texts the input rules read, each once: the messages every choice shares (chat), or
    every distinct prompt (completions: a list of prompts is one request per prompt and
    choice), so one pseudonymizer numbers the values of all of them."""
    if requests[0].messages is not None:
        return _texts(requests[0])
    return list(dict.fromkeys(r.prompt or "" for r in requests))


def _with_texts(request: TextRequest, texts: list[str]) -> TextRequest:
    if request.messages is not None:
        # replace: a message keeps what the guard does not rewrite (its images)
        messages = [replace(m, content=t) for m, t in zip(request.messages, texts, strict=True)]
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
    """Run the input rules once over the input (every choice shares its prompt) and rewrite
    the requests.

    Raises ``checks.Blocked`` when a block rule fires; decision codes are appended to ``codes``.
    With a policy's watermark enabled (and ``watermark_key`` given), each request gets the
    green-list logits processor (models without logits ignore it).
    """
    rules = rules_for(policies, "input", model, key_id)
    texts = _inputs(requests)
    result = checks.check_input(rules, texts)
    codes.extend(result.codes)
    if result.texts != texts:
        if requests[0].messages is not None:
            requests = [_with_texts(r, result.texts) for r in requests]
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
