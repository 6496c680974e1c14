"""The grounding stage of the request pipeline: knowledge bases searched, sources into the
prompt within the model's real context, citations out.

It runs before admission, so the limiter reserves the grounded prompt that will really be sent.
The plain parts (budget, fit, prompt, citations) are in ``aigc.knowledge.grounding``; this
module adds the caller (access to the knowledge bases), the database, the guard's retrieval
rules and the request's 400s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from aigc.access import Principal
from aigc.config import Settings
from aigc.errors import InvalidRequest, refused_value
from aigc.gateway.schemas import ChatCompletionRequest, SamplingFields
from aigc.guard.gate import check_chunks
from aigc.infra.db import Database
from aigc.knowledge import grounding
from aigc.knowledge.citing import MarkerMode, SourceUse
from aigc.knowledge.relevance import TermWeights
from aigc.knowledge.retrieve import Hit, search, term_weights
from aigc.models.base import TextModelBase
from aigc.models.protocols import TextModel, TextRequest


@dataclass(frozen=True)
class Grounded:
    """What grounding hands on: the requests to send, the model to ask (a stand-in when
    nothing relevant was found) and the sources given to it, whose use decides the citations
    once the answer is written (None: the request named no knowledge base).
    """

    requests: list[TextRequest]
    model: TextModel
    sources: SourceUse | None


def requested_kbs(body: SamplingFields) -> list[str] | None:
    """The ``knowledge_bases`` extra field of a request body, validated; None when absent."""
    value = (body.model_extra or {}).get(grounding.FIELD)
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v for v in value)
        or len(value) > 20
    ):
        raise refused_value(
            "knowledge_bases_list",
            "knowledge_bases must be a list of 1 to {max_length} knowledge base ids",
            param=grounding.FIELD,
            max_length=20,
        )
    if not isinstance(body, ChatCompletionRequest):
        raise refused_value(
            "knowledge_bases_chat_only",
            "knowledge_bases works with chat completions and responses only",
            param=grounding.FIELD,
            code="unsupported_parameter",
        )
    return value


def retrieve_for_prompt(
    session: Session,
    settings: Settings,
    principal: Principal,
    kb_ids: list[str],
    question: str,
    budget_tokens: int,
    count_tokens: Callable[[str], int],
    top_k: int = grounding.MAX_SOURCES,
    count_texts: Callable[[list[str]], list[int]] | None = None,
) -> list[Hit]:
    """The relevant chunks for ``question`` that the caller may read and that fit
    ``budget_tokens``, best first."""
    hits, _ = _retrieve(
        session,
        settings,
        principal,
        kb_ids,
        question,
        budget_tokens,
        count_tokens,
        top_k,
        count_texts,
    )
    return hits


def _retrieve(
    session: Session,
    settings: Settings,
    principal: Principal,
    kb_ids: list[str],
    question: str,
    budget_tokens: int,
    count_tokens: Callable[[str], int],
    top_k: int,
    count_texts: Callable[[list[str]], list[int]] | None,
) -> tuple[list[Hit], dict[str, TermWeights]]:
    """``retrieve_for_prompt``, with the term weights of the chosen hits' knowledge bases
    (read once: on the database path each is a query)."""
    hits = search(session, settings, principal, kb_ids, question, top_k=top_k)
    searched = sorted({h.kb_id for h in hits})
    weights = term_weights(settings, principal.tenant_id, searched, session=session)
    fitted = grounding.fit_sources(
        hits, question, budget_tokens, count_tokens, weights, count_texts=count_texts
    )
    used = {h.kb_id for h in fitted}
    return fitted, {kb: w for kb, w in weights.items() if kb in used}


def screened(
    db: Database, principal: Principal, model: str, hits: list[Hit], codes: list[str]
) -> list[Hit]:
    """The tenant's retrieval rules (guard: indirect injection, PII in documents) on each chunk
    before it reaches the prompt: a blocked chunk is left out (and so not cited), a redacted one
    goes in redacted. Decision codes are added to ``codes``."""
    if not hits:
        return hits
    verdicts = check_chunks(
        db, principal.tenant_id, model, principal.key_id, [h.text for h in hits]
    )
    kept = []
    for hit, verdict in zip(hits, verdicts, strict=True):
        codes.extend(verdict.codes)
        if not verdict.dropped:
            kept.append(replace(hit, text=verdict.text))
    return kept


def _fixed_tokens(model: TextModel, request: TextRequest, instructions: str) -> int:
    """Tokens of the grounded prompt without its sources: exact for a model held to its
    window that builds its prompt here (its chat template and the tools offered included:
    ``pipeline.fit_context`` refuses what does not fit), else an estimate from the texts (a
    model trained here slides through its window; an upstream judges its own)."""
    assert request.messages is not None
    if isinstance(model, TextModelBase) and model.held_to_window:
        bare = grounding.grounded_messages(request.messages, [], instructions)
        fed = model.count_prompt(replace(request, messages=bare))
        if fed is not None:
            return fed
    return grounding.fixed_tokens(request.messages, instructions, model.count_tokens)


def ground(
    db: Database,
    settings: Settings,
    principal: Principal,
    name: str,
    model: TextModel,
    requests: list[TextRequest],
    kb_ids: list[str] | None,
    codes: list[str],
    mode: MarkerMode = "text",
    limit_param: str | None = None,
) -> Grounded:
    """Retrieval and prompt assembly within ``model.context_length``, leaving the answer its
    room (blocking: run it in a worker thread). Without knowledge bases, nothing changes.
    ``mode``: where the answer's [n] markers may stand (``citing.marker_mode``).
    ``limit_param``: the field that set max_tokens when the caller did and the model's window
    must hold it; that answer keeps all its room."""
    if kb_ids is None:
        return Grounded(requests, model, None)
    messages = requests[0].messages
    assert messages is not None  # requested_kbs refused completions
    question = grounding.question_of(messages)
    if question is None:
        raise refused_value(
            "grounding_needs_question",
            "A grounded chat needs a user message to search for",
            param="messages",
        )
    context = model.context_length
    instructions = grounding.instructions_for(messages, context, model.count_tokens)
    fixed = _fixed_tokens(model, requests[0], instructions)
    if context is not None and fixed >= context:
        raise refused_value(
            "grounding_context_full",
            "The conversation and the grounding instructions take {tokens} tokens; the model "
            "'{model}' reads at most {context}",
            param="messages",
            code="context_length_exceeded",
            tokens=fixed,
            model=str(name),
            context=context,
        )
    answer = requests[0].max_tokens or 0
    budget = grounding.sources_budget(context, fixed, answer, limit_param is not None)
    if limit_param is not None and budget < grounding.MIN_CUT_TOKENS:
        raise InvalidRequest(
            f"{limit_param} {answer} leaves {budget} of the model's {context} tokens for "
            f"knowledge-base sources after the conversation's {fixed}; a grounded answer "
            f"needs at least {grounding.MIN_CUT_TOKENS}. Lower {limit_param}.",
            param=limit_param,
            code="context_length_exceeded",
        )
    with db.session() as session:
        # A model served elsewhere counts every candidate source in one round trip.
        many = None
        if isinstance(model, TextModelBase) and model.counts_elsewhere:
            many = model.count_texts
        hits, weights = _retrieve(
            session,
            settings,
            principal,
            kb_ids,
            question,
            budget,
            model.count_tokens,
            grounding.MAX_SOURCES,
            many,
        )
    hits = screened(db, principal, name, hits, codes)
    messages, hits = grounding.assemble(messages, hits, instructions, budget, model.count_tokens)
    grounded = [replace(r, messages=messages) for r in requests]
    if not hits:  # the model is not asked: it could only invent
        stand_in = grounding.NoRelevantDocument(model, question)
        return Grounded(grounded, stand_in, SourceUse([], question))
    # A model that cannot read sources still gets the grounded prompt (what the caller asked
    # for, and what was reserved), but its answer cites none of them.
    return Grounded(grounded, model, SourceUse(hits, question, model.reads_sources, weights, mode))
