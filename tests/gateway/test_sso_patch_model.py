"""The SSO provider PATCH body without HTTP: what it says was sent, and what its schema shows.

The server's answers (a field left out unchanged, null a 400) are tested over HTTP in
tests/e2e/test_sso.py; here, that the OpenAPI schema tells clients the same thing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aigc.gateway.routes.sso import ProviderPatch

CLEARABLE = {"default_role"}


def test_only_the_fields_sent_are_changes_and_the_secret_is_unwrapped() -> None:
    rules = [{"claim": "groups", "value": "研发", "group": "研发部"}]
    patch = ProviderPatch.model_validate(
        {"client_secret": "s3cret", "rules": rules, "default_role": None}
    )
    assert patch.changes() == {"client_secret": "s3cret", "rules": rules, "default_role": None}
    assert ProviderPatch.model_validate({"enabled": False}).changes() == {"enabled": False}


@pytest.mark.parametrize("field", sorted(set(ProviderPatch.model_fields) - CLEARABLE))
def test_null_is_refused_naming_the_field_and_the_schema_shows_no_null(field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        ProviderPatch.model_validate({field: None})
    assert [e["loc"] for e in refused.value.errors()] == [(field,)]
    schema = ProviderPatch.model_json_schema()["properties"][field]
    assert "null" not in str(schema) and "default" not in schema, schema


def test_default_role_may_be_cleared_and_says_so() -> None:
    schema = ProviderPatch.model_json_schema()["properties"]["default_role"]
    assert {"type": "null"} in schema["anyOf"]
