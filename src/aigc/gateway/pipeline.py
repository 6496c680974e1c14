"""The journey of one generation request, in one place.

    authenticate (route dependency)
      → prepare: validate (tools, response_format too) → resolve the model → take the images
                 (chat) → guard the input (tool results too) → ground (knowledge bases) → count
                 the final prompt → admit (limits, quota) → a place in the model's queue
      → generate (model backend; stop/max_tokens applied here; guard on the output, tool-call
                  arguments included)
      → settle limits → response (JSON or SSE) + usage; the middleware writes audit and metrics.

``/v1/responses`` runs this same journey: ``gateway/responding.py`` translates it onto a chat
request, calls ``prepare``, then ``complete`` or its own event stream over the same pieces.

``prepare`` runs its stages in that order and each returns what the next one takes, so what
the limiter reserves is exactly the prompt that will be sent (grounding included). Each stage
is a plain function so tests can call it without HTTP. The tenant travels on every
``TextRequest`` (the batching engine takes turns by it).
"""

from __future__ import annotations

import bisect
import codecs
import itertools
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from aigc.access import Principal
from aigc.errors import APIError, InvalidRequest, ModelNotFound, refused_value
from aigc.gateway import grounding, guarding, token_prompts, tooling, vision
from aigc.gateway.context import RequestRecord
from aigc.gateway.limits import TEXT_ADVICE, LimitSpec, Reservation
from aigc.gateway.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    SamplingFields,
    check_input_size,
    refuse_undecodable,
    refuse_unsupported,
)
from aigc.gateway.services import Services
from aigc.guard import structured
from aigc.guard.gate import GuardSession
from aigc.guard.structured import Constraint, parse_constraint
from aigc.infra import metrics, untrusted
from aigc.knowledge.citing import MarkerMode, SourceUse, marker_mode, response_fields
from aigc.knowledge.ingest import embedder_for
from aigc.models import resources
from aigc.models.base import INLINE_MAX_CHARS, TextModelBase
from aigc.models.prompt_tokens import count_prompt_tokens
from aigc.models.protocols import (
    AsyncTextModel,
    ChatMessage,
    ReasoningDelta,
    TextModel,
    TextRequest,
    ToolCall,
    ToolCallDelta,
)
from aigc.models.stopping import BoundedText


@dataclass(frozen=True)
class Checked:
    """A request body that passed validation, as the model will receive it."""

    requests: list[TextRequest]  # one per prompt and choice (prompt 0's n choices first)
    max_tokens: int
    input_chars: int  # characters of the messages/prompts: decides inline vs worker thread
    kb_ids: list[str] | None  # knowledge bases to ground on
    images: list[vision.ImagePart] = field(default_factory=list)  # image parts, not yet loaded
    legacy_functions: bool = False  # asked with `functions`: answers speak `function_call`
    limit_param: str | None = None  # the field that set max_tokens (None: the default, fitted)
    constraint: Constraint | None = None  # response_format & co., checked: a grammar later
    prompt_ids: list[list[int]] | None = None  # completions' prompts as token ids, unread yet

    @property
    def asked_max_tokens(self) -> bool:
        return self.limit_param is not None

    @property
    def small(self) -> bool:
        return self.input_chars <= INLINE_MAX_CHARS


@dataclass(frozen=True)
class Prepared:
    """A validated, grounded, admitted request, ready to generate."""

    model_name: str
    model: TextModel
    requests: list[TextRequest]
    prompt_tokens: int
    reservation: Reservation | None
    sources: SourceUse | None = None  # set when knowledge bases were used: decides citations
    guard: GuardSession | None = None  # placeholders to restore, output rules
    slot: resources.Slot | None = None  # a place in the model's queue, released by settle
    input_chars: int = 0  # characters of the messages/prompts: decides inline vs worker thread
    legacy_functions: bool = False  # asked with `functions`: answers speak `function_call`


@dataclass(frozen=True)
class Counted:
    """A request through every stage that shapes its prompt, counted; nothing admitted yet."""

    checked: Checked
    model: TextModel  # as resolved (the queue is its); ``grounded.model`` generates
    grounded: grounding.Grounded
    guard: GuardSession
    each: list[int]  # each prompt's tokens

    @property
    def tokens(self) -> int:
        return sum(self.each)


