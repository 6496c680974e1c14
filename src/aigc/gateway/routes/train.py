"""POST /api/train: train a text model (any family that trains on text) on uploaded files.

GET /api/families lists the model families with their capabilities and the JSON schema of
their training parameters (defaults, ranges, choices): the console builds its training form
from it, so a new family shows there without a console change.

Answers 202 with the job and the model; the model is listed as "training" (503 + Retry-After
when called) until the job ends, then "ready" with its validation perplexity. Progress and
cancel are under /api/jobs. The checks live in ``aigc.models.text.submit``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import JSONResponse

from aigc.access import Principal
from aigc.gateway.counted import one_request
from aigc.gateway.deps import principal, services
from aigc.gateway.openapi import errors, link, links
from aigc.gateway.services import Services
from aigc.infra import jobs
from aigc.models.registry import model_view

router = APIRouter(prefix="/api", tags=["training"])


def _rules_of_families(schema: dict[str, Any]) -> None:
    """Write into the schema what ``submit_training`` checks: a trainable family, a name that
    starts with it, that family's parameters, and some data to train on.

    Called when the OpenAPI document is generated, after the server has loaded its families
    (plugins included), so the document lists exactly the families this server trains."""
    from aigc.models.family import trainable

    schema["oneOf"] = [
        {
            "properties": {
                "family": {"const": family.name},
                "name": {"pattern": f"^{family.name}-"},
                "params": family.params.model_json_schema() | {"additionalProperties": False},
            }
        }
        for family in trainable("text")
        if family.params is not None
    ]
    schema["anyOf"] = [
        {"required": ["file_ids"], "properties": {"file_ids": {"minItems": 1}}},
        {"required": ["data_path"], "properties": {"data_path": {"type": "string"}}},
    ]


class TrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_rules_of_families)

    family: str = Field(description="A trainable family (GET /api/families), e.g. gpt")
    name: str = Field(min_length=3, max_length=100, description="Model id, e.g. gpt-support")
    file_ids: list[str] = Field(default_factory=list, max_length=100)
    data_path: str | None = Field(
        default=None, min_length=1, description="Server path (platform admin only)"
    )
    params: dict[str, Any] = Field(default_factory=dict)
    shared: bool = Field(default=False, description="Share with every tenant (platform admin)")


@router.post(
    "/train",
    status_code=202,
    responses=errors(400, 401, 403, 404, 409, 413)
    | links(
        202,
        description="The job and the model it trains",
        GetJob=link("GET", "/api/jobs/{job_id}", job_id="$response.body#/job/id"),
        CancelJob=link("POST", "/api/jobs/{job_id}/cancel", job_id="$response.body#/job/id"),
    ),
)
def train(
    body: TrainRequest,
    request: Request,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
    _counted: None = Depends(one_request),
) -> Any:
    from aigc.models.text.submit import submit_training

    settings = svc.settings
    with svc.db.session() as s:
        record, job = submit_training(
            s,
            caller,
            family=body.family,
            name=body.name,
            params=body.params,
            file_ids=body.file_ids,
            data_path=body.data_path,
            data_dir=settings.data_dir,
            import_roots=settings.import_roots,
            shared=body.shared,
        )
        payload = {"job": jobs.job_view(job), "model": model_view(record)}
    svc.models_changed()
    runner = getattr(request.app.state, "jobs", None)
    if runner is not None:
        runner.wake()
    return JSONResponse(payload, status_code=202)


@router.get("/families", responses=errors(401))
def list_families(caller: Principal = Depends(principal)) -> Any:
    """Every installed family (any signed-in caller: it names no tenant's data)."""
    from aigc.models.family import families

    return {"object": "list", "data": [f.view() for f in families()]}
