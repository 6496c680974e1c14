"""POST /v1/embeddings in OpenAI's shape, served by the knowledge base's embedding model.

The input is the caller's own text; nothing stored (no document, no chunk, no cached vector of
another tenant) can be named or returned through this endpoint.
"""

from __future__ import annotations

import base64
from typing import Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from aigc.access import Principal, require_model_allowed, require_role
from aigc.errors import InvalidRequest, ModelNotFound, refused_value
from aigc.gateway import token_prompts
from aigc.gateway.context import RequestRecord
from aigc.gateway.deps import principal, record, services
from aigc.gateway.fields import INT32_MAX, NOT_BLANK, TokenId
from aigc.gateway.openapi import errors
from aigc.gateway.pipeline import charged
from aigc.gateway.schemas import refuse_used, unused_only
from aigc.gateway.services import Services
from aigc.infra import untrusted
from aigc.knowledge.embed import Embedder
from aigc.knowledge.ingest import embedder_for

router = APIRouter(prefix="/v1", tags=["openai"])
MAX_INPUTS = 2048
MAX_CHARS = 32_000
# How a request over its key's tokens-per-minute limit can need fewer: an embedding has no
# max_tokens, every input's tokens count.
ADVICE = "It counts the tokens of every input: send fewer inputs per request, or shorter ones."


# A text to embed: not blank, at most MAX_CHARS characters.
_TEXT: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_CHARS,
    "pattern": NOT_BLANK,
}


_TOKENS: dict[str, Any] = {
    "type": "array",
    "items": {"type": "integer", "minimum": 0, "maximum": INT32_MAX},
    "minItems": 1,
}


# Other servers' fields → the values that mean what is done here anyway (vectors normalised,
# float32, an input cut at the model's limit from its end, special tokens added): any other
# value is a 400 naming the field, as chat's vLLM extras are, never dropped. vLLM's
# truncate_prompt_tokens keeps an input's last tokens (-1 too); TEI's, Cohere's and Ollama's
# truncate, and Cohere's input_type (asymmetric models), are theirs. Fields of no server are
# left unread, as on chat.
_UNSUPPORTED: dict[str, Any] = {
    "truncate_prompt_tokens": None,
    "add_special_tokens": (None, True),
    "normalize": (None, True),
    "embed_dtype": (None, "float32"),
    "priority": (None, 0),
    "truncate": (None, True, "END"),
    "truncation_direction": (None, "right", "Right"),
    "input_type": None,
}


def _document_extras(schema: dict[str, Any]) -> None:
    schema.setdefault("properties", {}).update(unused_only(_UNSUPPORTED))


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow", json_schema_extra=_document_extras)

    # Text, texts, or token ids of the model's own tokenizer (one input's, or several; their
    # range checked by gateway/token_prompts.py).
    input: str | list[str] | list[TokenId] | list[list[TokenId]] = Field(
        json_schema_extra={  # checked by _inputs, each rule named in its 400
            "anyOf": [
                _TEXT,
                {"type": "array", "items": _TEXT, "minItems": 1, "maxItems": MAX_INPUTS},
                _TOKENS | {"maxItems": MAX_CHARS},
                {
                    "type": "array",
                    "items": _TOKENS | {"maxItems": MAX_CHARS},
                    "minItems": 1,
                    "maxItems": MAX_INPUTS,
                },
            ]
        }
    )
    model: str = Field(description="The embedding model's id, or 'default'")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(
        default=None, description="If given, the model's own dimension (384 for the default)"
    )
    user: str | None = None


def _token_inputs(
    ids: list[token_prompts.TokenPrompt], embedder: Embedder
) -> tuple[list[str], int]:
    """The texts of inputs given as token ids of the model's tokenizer, and how many ids (the
    usage, as vLLM counts it). 400 naming ``input`` for more inputs or ids than text may hold,
    or for ids the model's tokenizer did not make (``_foreign``)."""
    if len(ids) > MAX_INPUTS or any(len(one) > MAX_CHARS for one in ids):
        raise refused_value(
            "embedding_token_inputs",
            "input must hold 1 to {max_inputs} inputs of at most {max_ids} token ids",
            param="input",
            max_inputs=MAX_INPUTS,
            max_ids=MAX_CHARS,
        )
    vocab, special = embedder.vocab_size(), embedder.special_ids()
    places = [f"input[{i}]" if len(ids) > 1 else "input" for i in range(len(ids))]
    for where, one in zip(places, ids, strict=True):
        bad = next((t for t in one if not 0 <= t < vocab), None)
        if bad is not None:  # cl100k ids of Chinese text, mostly
            raise _foreign(
                where, embedder, f"id {bad} is outside its vocabulary (0 to {vocab - 1})"
            )
    texts = token_prompts.decode_all(ids, vocab, embedder.decode, "input")  # 400: an empty one
    for where, one in zip(places, ids, strict=True):
        own = token_prompts.made_by_tokenizer(
            one, embedder.decode, embedder.token_ids, special, embedder.continues_word
        )
        if not own:
            raise _foreign(where, embedder, "decoded and encoded again, they are other ids")
    return texts, sum(len(one) for one in ids)