async def count_prompt(
    services: Services, principal: Principal, record: RequestRecord, body: SamplingFields
) -> Counted:
    """The stages of ``prepare`` that decide the prompt: validate, resolve, images, guard,
    ground, count. ``/v1/responses/input_tokens`` stops here, so its count is the usage a
    generation would bill for the same body."""
    record.model = body.model
    checked = validate(services, principal, body)  # 400
    record.tools = tooling.audit_codes(
        checked.requests[0].tools, checked.requests[0].messages or []
    )
    model = await resolve(services, principal, body)  # 404, 403, 503; 400 undecodable fields
    checked = read_token_prompts(body.model, model, checked)  # 400: no tokenizer, a bad id
    checked = await take_images(services, body.model, model, checked, record)  # 400
    requests, session, constraint = await guard_input(
        services, principal, body, model, checked, record.guard
    )
    mode = marker_mode(constraint.kind if constraint is not None else None)
    grounded = await ground(
        services, principal, body.model, model, requests, checked, record.guard, mode
    )
    # One request per prompt and choice, prompt by prompt: every n-th is a different prompt.
    prompts = grounded.requests[:: body.n]
    if checked.prompt_ids is not None:  # usage counts the ids given, as vLLM does
        each = [len(ids) for ids in checked.prompt_ids]
    else:
        each = await count_each(grounded.model, prompts, checked.small)
    return Counted(checked, model, grounded, session, each)


async def prepare(
    services: Services, principal: Principal, record: RequestRecord, body: SamplingFields
) -> Prepared:
    """Everything that can refuse a request, in order; each stage takes the last one's result."""
    counted = await count_prompt(services, principal, record, body)
    checked, grounded = counted.checked, counted.grounded
    prompt_tokens = counted.tokens
    requests = fit_context(
        grounded.model, grounded.requests, counted.each, checked.asked_max_tokens
    )
    answers = sum(r.max_tokens or 0 for r in requests)  # n for each prompt
    reservation = await admit(services, principal, prompt_tokens + answers)  # 429
    try:
        slot = await queue_slot(services, principal, body.model, counted.model)  # 503: queue full
    except BaseException:
        # Refused (or the caller left while queued): nothing was generated, so nothing is
        # charged. Was: the reservation stayed, and each 503 cost the key's tokens per minute
        # and the tenant's daily budget the whole prompt + max_tokens.
        if reservation is not None:
            await services.limiter.settle(reservation, 0)
        raise
    # Charged from here on. A request refused before this point used no tokens, and its audit
    # record says so: the usage report and the daily budget (seeded from the audit after a
    # restart) count what was generated, not what was asked for.
    record.prompt_tokens = prompt_tokens
    return Prepared(
        body.model,
        grounded.model,
        requests,
        prompt_tokens,
        reservation,
        grounded.sources,
        counted.guard,
        slot,
        checked.input_chars,
        checked.legacy_functions,
    )


# --- the stages of prepare ------------------------------------------------------------------


def validate(services: Services, principal: Principal, body: SamplingFields) -> Checked:
    """Input caps, fields we cannot honour, the output constraint (response_format & co.: a
    bad JSON schema is a 400 here, before any model is loaded), the knowledge-base list: one
    request per prompt and choice."""
    settings = services.settings
    input_chars = check_input_size(
        body, settings.max_input_chars, settings.max_messages, settings.max_prompts
    )
    images = vision.image_parts(body, settings.max_images)
    max_tokens = body.output_limit or settings.default_max_tokens
    requests = to_text_requests(body, max_tokens, principal.tenant_id)
    legacy = isinstance(body, ChatCompletionRequest) and tooling.is_legacy(body)
    constraint = parse_constraint(body.model_dump(exclude_unset=True))
    kbs = grounding.requested_kbs(body)
    asked = body.output_limit_param if body.output_limit is not None else None
    ids = token_prompts.token_lists(body.prompt) if isinstance(body, CompletionRequest) else None
    return Checked(requests, max_tokens, input_chars, kbs, images, legacy, asked, constraint, ids)


