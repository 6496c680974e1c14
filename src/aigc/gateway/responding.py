"""One ``/v1/responses`` request, bridged onto the chat pipeline (no second pipeline):

    refuse what we cannot honour → the earlier turns (``previous_response_id``, the caller's
    tenant only: 404) → translate to a chat request (``response_items``) → ``pipeline.prepare``
    (validate, resolve, guard, ground, count, admit, queue) → generate: ``pipeline.complete``
    or ``response_stream.stream`` → the response object → stored when ``store`` (the default).

Limits, guard, usage and audit are therefore exactly those of chat completions; upstreams that
only speak chat completions are reached as for any chat request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from aigc.access import Principal
from aigc.errors import InvalidRequest
from aigc.gateway import pipeline, response_store
from aigc.gateway.context import RequestRecord
from aigc.gateway.response_items import (
    Bridged,
    chat_body,
    input_items,
    input_message,
    input_param,
)
from aigc.gateway.response_objects import Draft, from_chat
from aigc.gateway.response_schemas import ResponseRequest, refuse_unsupported
from aigc.gateway.response_stream import stream
from aigc.gateway.services import Services


@dataclass(frozen=True)
class Answer:
    """A JSON response object, or the events of a streamed one; the limiter's headers."""

    headers: dict[str, str]
    payload: dict[str, Any] | None = None
    events: AsyncIterator[bytes] | None = None


async def respond(
    services: Services, principal: Principal, record: RequestRecord, body: ResponseRequest
) -> Answer:
    earlier, (chat, places) = await _translate(services, principal, body)
    with _named_as_sent(places):
        prepared = await pipeline.prepare(services, principal, record, chat)
    headers = prepared.reservation.headers if prepared.reservation else {}
    draft = Draft(body)

    async def keep(response: dict[str, Any]) -> None:
        if body.stored:
            await _save(services, principal, body, earlier, response)

    if body.stream:
        return Answer(headers, events=stream(services, prepared, record, draft, keep))
    with _named_as_sent(places):  # a grammar that dead-ends names text.format
        payload = await pipeline.complete(services, prepared, record, chat=True)
    response = from_chat(draft, payload, prepared.sources.mode if prepared.sources else "text")
    await keep(response)
    return Answer(headers, payload=response)


async def count_input(
    services: Services, principal: Principal, record: RequestRecord, body: ResponseRequest
) -> Answer:
    """``POST /v1/responses/input_tokens``: OpenAI's ``response.input_tokens`` object, the
    ``usage.input_tokens`` that creating a response from ``body`` would bill (the same
    translation and stages: guard and grounding included), with its 400s, 403s and 404s.

    Nothing is generated or billed (the audit records no tokens). Against the key's limits it
    is one request and no tokens: the work is a tokenizer pass over an input already capped in
    size, so the per-minute request limit bounds it, and a client checking its prompt before
    sending it does not spend its token budget on it."""
    async with pipeline.charged(services, principal, 0) as headers:  # 429 before any work
        _, (chat, places) = await _translate(services, principal, body)
        with _named_as_sent(places):
            counted = await pipeline.count_prompt(services, principal, record, chat)
    payload = {"object": "response.input_tokens", "input_tokens": counted.tokens}
    return Answer(headers, payload=payload)


async def _translate(
    services: Services, principal: Principal, body: ResponseRequest
) -> tuple[list[dict[str, Any]], Bridged]:
    """The earlier turns and the chat request that answers ``body`` after them."""
    refuse_unsupported(body)  # 400
    earlier: list[dict[str, Any]] = []
    if body.previous_response_id is not None:  # 404 for another tenant's, as for none
        earlier = (await _load(services, principal, body.previous_response_id)).items
    return earlier, chat_body(body, earlier)  # 400 naming input[i], tools[i], text.format


@contextmanager
def _named_as_sent(places: list[str]) -> Iterator[None]:
    """A chat stage's 400 named as the client wrote it, in its param and its message alike:
    input[i], not messages[k]."""
    try:
        yield
    except InvalidRequest as exc:
        exc.param = input_param(places, exc.param)
        exc.message = input_message(places, exc.message)
        raise


async def _load(
    services: Services, principal: Principal, response_id: str
) -> response_store.Stored:
    def run() -> response_store.Stored:
        with services.db.session() as session:
            return response_store.load(session, principal, response_id, "previous_response_id")

    return await run_in_threadpool(run)


async def _save(
    services: Services,
    principal: Principal,
    body: ResponseRequest,
    earlier: list[dict[str, Any]],
    response: dict[str, Any],
) -> None:
    """Kept for a later turn: every item so far (earlier turns, this input, this output;
    instructions are not carried over, as at OpenAI)."""
    inputs = earlier + input_items(body)
    items = inputs + response["output"]

    def run() -> None:
        with services.db.session() as session:
            response_store.save(session, principal, response, items, len(inputs))

    await run_in_threadpool(run)
