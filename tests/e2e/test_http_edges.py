"""What schemathesis found at the edges of HTTP (issue 16, finding 3): any method on an API
address gets an error in the OpenAI envelope on a connection that stays usable, and a day that
is not on the calendar is a 400 naming the parameter, never a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.server import Server


@pytest.fixture
def http(server: Server) -> httpx.Client:
    headers = {"Authorization": f"Bearer {server.admin_key}"}
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=30)


def _error(reply: httpx.Response) -> dict[str, object]:
    body = reply.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    return dict(body["error"])


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("TRACE", "/v1/models", "GET, HEAD"),  # HEAD: answered as GET (route_forms)
        ("QUERY", "/api/usage", "GET, HEAD"),
        ("PUT", "/v1/chat/completions", "POST"),
        ("DELETE", "/v1/chat/completions", "POST"),
    ],
)
def test_a_method_a_route_does_not_take_is_405_with_allow(
    http: httpx.Client, server: Server, method: str, path: str, allow: str
) -> None:
    reply = http.request(method, path)
    assert reply.status_code == 405, (reply.status_code, reply.headers.get("location"))
    assert reply.headers["allow"] == allow
    assert _error(reply)["code"] == "method_not_allowed"
    again = http.get("/healthz")  # the same keep-alive connection still works
    assert again.status_code == 200
    assert "AttributeError" not in server.logs()


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "GET", "OPTIONS"])
def test_an_unknown_api_address_is_404_in_the_envelope_for_any_method(
    http: httpx.Client, method: str
) -> None:
    reply = http.request(method, "/v1/no-such-endpoint")
    assert reply.status_code == 404
    assert _error(reply)["code"] == "unknown_url"


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/usage?since=0000-00-00", "since"),
        ("/api/usage?since=2025-13-01", "since"),
        ("/api/usage?until=2025-02-30", "until"),
        ("/api/audit?since=0000-00-00", "since"),
        ("/api/audit?until=yesterday", "until"),
    ],
)
def test_a_day_not_on_the_calendar_is_a_400_naming_it(
    http: httpx.Client, path: str, param: str
) -> None:
    reply = http.get(path)
    assert reply.status_code == 400, reply.text
    assert _error(reply)["param"] == param


def test_real_days_still_filter(http: httpx.Client) -> None:
    assert http.get("/api/usage?since=2024-02-29&until=2025-12-31").status_code == 200
    assert http.get("/api/audit?since=2024-02-29").status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/moderations", '{"input": "hello \\ud800 world"}'),
        ("/v1/moderations", '{"input": ["fine", "\\udfff alone"]}'),
        (
            "/v1/chat/completions",
            '{"model": "x", "messages": [{"role": "user", "content": "hi \\ud83d"}]}',
        ),
        (
            "/v1/embeddings",
            '{"model": "x", "input": "\\ude00\\ud83d"}',
        ),  # a pair in the wrong order
    ],
)
def test_a_lone_surrogate_in_a_json_string_is_a_400(
    http: httpx.Client, path: str, body: str
) -> None:
    """JSON may escape half of a surrogate pair; Python reads it into text no encoder takes,
    and /v1/moderations answered 500 (the guard's script conversion could not encode it)."""
    reply = http.post(path, content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400, reply.text
    error = _error(reply)
    assert error["code"] == "invalid_json" and "surrogate" in str(error["message"])


def test_emoji_sent_as_escaped_pairs_are_text(http: httpx.Client) -> None:
    body = '{"input": "thanks \\ud83d\\ude00 for the help"}'  # what ensure_ascii writes for 😀
    reply = http.post("/v1/moderations", content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["results"][0]["flagged"] is False


def test_a_nul_character_in_a_json_string_is_a_400(http: httpx.Client) -> None:
    """PostgreSQL's text columns cannot hold U+0000: a tenant name with one was a 500 there
    (tests/e2e/test_postgres_server.py); it is refused on every database alike."""
    reply = http.post(
        "/api/tenants",
        content='{"name": "A\\u0000B"}',
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 400, reply.text
    error = _error(reply)
    assert error["code"] == "invalid_json" and "NUL" in str(error["message"])
    assert "A\x00B" not in {t["name"] for t in http.get("/api/tenants").json()["data"]}


def _plain_get_paths(http: httpx.Client) -> list[str]:
    """Every GET route of the OpenAPI document whose path takes no parameter."""
    paths = http.get("/openapi.json").json()["paths"]
    return [path for path, ops in paths.items() if "get" in ops and "{" not in path]


def test_every_get_route_answers_head_as_get(http: httpx.Client) -> None:
    """Only Starlette's own routes and the downloads answered HEAD; every other GET route
    (``/v1/models``, ``/api/usage``...) answered 405. HEAD is the GET's status and headers,
    without the body, on the real server."""
    paths = [*_plain_get_paths(http), "/v1/models/no-such-model", "/v1/files/file-none"]
    assert "/v1/models" in paths and "/api/usage" in paths
    for path in paths:
        got, head = http.get(path), http.head(path)
        assert head.status_code == got.status_code, (path, head.status_code, got.status_code)
        assert head.content == b"", path
        assert head.headers.get("content-type") == got.headers.get("content-type"), path
        assert head.headers["x-request-id"], path
    for path in ("/v1/models", "/healthz", "/v1/models/no-such-model"):  # bodies that stay
        got, head = http.get(path), http.head(path)
        assert head.headers["content-length"] == str(len(got.content)), path
    assert http.head("/v1/chat/completions").status_code == 405  # a POST route stays POST


@pytest.mark.parametrize("path", ["/v1/models/", "/api/usage/", "/healthz/", "/v1/models//"])
def test_a_trailing_slash_answers_as_the_path_without_it(http: httpx.Client, path: str) -> None:
    """``/v1/models/`` answered "model '' not found", ``/api/usage/`` the API's 404 and
    ``/healthz/`` the console's redirect to its sign-in page: each answers as without the
    slash, with no redirect."""
    plain = http.get(path.rstrip("/"))
    slashed = http.get(path)
    assert slashed.status_code == plain.status_code == 200, slashed.text
    assert slashed.json().keys() == plain.json().keys()
    if path.startswith("/v1/models"):
        assert {m["id"] for m in slashed.json()["data"]} == {m["id"] for m in plain.json()["data"]}


def test_a_trailing_slash_on_a_post_route_and_a_model_id(http: httpx.Client) -> None:
    reply = http.post("/v1/chat/completions/", json={"model": "no-such-model", "messages": []})
    assert reply.status_code == 400 and _error(reply)["param"] == "messages", reply.text
    missing = http.get("/v1/models/no-such-model/")
    assert missing.status_code == 404
    assert "no-such-model'" in str(_error(missing)["message"])  # the id without the slash