def read_token_prompts(name: str, model: TextModel, checked: Checked) -> Checked:
    """Completions' prompts given as token ids, decoded with ``model``'s tokenizer (400 naming
    ``prompt`` for a model without one, or an id outside its vocabulary); text unchanged."""
    if checked.prompt_ids is None:
        return checked
    hf = token_prompts.model_tokenizer(model, name, "prompt")
    texts = token_prompts.decode_all(checked.prompt_ids, len(hf), hf.decode, "prompt")
    per_prompt = len(checked.requests) // len(texts)  # n choices of each prompt
    requests = [replace(r, prompt=texts[i // per_prompt]) for i, r in enumerate(checked.requests)]
    return replace(checked, requests=requests)


async def resolve(services: Services, principal: Principal, body: SamplingFields) -> TextModel:
    """The caller's model (own first, then shared), allowed, ready, a text model able to
    decode the body (tools and earlier tool calls included)."""
    try:
        model = await services.model(principal, body.model)
    except ModelNotFound:
        # /v1/models lists the embedding model: "does not exist" sent its users looking for a
        # typo. It is a model of another route, as an image model is.
        if body.model != embedder_for(services.settings).model_id:
            raise
        raise refused_value(
            "model_makes_embeddings",
            "The model '{model}' makes embeddings and does not write text; use it on "
            "/v1/embeddings",
            param="model",
            code="unsupported_model",
            model=str(untrusted.field(body.model)),
        ) from None
    if not isinstance(model, TextModelBase):  # an image model (gan-, vae-, clip-...)
        raise refused_value(
            "model_writes_no_text",
            "The model '{model}' does not write text; use it on its own routes "
            "(/v1/images/..., /api/images/...)",
            param="model",
            code="unsupported_model",
            model=str(untrusted.field(body.model)),
        )
    refuse_undecodable(body, model.decoding_fields)
    if isinstance(body, ChatCompletionRequest):
        tooling.refuse_tool_history(body, model)
    return model


async def take_images(
    services: Services, name: str, model: TextModel, checked: Checked, record: RequestRecord
) -> Checked:
    """Images in chat: a 400 for a model that does not read them (before anything is
    fetched); else each image decoded or fetched and checked in a worker thread, then given to
    its message. The audit records how many, never their bytes."""
    chat = checked.requests[0].messages is not None
    vision.refuse_unreadable(model, name, checked.images, chat)
    if not checked.images:
        return checked
    images = await run_in_threadpool(vision.load_images, checked.images, services.settings)
    record.images = len(images)
    return replace(checked, requests=vision.attach(checked.requests, checked.images, images))


async def guard_input(
    services: Services,
    principal: Principal,
    body: SamplingFields,
    model: TextModel,
    checked: Checked,
    codes: list[str],
) -> tuple[list[TextRequest], GuardSession, Constraint | None]:
    """Policy, PII, injection and watermark on the input (a block rule answers 400), then the
    body's output constraint (``validate`` read it) as a grammar while decoding, returned too:
    it also decides where a grounded answer's [n] markers may stand."""
    requests, session = await guarding.guard_request(
        services, principal, body.model, checked.requests, codes, in_thread=not checked.small
    )
    constraint = checked.constraint
    return guarding.constrain(constraint, model, requests), session, constraint


async def ground(
    services: Services,
    principal: Principal,
    name: str,
    model: TextModel,
    requests: list[TextRequest],
    checked: Checked,
    codes: list[str],
    mode: MarkerMode = "text",
) -> grounding.Grounded:
    """Knowledge retrieval (a worker thread: it reads the database and the index): sources into
    the prompt within the model's context, citations out (``mode``: where the answer's [n]
    markers may stand). No knowledge bases: unchanged."""
    if checked.kb_ids is None:
        return grounding.Grounded(requests, model, None)
    return await run_in_threadpool(
        grounding.ground,
        services.db,
        services.settings,
        principal,
        name,
        model,
        requests,
        checked.kb_ids,
        codes,
        mode,
        checked.limit_param if held_to_window(model) else None,
    )


async def count(
    model: TextModel, requests: TextRequest | Sequence[TextRequest], small: bool = True
) -> int:
    """The final prompts' tokens (what usage reports and the limiter reserves): one request,
    or one per prompt of a completions list, summed as OpenAI bills them."""
    prompts = [requests] if isinstance(requests, TextRequest) else list(requests)
    return sum(await count_each(model, prompts, small))


async def count_each(
    model: TextModel, prompts: Sequence[TextRequest], small: bool = True
) -> list[int]:
    """Each prompt's tokens (``count`` sums them): each must fit the model's context. A model
    served elsewhere counts them all in one round trip."""
    if isinstance(model, TextModelBase) and model.counts_elsewhere:
        return await model.acount_prompts(prompts)

    def each() -> list[int]:
        return [count_prompt_tokens(model, r) for r in prompts]

    return each() if small else await run_in_threadpool(each)


def fit_context(
    model: TextModel, requests: list[TextRequest], prompt_tokens: list[int], asked: bool
) -> list[TextRequest]:
    """Each prompt and its answer within the model's context, or a 400 as OpenAI answers it
    (``context_length_exceeded``): a model would otherwise read only the prompt's end, losing
    the system prompt and the tools while usage bills them. ``asked``: the caller set
    max_tokens, which must fit too; the default is cut to the room the prompt leaves. A
    model with no fixed window (n-gram, template, RNN), one that slides through it (a GPT
    trained here on 128 tokens) or an estimated count (an upstream, which judges its own
    window) is not held to it."""
    window = model.context_length
    if window is None or not held_to_window(model):
        return requests
    per_prompt = len(requests) // len(prompt_tokens)  # n choices of each prompt
    fitted = []
    for i, request in enumerate(requests):
        prompt = prompt_tokens[i // per_prompt]
        answer = request.max_tokens or 1
        if prompt + (answer if asked else 1) > window:
            raise context_exceeded(window, prompt, answer if asked else None, request)
        if not asked and prompt + answer > window:
            request = replace(request, max_tokens=window - prompt)
        fitted.append(request)
    return fitted


def held_to_window(model: TextModel) -> bool:
    """Whether ``fit_context`` holds the model's prompts and answers to its context window."""
    return isinstance(model, TextModelBase) and model.held_to_window


def context_exceeded(
    window: int, prompt: int, answer: int | None, request: TextRequest
) -> InvalidRequest:
    """OpenAI's words for a prompt (and an asked answer) beyond the model's context."""
    chat = request.messages is not None
    what, param = ("messages", "messages") if chat else ("prompt", "prompt")
    if answer is None:
        used = f"your {what} resulted in {prompt} tokens"
        fix = f"Please reduce the length of the {what}."
    else:
        used = (
            f"you requested {prompt + answer} tokens ({prompt} in the {what}, {answer} in "
            "the completion)"
        )
        fix = f"Please reduce the length of the {what} or completion."
    return InvalidRequest(
        f"This model's maximum context length is {window} tokens. However, {used}. {fix}",
        param=param,
        code="context_length_exceeded",
    )


async def admit(
    services: Services, principal: Principal, tokens: int, advice: str = TEXT_ADVICE
) -> Reservation | None:
    """Reserve ``tokens`` against the key's RPM and TPM and the tenant's daily budget (429;
    ``advice`` says how a request over the whole TPM limit can need fewer)."""
    if not principal.limited:
        return None
    spec = LimitSpec(principal.rpm_limit, principal.tpm_limit, principal.daily_token_budget)
    assert principal.key_id is not None
    return await services.limiter.admit(principal.key_id, principal.tenant_id, spec, tokens, advice)


@asynccontextmanager
async def charged(
    services: Services, principal: Principal, tokens: int, advice: str = TEXT_ADVICE
) -> AsyncIterator[dict[str, str]]:
    """Work whose tokens are known before it runs (embeddings, moderation, a count): admitted
    against the key's limits first (429 before any work), settled when it ends, however it
    ends; yields the key's rate-limit headers for the answer (none for an unlimited key)."""
    reservation = await admit(services, principal, tokens, advice)
    try:
        yield reservation.headers if reservation is not None else {}
    finally:
        if reservation is not None:
            await services.limiter.settle(reservation, tokens)


async def queue_slot(
    services: Services, principal: Principal, name: str, model: TextModel
) -> resources.Slot | None:
    """A place in the model's bounded queue (503 + Retry-After when it is full)."""
    cached = services.models.get((principal.tenant_id, name))
    return await resources.admit_to_model(model, cached)


# --- helpers of the stages -----------------------------------------------------------------


def to_text_requests(body: SamplingFields, max_tokens: int, tenant: str = "") -> list[TextRequest]:
    """One TextRequest per choice (``n``); choice i gets seed+i so choices differ but repeat.

    A completions list of prompts answers each prompt as OpenAI does: ``n`` requests per prompt,
    prompt 0's first (choice index = prompt * n + i). Choice i of every prompt gets seed+i, so a
    prompt's answer does not depend on its place in the list.
    ``tenant`` travels with each request to the model: the batching engine takes turns by it."""
    refuse_unsupported(body)
    inputs: list[tuple[list[ChatMessage] | None, str | None]]
    tools = None
    if isinstance(body, ChatCompletionRequest):
        inputs = [(tooling.chat_messages(body), None)]
        tools = tooling.tool_set(body)
    else:
        assert isinstance(body, CompletionRequest)
        ids = token_prompts.token_lists(body.prompt)
        if ids is not None:  # the model's tokenizer decodes them (read_token_prompts)
            prompts: list[str] = [""] * len(ids)
        else:
            prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt  # type: ignore[assignment]
        inputs = [(None, prompt) for prompt in prompts or [""]]
    decoding = decoding_options(body)
    return [
        TextRequest(
            messages=messages,
            prompt=prompt,
            max_tokens=max_tokens,
            temperature=body.temperature,
            top_p=body.top_p,
            seed=None if body.seed is None else body.seed + i,
            stop=body.stop_list,
            tenant=tenant,
            tools=tools,
            **decoding,
        )
        for messages, prompt in inputs
        for i in range(body.n)
    ]


def decoding_options(body: SamplingFields) -> dict[str, Any]:
    """The neural decoding fields of a body, as TextRequest takes them (vLLM-style extras)."""
    num_beams = body.num_beams
    if body.use_beam_search and num_beams == 1:
        num_beams = 4
    reasoning: dict[str, Any] = {}
    if isinstance(body, ChatCompletionRequest):
        logprobs, top_logprobs = bool(body.logprobs), body.top_logprobs or 0
        reasoning = {"reasoning_effort": body.reasoning_effort, "verbosity": body.verbosity}
    else:
        assert isinstance(body, CompletionRequest)
        logprobs, top_logprobs = body.logprobs is not None, body.logprobs or 0
    return {
        "top_k": max(0, body.top_k),
        "min_p": body.min_p,
        "presence_penalty": body.presence_penalty,
        "frequency_penalty": body.frequency_penalty,
        "repetition_penalty": body.repetition_penalty,
        "no_repeat_ngram_size": body.no_repeat_ngram_size,
        "num_beams": num_beams,
        "length_penalty": body.length_penalty,
        "early_stopping": body.early_stopping,
        "min_tokens": body.min_tokens,
        "logprobs": logprobs,
        "top_logprobs": top_logprobs,
        **reasoning,
    }


class TokenLog:
    """The tokens (with logprobs) that a model's pieces carry, collected as they pass, with
    where each begins in the choice's text (in characters, read from the tokens' bytes)."""

    def __init__(self, pieces: Iterator[str]) -> None:
        self._pieces = pieces
        self._entries: list[dict[str, Any]] = []
        self._starts: list[int] = []
        self._end = 0  # characters the collected tokens make
        self._sent = 0  # characters of the text released by ``take_for``
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def __iter__(self) -> Iterator[str]:
        for piece in self._pieces:
            for entry in getattr(piece, "tokens", ()):
                self._entries.append(entry)
                self._starts.append(self._end)
                self._end += _token_chars(self._decoder, entry)
            yield piece

    def take(self) -> list[dict[str, Any]]:
        entries, self._entries, self._starts = self._entries, [], []
        return entries

    def take_for(self, text: str) -> list[dict[str, Any]]:
        """The tokens that begin within ``text``, the next piece of the answer released (a
        stream's delta). A delta need not end where a token does: the text after it may be
        held back (a stop sequence's beginning) and then cut, and the tokens read meanwhile
        must not ride along with the delta before."""
        self._sent += len(text)
        kept = bisect.bisect_left(self._starts, self._sent)
        entries, self._entries = self._entries[:kept], self._entries[kept:]
        self._starts = self._starts[kept:]
        return entries


def generate_choice(model: TextModel, request: TextRequest) -> BoundedText:
    return generate_logged(model, request)[0]


def generate_logged(
    model: TextModel, request: TextRequest, on_loop: bool = False
) -> tuple[BoundedText, TokenLog | None]:
    """The bounded text of one choice and, when logprobs were asked for, its token log.

    ``on_loop``: the caller reads on the event loop, so a model that streams asynchronously
    (the batching engine) is read that way, without a worker-thread hop per piece.
    """
    assert request.max_tokens is not None
    if on_loop and isinstance(model, AsyncTextModel) and not request.logprobs:
        return BoundedText(
            model.agenerate(request),
            stop=request.stop,
            max_tokens=request.max_tokens,
            count_tokens=model.count_tokens,
        ), None
    pieces = model.generate(request)
    log = TokenLog(pieces) if request.logprobs else None
    bounded = BoundedText(
        log if log is not None else pieces,
        stop=request.stop,
        max_tokens=request.max_tokens,
        count_tokens=model.count_tokens,
    )
    return bounded, log


def logprobs_view(entries: list[dict[str, Any]] | None, chat: bool, text: str | None = None) -> Any:
    """OpenAI's logprobs shapes: chat ``{"content": [...]}``, completions parallel lists.

    With ``text``, tokens past its end (held back and then cut by a stop sequence or the
    length limit) are left out. Characters are counted from the tokens' bytes: a character
    may span several tokens, each shown as part of it (``bytes:\\xNN``), not as one each.
    """
    if entries is None:
        return None
    if text is None and chat:
        return {"content": entries, "refusal": None}
    # Where each token's text begins (the tokens' bytes decoded once, in order).
    starts = list(itertools.accumulate(_chars_of(entries), initial=0))[:-1]
    if text is not None:  # the tokens that begin within the text
        kept = bisect.bisect_left(starts, len(text))
        entries, starts = entries[:kept], starts[:kept]
    if chat:
        return {"content": entries, "refusal": None}
    return {
        "tokens": [e["token"] for e in entries],
        "token_logprobs": [e["logprob"] for e in entries],
        "top_logprobs": [{t["token"]: t["logprob"] for t in e["top_logprobs"]} for e in entries],
        "text_offset": starts,
    }


def _chars_of(entries: list[dict[str, Any]]) -> Iterator[int]:
    """How many characters each token completes, read from the tokens' bytes in order (a
    token holding part of a character completes none; the one that ends it, one)."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    for entry in entries:
        yield _token_chars(decoder, entry)


def _token_chars(decoder: codecs.IncrementalDecoder, entry: dict[str, Any]) -> int:
    """The characters one token completes, its bytes fed to ``decoder`` (the text's so far)."""
    data = entry.get("bytes")
    return len(decoder.decode(bytes(data) if data is not None else entry["token"].encode()))


def runs_inline(model: TextModel, input_chars: int = 0) -> bool:
    """Models whose generation is microseconds of pure CPU run on the event loop: a thread hop
    would cost more than the work. Not on a long input (over ``INLINE_MAX_CHARS``, shared with
    the Ray replicas): their work grows with it, and a large request must never delay others."""
    return model.runs_inline and input_chars <= INLINE_MAX_CHARS


async def _deltas(bounded: BoundedText, inline: bool) -> AsyncIterator[str]:
    if bounded.is_async:
        async for delta in bounded:
            yield delta
    elif inline:
        for delta in bounded:
            yield delta
    else:
        async for delta in iterate_in_threadpool(iter(bounded)):
            yield delta


class StreamedChoice:
    """One choice as it streams, for chat's SSE and the Responses events alike: the model's
    pieces (text and ``ToolCallDelta``) through the output guard, read on the event loop or
    in a worker thread as the model needs; ``bounded.tokens`` is what it spent so far."""

    def __init__(self, prepared: Prepared, request: TextRequest, record: RequestRecord) -> None:
        self.bounded, self.log = generate_logged(prepared.model, request, on_loop=True)
        self.check = guarding.StreamCheck(prepared.guard, record.guard)
        inline = runs_inline(prepared.model, prepared.input_chars)
        self.pieces = self.check.wrap(_deltas(self.bounded, inline))
        if prepared.sources is not None:  # grounded: [n] markers renumbered as cited
            self.pieces = prepared.sources.rewrite_stream(self.pieces)
        self._record = record
        self._processors = request.logits_processors

    def unfinished(self) -> APIError | None:
        """Once the pieces are read: the error when the choice's grammar dead-ended, so its
        text, sent so far, is not in the format asked for (``structured.unfinished``)."""
        return structured.unfinished(self._processors, self.bounded.tokens)

    def finish(self) -> tuple[str, list[ToolCall]]:
        """Once the pieces are read: the finish reason (``content_filter`` when the guard
        blocked) and the calls the choice made, their names and counts audited."""
        made = self.check.calls.result()
        self._record.tools.extend(tooling.called_codes(made))
        return self.check.finish_reason(self.bounded.finish_reason), made


T = TypeVar("T")
_NOTHING: Any = object()  # what ``primed`` reads from an empty stream


def error_event(error: APIError) -> bytes:
    """A failure after the stream began, as its last event: OpenAI's envelope (the SDK raises
    it) and, beside it, the kind and values a header would have carried (x-error-details is
    sent before the stream, so too early), so a client says it in its reader's language."""
    payload: dict[str, Any] = error.body()
    if error.details:
        payload["error_details"] = error.details
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"


def refuses_on_submit(model: TextModel) -> bool:
    return isinstance(model, TextModelBase) and model.refuses_on_submit


async def primed(items: AsyncIterator[T]) -> AsyncIterator[T]:
    """``items`` with the first one already read (its errors raised now, before the
    response's status is sent); closing the result closes ``items``."""
    first = await anext(items, _NOTHING)

    async def chained() -> AsyncIterator[T]:
        try:
            if first is not _NOTHING:
                yield first
                async for item in items:
                    yield item
        finally:
            close = getattr(items, "aclose", None)
            if close is not None:
                await close()

    return chained()


async def opened(events: AsyncIterator[bytes], model: TextModel) -> AsyncIterator[bytes]:
    """A stream whose first event is read before the response starts when the model refuses
    only on submission (``refuses_on_submit``): its 503 is then an HTTP status."""
    return await primed(events) if refuses_on_submit(model) else events


async def settle(services: Services, prepared: Prepared, record: RequestRecord, used: int) -> None:
    if prepared.slot is not None:
        prepared.slot.release()
    record.completion_tokens = used
    metrics.TOKENS.labels("prompt").inc(prepared.prompt_tokens)
    metrics.TOKENS.labels("completion").inc(used)
    if prepared.reservation is not None:
        await services.limiter.settle(prepared.reservation, prepared.prompt_tokens + used)


# --- responses -----------------------------------------------------------------------------


def guard_field(codes: list[str]) -> dict[str, Any]:
    """``{"guard": [codes]}`` when the guard acted (content-free decision codes, as audited), so
    a client can show what was redacted, flagged or blocked; the watermark is not announced."""
    shown = [c for c in codes if c != "output:watermark"]
    return {"guard": shown} if shown else {}


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def complete(
    services: Services, prepared: Prepared, record: RequestRecord, chat: bool
) -> dict[str, Any]:
    """Non-streaming: generate every choice, then answer with one JSON body."""
    legacy = prepared.legacy_functions

    def run() -> list[tuple[str, str, int, Any, list[ToolCall], str]]:
        out = []
        for request in prepared.requests:
            bounded, log = generate_logged(prepared.model, request)
            texts, thoughts, assembler = [], [], tooling.CallAssembler()
            for piece in bounded:
                if isinstance(piece, ToolCallDelta):
                    assembler.add(piece)
                elif isinstance(piece, ReasoningDelta):
                    thoughts.append(piece.reasoning)
                else:
                    texts.append(piece)
            text, calls = "".join(texts), assembler.result()
            failed = structured.unfinished(request.logits_processors, bounded.tokens)
            if failed is not None:  # the grammar dead-ended: the text is not in the format
                raise failed
            logprobs = logprobs_view(log.take() if log else None, chat, text)
            finish = bounded.finish_reason
            raw = text
            text, finish = guarding.guard_text(
                prepared.guard, text, finish, record.guard, label=bool(text) or not calls
            )
            calls, finish = guarding.guard_calls(prepared.guard, calls, finish, record.guard)
            thought, blocked = guarding.guard_reasoning(
                prepared.guard, "".join(thoughts), record.guard
            )
            if blocked:
                text, calls, finish = "", [], "content_filter"
            if prepared.sources is not None:  # grounded: [n] markers renumbered as cited
                text = prepared.sources.rewrite(text)
            if text != raw:  # the guard or the renumbering rewrote it: the tokens would not
                logprobs = None  # spell the text (a grounded stream never has them: see stream)
            if prepared.guard is not None and prepared.guard.output_rules:
                logprobs = None  # the rules judge the text, never the alternatives (as stream)
            record.tools.extend(tooling.called_codes(calls))
            finish = tooling.finish_reason(finish, bool(calls), legacy)
            out.append((text, finish, bounded.tokens, logprobs, calls, thought))
        return out

    try:
        inline = runs_inline(prepared.model, prepared.input_chars)
        results = run() if inline else await run_in_threadpool(run)
    except BaseException:
        await settle(services, prepared, record, 0)
        raise
    used = sum(result[2] for result in results)
    await settle(services, prepared, record, used)
    created = int(time.time())
    if chat:
        return {
            "id": f"chatcmpl-{secrets.token_hex(12)}",
            "object": "chat.completion",
            "created": created,
            "model": prepared.model_name,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": i,
                    "message": tooling.message(text, calls, legacy)
                    | ({"reasoning_content": thought} if thought else {}),
                    "logprobs": logprobs,
                    "finish_reason": finish,
                }
                for i, (text, finish, _, logprobs, calls, thought) in enumerate(results)
            ],
            "usage": _usage(prepared.prompt_tokens, used),
            **response_fields(prepared.sources),
            **guard_field(record.guard),
        }
    return {
        "id": f"cmpl-{secrets.token_hex(12)}",
        "object": "text_completion",
        "created": created,
        "model": prepared.model_name,
        "system_fingerprint": None,
        "choices": [
            {"index": i, "text": text, "logprobs": logprobs, "finish_reason": finish}
            for i, (text, finish, _, logprobs, _, _) in enumerate(results)
        ],
        "usage": _usage(prepared.prompt_tokens, used),
        **guard_field(record.guard),
    }


async def stream(
    services: Services,
    prepared: Prepared,
    record: RequestRecord,
    chat: bool,
    include_usage: bool,
) -> AsyncIterator[bytes]:
    """Server-sent events exactly as the OpenAI SDK expects, ending with ``data: [DONE]``.

    If the client goes away the generator is closed: generation stops and the tokens produced
    so far are settled.
    """
    base: dict[str, Any]
    if chat:
        base = {"id": f"chatcmpl-{secrets.token_hex(12)}", "object": "chat.completion.chunk"}
    else:
        base = {"id": f"cmpl-{secrets.token_hex(12)}", "object": "text_completion"}
    base |= {"created": int(time.time()), "model": prepared.model_name, "system_fingerprint": None}
    usage_field = {"usage": None} if include_usage else {}

    def event(choice: dict[str, Any], **extra: Any) -> bytes:
        payload = base | {"choices": [choice]} | usage_field | extra
        return b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"

    def chat_choice(
        i: int, delta: dict[str, Any], finish: str | None, logprobs: Any = None
    ) -> dict[str, Any]:
        return {"index": i, "delta": delta, "logprobs": logprobs, "finish_reason": finish}

    def text_choice(i: int, text: str, finish: str | None, logprobs: Any = None) -> dict[str, Any]:
        return {"index": i, "text": text, "logprobs": logprobs, "finish_reason": finish}

    used = 0
    metrics.ACTIVE_STREAMS.inc()
    try:
        for i, request in enumerate(prepared.requests):
            choice = StreamedChoice(prepared, request, record)  # output rules, restore
            if i == 0 and refuses_on_submit(prepared.model):
                choice.pieces = await primed(choice.pieces)  # a refusal raises here: a 503
            if chat:
                yield event(chat_choice(i, {"role": "assistant", "content": ""}, None))
            log = choice.log
            if prepared.guard is not None and prepared.guard.output_rules:
                log = None  # output rules may rewrite text: its tokens are not sent alongside
            if prepared.sources is not None:
                log = None  # so may the renumbering of [n] markers
            try:
                async for delta in choice.pieces:
                    if isinstance(delta, ToolCallDelta):  # OpenAI's delta.tool_calls
                        shaped = tooling.delta(delta, prepared.legacy_functions)
                        if shaped is not None:
                            yield event(chat_choice(i, shaped, None))
                        continue
                    if isinstance(delta, ReasoningDelta):  # vLLM's delta.reasoning_content
                        if chat and delta.reasoning:
                            yield event(
                                chat_choice(i, {"reasoning_content": delta.reasoning}, None)
                            )
                        continue
                    logprobs = logprobs_view(log.take_for(delta) if log else None, chat)
                    yield event(
                        chat_choice(i, {"content": delta}, None, logprobs)
                        if chat
                        else text_choice(i, delta, None, logprobs)
                    )
            except APIError as exc:
                # The model failed after the response began (an upstream, a Ray replica that
                # died): the status is sent, so the error is the stream's last event, in
                # OpenAI's envelope (the SDK raises it); its code says whether to retry.
                yield error_event(exc)
                return
            finally:
                used += choice.bounded.tokens
            failed = choice.unfinished()
            if failed is not None:  # as a model's failure mid-stream: the last event
                yield error_event(failed)
                return
            finish, made = choice.finish()
            finish = tooling.finish_reason(finish, bool(made), prepared.legacy_functions)
            final = chat_choice(i, {}, finish) if chat else text_choice(i, "", finish)
            yield event(final, **guard_field(record.guard))  # the guard's decisions so far
        if include_usage:
            payload = base | {"choices": [], "usage": _usage(prepared.prompt_tokens, used)}
            yield b"data: " + json.dumps(payload).encode() + b"\n\n"
        if prepared.sources is not None:  # grounded: one last chunk names the sources used
            payload = base | {"choices": [], **response_fields(prepared.sources)}
            yield b"data: " + json.dumps(payload, ensure_ascii=False).encode() + b"\n\n"
        yield b"data: [DONE]\n\n"
    finally:
        metrics.ACTIVE_STREAMS.dec()
        await settle(services, prepared, record, used)