def _foreign(where: str, embedder: Embedder, why: str) -> InvalidRequest:
    """The 400 for token ids of another tokenizer: read as this model's, they are other words
    (LangChain's OpenAIEmbeddings sends OpenAI's tiktoken ids unless told not to)."""
    return refused_value(
        "foreign_token_ids",
        "Invalid '{name}': these are not token ids of the tokenizer of '{model}' ({why}). "
        "Token ids are read with the model's own tokenizer, as vLLM reads them; another "
        "tokenizer's ids (OpenAI's tiktoken) would embed other words. Send the text instead; "
        "with LangChain's OpenAIEmbeddings, set check_embedding_ctx_length=False.",
        param=where,
        code="foreign_token_ids",
        name=where,
        model=embedder.model_id,
        why=why,
    )


def _inputs(body: EmbeddingRequest) -> list[str]:
    texts: list[str] = [body.input] if isinstance(body.input, str) else []
    if not isinstance(body.input, str):
        texts = [t for t in body.input if isinstance(t, str)]
        if len(texts) != len(body.input):  # ints among strings: neither text nor token ids
            raise refused_value(
                "text_or_token_ids", "input is text, or token ids, not both", param="input"
            )
    if not texts or len(texts) > MAX_INPUTS:
        raise refused_value(
            "embedding_inputs",
            "input must hold 1 to {max_inputs} strings",
            param="input",
            max_inputs=MAX_INPUTS,
        )
    for text in texts:
        if not text.strip() or len(text) > MAX_CHARS:
            raise refused_value(
                "embedding_input_length",
                "Each input must be non-empty and at most {max_length} characters",
                param="input",
                max_length=MAX_CHARS,
            )
    return texts


def embedding_model_view(settings: Any) -> dict[str, Any]:
    """The embedding model as /v1/models lists it: clients (an SDK's models.list, a chat UI's
    model picker) look for it there before they call /v1/embeddings."""
    return {
        "id": embedder_for(settings).model_id,  # the name only: the model loads at first use
        "object": "model",
        "created": 0,
        "owned_by": "aigc",
        "family": "embedding",
        "kind": "embedding",
        "capabilities": ["embeddings"],
        "status": "ready",
        "shared": True,
        "val_perplexity": None,
    }


@router.post("/embeddings", responses=errors(400, 401, 403, 404, 413, 429))
async def create_embeddings(
    body: EmbeddingRequest,
    response: Response,
    caller: Principal = Depends(principal),
    rec: RequestRecord = Depends(record),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    require_role(caller, "member")
    rec.model = body.model  # for the audit, bounded there
    refuse_used(body.model_dump(exclude_unset=True), _UNSUPPORTED)
    ids = token_prompts.token_lists(body.input)  # None: the input is text
    texts = _inputs(body) if ids is None else []
    embedder = embedder_for(svc.settings)
    embedder = embedder_for(svc.settings, embedder.model_id)  # float: what clients stored
    if body.model not in (embedder.model_id, "default"):
        raise ModelNotFound(
            f"The embedding model is '{embedder.model_id}'; "
            f"'{untrusted.field(body.model)}' is not served",
            param="model",
        )
    require_model_allowed(caller, embedder.model_id)  # "default" names it too
    if body.dimensions is not None and body.dimensions != embedder.dim:
        raise refused_value(
            "dimensions_fixed",
            "This model has {dimensions} dimensions",
            param="dimensions",
            code="unsupported_value",
            dimensions=embedder.dim,
        )

    def count() -> tuple[list[str], int]:
        if ids is not None:  # decoded, and counted as given
            return _token_inputs(ids, embedder)
        return texts, sum(embedder.count_tokens(t) for t in texts)

    texts, tokens = await run_in_threadpool(count)
    # The key's RPM and TPM and the tenant's daily budget, as for chat (429 before any work):
    # embeddings were not charged at all, so a limited key could embed without bound.
    async with charged(svc, caller, tokens, ADVICE) as headers:
        vectors = await run_in_threadpool(embedder.embed, texts)
    response.headers.update(headers)
    rec.model, rec.prompt_tokens = embedder.model_id, tokens
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(v.tobytes()).decode()
            if body.encoding_format == "base64"
            else v.tolist(),
        }
        for i, v in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": embedder.model_id,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
