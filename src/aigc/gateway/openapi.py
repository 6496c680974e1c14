"""The OpenAPI document says what the server really answers.

FastAPI alone lists ``200`` and a ``422 HTTPValidationError`` for every route, while this server
answers validation errors with ``400`` and every error in OpenAI's envelope. Routes declare
their error statuses with ``errors(...)`` (one envelope model, defined once here); ``install``
drops FastAPI's 422 from the document, since no route ever answers it. Clients generated from
the schema, and the schema fuzzer in the test suite, then see the statuses that come back.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    message: str = Field(description="What went wrong, for a person to read")
    type: str = Field(description="OpenAI's error type, e.g. invalid_request_error")
    param: str | None = Field(description="The parameter at fault, e.g. messages[0].role")
    code: str | None = Field(description="A stable code for programs, e.g. model_not_found")


class ErrorEnvelope(BaseModel):
    """Every error this API answers, whatever its status."""

    error: ErrorDetail


_WHY = {
    400: "Invalid request: a malformed body, a bad parameter or a field the server or the model "
    "cannot honour (`param` names it)",
    401: "No API key, or one that is unknown, revoked or expired",
    403: "The caller's role, organization or key allow-list does not permit this",
    404: "No such object for the caller (another organization's objects do not exist for it)",
    409: "Conflicts with an object that already exists",
    413: "The request body is over the server's size limit",
    429: "Over a rate limit or the organization's daily token budget; `Retry-After` says when to "
    "try again",
    502: "The upstream model server failed",
    503: "The model is not ready or its queue is full, or the organization's guard policy no "
    "longer loads; `Retry-After` says when to try again",
}


Responses = dict[int | str, dict[str, Any]]  # what a route's ``responses=`` takes


def errors(*statuses: int) -> Responses:
    """The ``responses=`` entry of a route for the error statuses it answers."""
    return {status: {"model": ErrorEnvelope, "description": _WHY[status]} for status in statuses}


def content(media_type: str, description: str) -> Responses:
    """A success (200) answer that is not JSON: metrics text, a file, a JSONL export."""
    return {
        200: {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}
    }


BODY_ID = "$response.body#/id"  # the id of what the answer made, as a link parameter


def link(method: str, path: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link: a value of this answer (``BODY_ID``) feeds that operation."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    return {"operationRef": f"#/paths/{pointer}/{method.lower()}", "parameters": parameters}


def links(status: int, description: str | None = None, **named: dict[str, Any]) -> Responses:
    """The ``responses=`` entry of a success answer and the operations it feeds (``link``)."""
    answer: dict[str, Any] = {"links": named}
    if description is not None:
        answer = {"description": description} | answer
    return {status: answer}


def install(app: FastAPI) -> None:
    """Serve the document without FastAPI's 422 answers and their schemas (never answered)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    operation.get("responses", {}).pop("422", None)
            schemas = document.get("components", {}).get("schemas", {})
            for name in ("HTTPValidationError", "ValidationError"):
                schemas.pop(name, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
