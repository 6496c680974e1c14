"""The guard's endpoints: policies (/api/policies), moderation (/v1/moderations), feedback
(/api/feedback and its JSONL export) and watermark detection (/api/watermark/detect).

Routes only translate HTTP; the logic is in ``aigc.guard``. Plain ``def`` routes run in a worker
thread, so database work and scoring never block the event loop.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from aigc.access import Principal, require_model_allowed, require_role, require_unlimited
from aigc.errors import InvalidRequest, ModelNotFound, NotFound, refused, refused_value
from aigc.gateway.counted import one_request
from aigc.gateway.deps import principal, services
from aigc.gateway.fields import branch_rules
from aigc.gateway.openapi import content, errors, link, links
from aigc.gateway.pipeline import charged
from aigc.gateway.services import Services
from aigc.guard import feedback, moderation, store, watermark
from aigc.guard.policy import PolicyError, parse_policy
from aigc.guard.tables import GuardPolicy
from aigc.infra import untrusted
from aigc.infra.schema import unix_time

router = APIRouter(tags=["guard"])
MAX_MODERATION_INPUTS = 32
MAX_MODERATION_CHARS = 100_000
# How a request over its key's tokens-per-minute limit can need fewer: a moderation has no
# max_tokens; its inputs count, about 4 bytes a token.
MODERATION_ADVICE = (
    "It counts every input's text, about 4 bytes a token: send fewer inputs per request, or "
    "shorter ones."
)


# --- policies ------------------------------------------------------------------------------


class PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    yaml: str = Field(min_length=1, max_length=200_000)
    enabled: bool = True


def _policy_view(row: GuardPolicy) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "policy",
        "name": row.name,
        "enabled": row.enabled,
        "yaml": row.yaml,
        "created_at": unix_time(row.created_at),
        "updated_at": unix_time(row.updated_at),
    }


def _parse_or_400(text: str) -> None:
    try:
        parse_policy(text)
    except PolicyError as exc:
        raise InvalidRequest(
            "Invalid policy: " + "; ".join(exc.problems),
            param="yaml",
            code="invalid_policy",
            details=exc.details,
        ) from None


@router.get("/api/policies", responses=errors(401, 403))
def list_policies(
    caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    require_role(caller, "member")
    with svc.db.session() as s:
        data = [_policy_view(r) for r in store.list_policies(s, caller.tenant_id)]
    return {"object": "list", "data": data}


@router.get("/api/policies/{name}", responses=errors(401, 403, 404))
def get_policy(
    name: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    require_role(caller, "member")
    with svc.db.session() as s:
        try:
            return _policy_view(store.get_policy(s, caller.tenant_id, name))
        except store.PolicyNotFound:
            raise refused(
                NotFound, "policy_not_found", "No policy named '{name}'", name=untrusted.field(name)
            ) from None


@router.post(
    "/api/policies",
    status_code=201,
    responses=errors(400, 401, 403, 413)
    | links(
        201,
        GetPolicy=link("GET", "/api/policies/{name}", name="$response.body#/name"),
        DeletePolicy=link("DELETE", "/api/policies/{name}", name="$response.body#/name"),
    ),
)
def put_policy(
    body: PolicyIn, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Create, or replace the policy of the same name; the YAML is validated first."""
    require_role(caller, "admin")
    require_unlimited(caller, "change the organization's guard policies")
    _parse_or_400(body.yaml)
    with svc.db.session() as s:
        return _policy_view(store.put_policy(s, caller.tenant_id, body.yaml, body.enabled))


