"""The OpenAPI document, read in process (issue 16, finding 4): statuses the routes answer, one
error envelope, content types that are not JSON, the bearer scheme. That the server answers as
documented is shown against a live server by tests/e2e/test_openapi_fuzz.py."""

from __future__ import annotations

from typing import Any

import pytest

from aigc.app import create_app
from aigc.config import Settings
from aigc.models.family import load_families

ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    load_families([])  # as the server's start does: the schema lists the loaded families
    settings = Settings(data_dir=tmp_path_factory.mktemp("openapi"), console=False)
    return create_app(settings).openapi()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def test_no_operation_documents_the_422_the_server_never_answers(
    document: dict[str, Any],
) -> None:
    assert all("422" not in op["responses"] for _, _, op in _operations(document))
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_every_error_status_is_the_one_envelope(document: dict[str, Any]) -> None:
    errors = {
        (method, path, status): response["content"]["application/json"]["schema"]
        for method, path, op in _operations(document)
        for status, response in op["responses"].items()
        if int(status) >= 400 and path != "/readyz"  # its 503 is the readiness report
    }
    assert errors and all(schema == ENVELOPE for schema in errors.values())
    envelope = document["components"]["schemas"]["ErrorDetail"]
    assert set(envelope["properties"]) == {"message", "type", "param", "code"}
    chat = dict(document["paths"]["/v1/chat/completions"]["post"]["responses"])
    assert {"400", "401", "403", "404", "413", "429", "503"} <= set(chat)


def test_answers_that_are_not_json_say_their_type(document: dict[str, Any]) -> None:
    def types(path: str) -> set[str]:
        return set(document["paths"][path]["get"]["responses"]["200"]["content"])

    assert types("/metrics") == {"text/plain"}
    assert types("/api/feedback/export") == {"application/x-ndjson"}
    assert types("/v1/files/{file_id}/content") == {"application/octet-stream"}
    chat = document["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert set(chat) == {"application/json", "text/event-stream"}


def test_authenticated_operations_name_the_bearer_scheme(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    public = {"/healthz", "/readyz", "/metrics", "/v1/images/files/{name}"}
    for _, path, op in _operations(document):
        assert (op.get("security") == [{"apiKey": []}]) == (path not in public), path


def test_bounds_are_written_exactly(document: dict[str, Any]) -> None:
    """FastAPI writes bounds as floats: 2**63 - 1 read 2**63, a value the server refused."""
    budget = document["components"]["schemas"]["TenantIn"]["properties"]["daily_token_budget"]
    assert budget["anyOf"][0]["maximum"] == 2**53 - 1 == float(2**53 - 1)
    seed = document["components"]["schemas"]["ChatCompletionRequest"]["properties"]["seed"]
    assert seed["anyOf"][0] == {"type": "integer"}  # any: one beyond 64 bits is folded in


def test_shown_rules_that_a_route_checks_itself_refuse_nothing_it_took() -> None:
    """A KB page's URL and name, and an image embedding's lists, are checked where they are
    used (a fetch, ingest, the route), which take an upper-case scheme, a name in any script
    and an empty list beside a full one; the schema shows the strict form only."""
    from aigc.gateway.routes.images import ImageEmbeddingRequest
    from aigc.gateway.routes.knowledge import UrlDocument

    UrlDocument.model_validate({"url": "HTTP://wiki.example.cn/a", "filename": "员工手册.pdf"})
    ImageEmbeddingRequest.model_validate({"model": "clip-x", "input": [], "images": ["aGk="]})
    assert UrlDocument.model_json_schema()["properties"]["url"]["pattern"].startswith("^https?")


def test_every_operation_has_its_own_id(document: dict[str, Any]) -> None:
    """A generated client names its methods by operation id: the downloads' HEAD, added with
    the GET, repeated the GET's id (FastAPI warned "Duplicate Operation ID")."""
    ids = [op["operationId"] for _, _, op in _operations(document)]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