@router.delete("/api/policies/{name}", responses=errors(401, 403, 404))
def delete_policy(
    name: str, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    require_role(caller, "admin")
    require_unlimited(caller, "change the organization's guard policies")
    with svc.db.session() as s:
        try:
            store.delete_policy(s, caller.tenant_id, name)
        except store.PolicyNotFound:
            raise refused(
                NotFound, "policy_not_found", "No policy named '{name}'", name=untrusted.field(name)
            ) from None
    return {"object": "policy.deleted", "name": name, "deleted": True}


# --- moderation ----------------------------------------------------------------------------


_TEXT = {"type": "string", "maxLength": MAX_MODERATION_CHARS}
_COUNT = {"minItems": 1, "maxItems": MAX_MODERATION_INPUTS}


class ModerationTextPart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["text"]
    text: str = Field(max_length=MAX_MODERATION_CHARS)


class ModerationImageUrl(BaseModel):
    url: str = Field(min_length=1)


class ModerationImagePart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["image_url"]
    image_url: ModerationImageUrl


ModerationPart = Annotated[ModerationTextPart | ModerationImagePart, Field(discriminator="type")]


_BY_TYPE = branch_rules(string=_TEXT, array=_COUNT)


def _input_rules(schema: dict[str, Any]) -> None:
    """The schema's branches of ``input`` (``branch_rules`` by JSON type), each array's items
    as they are accepted: texts, or the text parts of one multi-modal input. Image parts are
    parsed, to be refused by name, but not offered: the schema says what is accepted."""
    _BY_TYPE(schema)
    for branch in schema.get("anyOf", []):
        if branch.get("type") == "array":
            texts = branch.get("items", {}).get("type") == "string"
            branch["items"] = dict(_TEXT) if texts else ModerationTextPart.model_json_schema()


# The built-in guard answers by its own name and by OpenAI's moderation model names, so that
# clients written for OpenAI work unchanged; any other name is a model this server lacks.
MODERATION_MODELS = (
    "aigc-guard",
    "omni-moderation-latest",
    "omni-moderation-2024-09-26",
    "text-moderation-latest",
    "text-moderation-stable",
    "text-moderation-007",
)


class ModerationIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    # OpenAI's three shapes: one text, several texts (a result each), or one input made of
    # text and image parts (one result)
    input: str | list[str] | list[ModerationPart] = Field(json_schema_extra=_input_rules)
    model: str = Field(
        default="aigc-guard", min_length=1, max_length=200, examples=list(MODERATION_MODELS)
    )


def moderated_texts(value: str | list[str] | list[ModerationPart]) -> list[str]:
    """The texts to judge, one per result: a multi-modal input's text parts are one text.
    Its image parts are refused, not skipped: the guard reads text only, and an image that
    passed unjudged would read as judged harmless."""
    items = [value] if isinstance(value, str) else value
    if not 1 <= len(items) <= MAX_MODERATION_INPUTS:
        raise refused_value(
            "moderation_inputs",
            "'input' takes 1 to {max_length} items",
            param="input",
            max_length=MAX_MODERATION_INPUTS,
        )
    texts = [item for item in items if isinstance(item, str)]
    if len(texts) == len(items):
        if any(len(t) > MAX_MODERATION_CHARS for t in texts):
            raise refused_value(
                "string_too_long",
                "each input is at most {max_length} characters",
                param="input",
                max_length=MAX_MODERATION_CHARS,
            )
        return texts
    parts: list[str] = []  # each at most MAX_MODERATION_CHARS (the model's own check)
    for i, part in enumerate(items):
        if isinstance(part, ModerationImagePart):
            raise refused_value(
                "moderation_text_only",
                "Images cannot be moderated here: the built-in guard judges text only. Send "
                "the text parts alone, and moderate the image with a service that reads images",
                param=f"input[{i}]",
                code="unsupported_value",
            )
        assert isinstance(part, ModerationTextPart)
        parts.append(part.text)
    return ["\n".join(parts)]


@router.post("/v1/moderations", responses=errors(400, 401, 403, 404, 413, 429))
async def moderations(
    body: ModerationIn,
    response: Response,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """OpenAI's moderation shape: one result per input, with our extra categories.

    The built-in guard answers to its own name and OpenAI's moderation names; another name
    is a 404, as an unknown model on chat is, rather than an answer labelled with a model that
    never judged it. A key limited to some models must list the name it sends here too, and
    the key's request and token limits hold here as on chat (the text's bytes / 4 as its
    tokens, as for an image prompt): unlimited, a limited key could have the guard scan 3.2
    million characters a call without bound."""
    if body.model not in MODERATION_MODELS:
        raise ModelNotFound(
            f"The model '{untrusted.field(body.model)}' does not exist; moderation answers as "
            f"{', '.join(MODERATION_MODELS)}",
            param="model",
        )
    require_model_allowed(caller, body.model)
    texts = moderated_texts(body.input)
    tokens = sum(len(t.encode()) for t in texts) // 4 + 1
    async with charged(svc, caller, tokens, MODERATION_ADVICE) as headers:  # 429 before any scan
        results = await run_in_threadpool(lambda: [moderation.moderate(t) for t in texts])
    response.headers.update(headers)
    return {"id": f"modr-{secrets.token_hex(12)}", "model": body.model, "results": results}


# --- feedback ------------------------------------------------------------------------------


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(min_length=1, max_length=80)
    rating: Literal[-1, 0, 1]
    correction: str | None = Field(default=None, max_length=100_000)
    tags: list[str] = Field(default_factory=list, max_length=20)
    prompt: str | None = Field(default=None, max_length=200_000)
    answer: str | None = Field(default=None, max_length=200_000)


@router.post("/api/feedback", status_code=201, responses=errors(400, 401, 403, 413))
def post_feedback(
    body: FeedbackIn, caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    require_role(caller, "member")
    with svc.db.session() as s:
        row = feedback.add_feedback(s, caller.tenant_id, **body.model_dump())
        return feedback.feedback_view(row)


@router.get("/api/feedback", responses=errors(401, 403))
def list_feedback(
    caller: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    require_role(caller, "admin")
    with svc.db.session() as s:
        rows = feedback.list_feedback(s, caller.tenant_id)
        return {
            "object": "list",
            "data": [feedback.feedback_view(r) for r in rows],
            "flagged_tags": feedback.flagged_tags(rows),
        }


@router.get(
    "/api/feedback/export",
    response_class=StreamingResponse,
    responses=content("application/x-ndjson", "One JSON object a line (JSONL)")
    | errors(400, 401, 403),
)
def export_feedback(
    format: Literal["sft", "preference"] = "sft",
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> StreamingResponse:
    """The tenant's feedback as JSONL for fine-tuning (admins only: it holds prompts)."""
    require_role(caller, "admin")
    with svc.db.session() as s:
        lines = list(feedback.export_lines(feedback.list_feedback(s, caller.tenant_id), format))
    return StreamingResponse(
        iter(lines),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="feedback-{format}.jsonl"'},
    )


# --- watermark -----------------------------------------------------------------------------


class WatermarkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1)
    text: str = Field(min_length=1, max_length=200_000)
    gamma: float = Field(default=watermark.GAMMA, gt=0.0, lt=1.0)


@router.post("/api/watermark/detect", responses=errors(400, 401, 403, 404, 413, 503))
def detect_watermark(
    body: WatermarkIn,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
    _counted: None = Depends(one_request),
) -> dict[str, Any]:
    """The z-score of ``text`` under the caller's tenant key, tokenised as ``model`` does."""
    require_role(caller, "member")
    model = svc.load_model(caller, body.model)
    key = watermark.tenant_key(svc.settings.server_secret(), caller.tenant_id)
    try:
        found = watermark.detect_text(model, body.text, key, body.gamma)
    except ValueError as exc:
        raise refused_value(
            "watermark_local_models_only", str(exc), param="model", code="unsupported_model"
        ) from None
    return {"object": "watermark.detection", "model": body.model, **found.view()}
