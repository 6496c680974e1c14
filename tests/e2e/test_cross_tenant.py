"""Cross-tenant isolation through the live server, endpoint by endpoint.

Org A creates one of every object; org B's keys (its admin, the most privileged tenant key, and
its member) then try every management and data endpoint on A's objects. Each attempt must be
indistinguishable from asking for an object that does not exist (same status, same envelope,
same message but for the id), nothing of A may show up in B's lists, a tenant admin must not
reach the platform endpoints, and after all of it A's objects are exactly as they were.

``test_every_route_is_classified`` enumerates the app's routes, so a new endpoint without a
cross-tenant case fails here until one is added to ``CASES`` (or to the classification below).
"""

from __future__ import annotations

import io
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import create_engine, text

from tests.e2e.server import Org, Server

A_MODEL = "template-a-secret"
PLATFORM_PREFIX = "/api/tenants"


def _template(owner: str) -> str:
    return f"""
name: tiny-{owner}
languages: [en]
intents:
  - id: hello
    patterns: ['\\bhello\\b']
    answers:
      en: ["Hello from {owner}!"]
fallback:
  en: ["Sorry from {owner}."]
"""


# --- the app's routes ----------------------------------------------------------------------


@dataclass(frozen=True)
class RouteInfo:
    method: str
    path: str
    query: frozenset[str]


def _norm(path: str) -> str:
    """'/api/groups/{group_id}/members/{user_id}' → '/api/groups/{}/members/{}'."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def _app_routes() -> list[RouteInfo]:
    """Every (method, path) the app serves, through included routers (old and new FastAPI)."""
    from aigc.app import create_app

    app = create_app()  # cheap: the lifespan (database, services) is never entered
    found: list[RouteInfo] = []

    def add(path: str, route: Any) -> None:
        dependant = getattr(route, "dependant", None)
        query = frozenset(q.name for q in dependant.query_params) if dependant else frozenset()
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD":
                found.append(RouteInfo(method, path, query))

    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            for ctx in contexts():
                add(ctx.path, ctx.starlette_route or ctx.original_route)
        elif hasattr(route, "path"):
            add(route.path, route)
    return found


ROUTES = _app_routes()
SERVED = {(r.method, _norm(r.path)) for r in ROUTES}


def _accepts_tenant_id(method: str, path: str) -> bool:
    return any(r.method == method and r.path == path and "tenant_id" in r.query for r in ROUTES)


# --- the table -----------------------------------------------------------------------------
#
# Placeholders in paths and bodies: {user} {group} {key} {model} {file} {job} are A's objects
# (swapped for a well-formed random id in the "nonexistent" twin of each request); {b_group}
# and {b_user} are B's own, kept as they are in both.

A_PLACEHOLDERS = (
    "user",
    "group",
    "key",
    "model",
    "file",
    "job",
    "kb",
    "doc",
    "policy",
    "conv",
    "msg",
    "resp",
)
CHAT = {"model": "{model}", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}
COMPLETION = {"model": "{model}", "prompt": "hello", "max_tokens": 8}
RESPONSE = {"model": "{model}", "input": "hello", "max_output_tokens": 8}


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    body: dict[str, Any] | None = None
    label: str = ""
    model: bool = False  # answers model_not_found
    person: bool = False  # B's keys bound to B's user (a key with no user is refused first)
    form: bool = False  # the body goes as multipart/form-data fields, beside an image file

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}" + (f" [{self.label}]" if self.label else "")

    @property
    def route(self) -> tuple[str, str]:
        return self.method, _norm(self.path.split("?")[0])


CASES: list[Case] = [
    # users
    Case("GET", "/api/users/{user}"),
    Case("PATCH", "/api/users/{user}", {"role": "viewer", "display_name": "pwned"}),
    Case("DELETE", "/api/users/{user}"),
    # groups and their members
    Case("GET", "/api/groups/{group}"),
    Case("DELETE", "/api/groups/{group}"),
    Case("POST", "/api/groups/{group}/members", {"user_id": "{user}"}, "A's group, A's user"),
    Case("POST", "/api/groups/{group}/members", {"user_id": "{b_user}"}, "A's group, B's user"),
    Case("POST", "/api/groups/{b_group}/members", {"user_id": "{user}"}, "B's group, A's user"),
    Case("DELETE", "/api/groups/{group}/members/{user}", label="A's group, A's user"),
    Case("DELETE", "/api/groups/{b_group}/members/{user}", label="B's group, A's user"),
    # API keys
    Case("GET", "/api/keys/{key}"),
    Case("DELETE", "/api/keys/{key}"),
    Case("POST", "/api/keys", {"name": "stolen", "user_id": "{user}"}, "bound to A's user"),
    # models
    Case("DELETE", "/api/models/{model}", model=True),
    Case("GET", "/api/models/{model}/status", model=True),
    Case("GET", "/v1/models/{model}", model=True),
    Case("POST", "/v1/chat/completions", CHAT, model=True),
    Case("POST", "/v1/chat/completions", CHAT | {"stream": True}, "stream", model=True),
    Case("POST", "/v1/completions", COMPLETION, model=True),
    # stored responses: read, list, delete, or continue another tenant's → 404 as for none
    Case("POST", "/v1/responses", RESPONSE, model=True),
    Case("POST", "/v1/responses", RESPONSE | {"stream": True}, "stream", model=True),
    Case("GET", "/v1/responses/{resp}"),
    Case("GET", "/v1/responses/{resp}/input_items"),
    Case("DELETE", "/v1/responses/{resp}"),
    Case(
        "POST",
        "/v1/responses",
        RESPONSE | {"previous_response_id": "{resp}"},
        "previous_response_id",
    ),
    Case("POST", "/v1/responses/input_tokens", RESPONSE, model=True),
    Case(
        "POST",
        "/v1/responses/input_tokens",
        RESPONSE | {"previous_response_id": "{resp}"},
        "previous_response_id",
    ),
    # files
    Case("GET", "/v1/files/{file}"),
    Case("GET", "/v1/files/{file}/content"),
    Case("DELETE", "/v1/files/{file}"),
    # jobs
    Case("GET", "/api/jobs/{job}"),
    Case("POST", "/api/jobs/{job}/cancel"),
    # knowledge bases and their documents
    Case("GET", "/api/kb/{kb}"),
    Case("PATCH", "/api/kb/{kb}", {"name": "pwned", "access": [{"role": "viewer"}]}),
    Case("DELETE", "/api/kb/{kb}"),
    Case("GET", "/api/kb/{kb}/people?username={username}"),
    Case("POST", "/api/kb/{kb}/documents", {}),
    Case("POST", "/api/kb/{kb}/documents/url", {"url": "http://example.com/a.html"}),
    Case("GET", "/api/kb/{kb}/documents"),
    Case("GET", "/api/kb/{kb}/documents/{doc}"),
    Case("GET", "/api/kb/{kb}/documents/{doc}/content"),
    Case("GET", "/api/kb/{kb}/documents/{doc}/chunks"),
    Case("DELETE", "/api/kb/{kb}/documents/{doc}"),
    Case("POST", "/api/kb/{kb}/search", {"query": "confidential handbook"}),
    # guard: policies by name, watermark detection names a model
    Case("GET", "/api/policies/{policy}"),
    Case("DELETE", "/api/policies/{policy}"),
    Case("POST", "/api/watermark/detect", {"model": "{model}", "text": "hello"}, model=True),
    # conversations: one user's own, so B probes as a person
    Case("GET", "/api/conversations/{conv}", person=True),
    Case("PATCH", "/api/conversations/{conv}", {"title": "pwned"}, person=True),
    Case("DELETE", "/api/conversations/{conv}", person=True),
    Case(
        "POST",
        "/api/conversations/{conv}/messages",
        {"role": "user", "content": "pwned"},
        person=True,
    ),
    Case("PUT", "/api/conversations/{conv}/messages/{msg}/rating", {"rating": -1}, person=True),
    # images: every endpoint names a model, resolved before anything else is read
    Case("POST", "/v1/images/generations", {"model": "{model}", "prompt": "a 3"}, model=True),
    Case(
        "POST",
        "/api/images/interpolate",
        {"model": "{model}", "start": {"label": "1"}, "end": {"label": "6"}},
        model=True,
    ),
    Case(
        "POST",
        "/api/images/arithmetic",
        {"model": "{model}", "terms": [{"label": "3"}]},
        model=True,
    ),
    # OpenAI's multipart image routes: the model is looked up before the image is read
    Case("POST", "/v1/images/edits", {"model": "{model}", "prompt": "a 3"}, model=True, form=True),
    Case("POST", "/v1/images/variations", {"model": "{model}"}, model=True, form=True),
    Case("POST", "/api/images/caption", {"model": "{model}", "image": "AAAA"}, model=True),
    Case("POST", "/api/images/embeddings", {"model": "{model}", "input": ["a 3"]}, model=True),
    Case(
        "POST",
        "/api/images/classify",
        {"model": "{model}", "image": "AAAA", "labels": ["a", "b"]},
        model=True,
    ),
]
# Routes with an id but no API key: the expiring HMAC-signed link itself is the grant, so there
# is no tenant to cross (tests/images/test_images_api.py::test_url_links_are_signed_and_expire).
SIGNED_LINKS = {("GET", "/v1/images/files/{}")}

# Everything else under /api and /v1, each with its own cross-tenant test further down.
LISTS = {
    "/api/users",
    "/api/groups",
    "/api/keys",
    "/api/models",
    "/api/usage",
    "/api/audit",
    "/api/jobs",
    "/v1/models",
    "/v1/files",
    "/api/kb",
    "/api/policies",
    "/api/feedback",
}
CREATES = {  # POST without a path parameter → the test that covers it
    "/api/users": "test_tenant_admin_cannot_create_in_another_tenant_or_escalate",
    "/api/groups": "test_tenant_admin_cannot_create_in_another_tenant_or_escalate",
    "/api/keys": "test_tenant_admin_cannot_create_in_another_tenant_or_escalate",
    "/api/models": "test_same_names_in_another_tenant_are_no_oracle",
    "/v1/files": "test_files_uploaded_by_b_stay_in_b",
    "/api/kb": "tests/knowledge/test_api.py::test_isolation_other_tenant_and_user...",
    "/v1/embeddings": "tests/knowledge/test_api.py (text in, vectors out; no stored object)",
    "/api/train": "test_training_live.py::test_a_trains_on_its_files_and_b_sees_nothing",
    "/api/policies": "tests/guard/test_guard_live.py::test_policies_api (per caller's tenant)",
    "/api/feedback": "tests/guard/test_guard_live.py::test_feedback_export_per_tenant",
    "/v1/moderations": "tests/guard/test_guard_live.py (text in, scores out; no stored object)",
    "/api/provenance/verify": "tests/images/test_images_api.py (image in, verdict out; no lookup)",
    "/api/conversations": "test_conversations_are_the_callers_own",
}
SELF = {
    ("GET", "/api/me"),
    # the caller's tenant's feedback as JSONL: test_guard_live.py::test_feedback_export_per_tenant
    ("GET", "/api/feedback/export"),
    ("GET", "/api/conversations"),  # the caller's own: test_conversations_are_the_callers_own
}
PLATFORM = {  # and everything under /api/tenants: test_tenant_keys_cannot_reach_platform_endpoints
    ("GET", "/api/audit/verify"),
    ("PUT", "/api/platform/upstream-allowlist"),
}
# Platform settings every organization's admins may read, and the model families this server
# runs (code and parameter schemas): they hold no organization's data.
SHARED = {("GET", "/api/platform/upstream-allowlist"), ("GET", "/api/families")}


# --- org A's objects -----------------------------------------------------------------------


@dataclass
class World:
    a: Org
    b: Org
    ids: dict[str, str]  # placeholder → value (A's objects and B's own)
    secrets_of_a: set[str]  # strings that must never reach B
    a_key_ids: set[str]
    before: dict[str, Any] = field(default_factory=dict)
    file_bytes: bytes = b""
    created_key_secret: str = ""
    b_person_keys: dict[str, str] = field(default_factory=dict)  # role → key bound to b_user


def _ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json()


def _insert_job(server: Server, tenant_id: str) -> str:
    """No feature endpoint submits jobs yet: put A's job straight into the server's database.

    Its kind has no handler, so the server's job runner leaves it queued.
    """
    job_id = f"job_{secrets.token_hex(8)}"
    engine = create_engine(f"sqlite:///{server.data_dir / 'aigc.db'}")
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO jobs (id, tenant_id, kind, status, params, progress, message, "
                    "cancel_requested, attempts, created_at) VALUES (:id, :tenant, "
                    "'cross-tenant-probe', 'queued', :params, 0.0, 'a-secret-job', 0, 0, :now)"
                ),
                {
                    "id": job_id,
                    "tenant": tenant_id,
                    "params": json.dumps({"secret": "a-secret-param"}),
                    "now": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
                },
            )
    finally:
        engine.dispose()
    return job_id


def _job_row(server: Server, job_id: str) -> dict[str, Any]:
    engine = create_engine(f"sqlite:///{server.data_dir / 'aigc.db'}")
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT tenant_id, status, cancel_requested FROM jobs WHERE id = :id"),
                {"id": job_id},
            ).mappings()
            found = row.first()
            assert found is not None, f"job {job_id} is gone"
            return dict(found)
    finally:
        engine.dispose()


def _snapshot(server: Server, w: World) -> dict[str, Any]:
    """A's objects as A itself sees them."""
    key = w.a.admin_key
    ids = w.ids
    snap: dict[str, Any] = {
        "user": _ok(server.api("GET", f"/api/users/{ids['user']}", key=key)),
        "group": _ok(server.api("GET", f"/api/groups/{ids['group']}", key=key)),
        "key": _ok(server.api("GET", f"/api/keys/{ids['key']}", key=key)),
        "model": _ok(server.api("GET", f"/v1/models/{ids['model']}", key=key)),
    }
    snap["file"] = _ok(server.api("GET", f"/v1/files/{ids['file']}", key=key))
    content = server.api("GET", f"/v1/files/{ids['file']}/content", key=key)
    assert content.status_code == 200, content.text
    snap["file_content"] = content.content
    snap["job"] = _ok(server.api("GET", f"/api/jobs/{ids['job']}", key=key))["id"]
    snap["policy"] = _ok(server.api("GET", f"/api/policies/{ids['policy']}", key=key))
    row = _job_row(server, ids["job"])  # its status is the job runner's; not B's to change
    snap["job_row"] = {k: row[k] for k in ("tenant_id", "cancel_requested")}
    kb = f"/api/kb/{ids['kb']}"
    snap["kb"] = _ok(server.api("GET", kb, key=key))
    snap["kb_documents"] = _ok(server.api("GET", f"{kb}/documents", key=key))
    snap["kb_chunks"] = _ok(server.api("GET", f"{kb}/documents/{ids['doc']}/chunks", key=key))
    snap["conv"] = _ok(
        server.api("GET", f"/api/conversations/{ids['conv']}", key=w.created_key_secret)
    )
    snap["resp"] = _ok(server.api("GET", f"/v1/responses/{ids['resp']}", key=key))
    snap["resp_items"] = _ok(server.api("GET", f"/v1/responses/{ids['resp']}/input_items", key=key))
    return snap


@pytest.fixture(scope="module")
def world(server: Server, org_a: Org, org_b: Org) -> World:
    tag = secrets.token_hex(4)
    a = org_a.admin_key
    user = _ok(
        server.api(
            "POST",
            "/api/users",
            key=a,
            json={
                "username": f"a-secret-user-{tag}",
                "password": "correct horse battery",
                "display_name": f"A Secret Person {tag}",
            },
        ),
        201,
    )
    group = _ok(
        server.api("POST", "/api/groups", key=a, json={"name": f"a-secret-group-{tag}"}), 201
    )
    _ok(
        server.api(
            "POST", f"/api/groups/{group['id']}/members", key=a, json={"user_id": user["id"]}
        ),
        201,
    )
    key = _ok(
        server.api(
            "POST",
            "/api/keys",
            key=a,
            json={"name": f"a-secret-key-{tag}", "role": "member", "user_id": user["id"]},
        ),
        201,
    )
    existing = server.api("GET", f"/v1/models/{A_MODEL}", key=a)
    if existing.status_code == 404:
        _ok(
            server.api(
                "POST",
                "/api/models",
                key=a,
                json={"id": A_MODEL, "config": {"yaml": _template("A")}},
            ),
            201,
        )
    # A uses its model, so A has usage rows naming its key and model.
    used = _ok(
        server.api(
            "POST", "/v1/chat/completions", key=key["key"], json=_fill(CHAT, {"model": A_MODEL})
        )
    )
    assert used["choices"][0]["message"]["content"] == "Hello from A!"

    file_bytes = f"A's confidential file {tag}\n".encode()
    uploaded = server.api(
        "POST",
        "/v1/files",
        key=a,
        files={"file": (f"a-secret-{tag}.txt", file_bytes, "text/plain")},
        data={"purpose": "user_data"},
    )
    assert uploaded.status_code in (200, 201), uploaded.text
    file_id = uploaded.json()["id"]
    job_id = _insert_job(server, org_a.id)
    kb = _ok(
        server.api("POST", "/api/kb", key=a, json={"name": f"a-secret-kb-{tag}", "dense": False}),
        201,
    )
    kb_doc = f"a-secret-doc-{tag}.md"
    added = _ok(
        server.api(
            "POST",
            f"/api/kb/{kb['id']}/documents",
            key=a,
            files={"files": (kb_doc, b"# Handbook\n\nA's confidential handbook.", "text/markdown")},
        )
    )
    for _ in range(600):  # the server's job runner ingests it
        state = _ok(server.api("GET", f"/api/jobs/{added['job']['id']}", key=a))["status"]
        if state in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    assert state == "succeeded", state

    policy = _ok(
        server.api(
            "POST",
            "/api/policies",
            key=a,
            json={"yaml": f"name: a-secret-policy-{tag}\nrules: []\n", "enabled": False},
        ),
        201,
    )
    _ok(
        server.api(
            "POST",
            "/api/feedback",
            key=a,
            json={"request_id": f"a-secret-feedback-{tag}", "rating": 1, "prompt": "A's prompt"},
        ),
        201,
    )

    conversation = _ok(
        server.api(
            "POST",
            "/api/conversations",
            key=key["key"],
            json={"title": f"a-secret-conversation-{tag}"},
        ),
        201,
    )
    question = _ok(
        server.api(
            "POST",
            f"/api/conversations/{conversation['id']}/messages",
            key=key["key"],
            json={"role": "user", "content": f"a-secret-question-{tag}"},
        ),
        201,
    )

    response = _ok(
        server.api(
            "POST",
            "/v1/responses",
            key=a,
            json={
                "model": A_MODEL,
                "input": f"hello a-secret-response-{tag}",
                "max_output_tokens": 8,
            },
        )
    )
    assert response["output"][0]["content"][0]["text"] == "Hello from A!"

    b = org_b.admin_key
    b_user = _ok(
        server.api(
            "POST",
            "/api/users",
            key=b,
            # An admin, so keys of both roles can be bound to them: a key is never above its
            # user's role (issue 14, defect 8).
            json={
                "username": f"b-user-{tag}",
                "password": "correct horse battery",
                "role": "admin",
            },
        ),
        201,
    )
    b_group = _ok(server.api("POST", "/api/groups", key=b, json={"name": f"b-group-{tag}"}), 201)
    b_person_keys = {
        role: _ok(
            server.api(
                "POST",
                "/api/keys",
                key=b,
                json={"name": f"b-{role}-person", "role": role, "user_id": b_user["id"]},
            ),
            201,
        )["key"]
        for role in ("admin", "member")
    }

    # A's SSO provider: only the platform admin configures one (B's keys, and A's own, get 403)
    sso = _ok(
        server.api(
            "POST",
            f"/api/tenants/{org_a.id}/sso/providers",
            json={
                "name": f"a-secret-idp-{tag}",
                "issuer": f"https://idp-{tag}.a-secret.example",
                "client_id": f"a-secret-client-{tag}",
                "client_secret": f"a-secret-client-secret-{tag}",
                "rules": [{"claim": "groups", "value": f"a-secret-claim-{tag}", "role": "admin"}],
            },
        ),
        201,
    )

    a_keys = _ok(server.api("GET", "/api/keys", key=a))["data"]
    w = World(
        a=org_a,
        b=org_b,
        ids={
            "user": user["id"],
            "username": user["username"],
            "group": group["id"],
            "key": key["id"],
            "model": A_MODEL,
            "file": file_id,
            "job": job_id,
            "kb": kb["id"],
            "doc": added["data"][0]["id"],
            "policy": policy["name"],
            "conv": conversation["id"],
            "msg": question["id"],
            "resp": response["id"],
            "b_user": b_user["id"],
            "b_group": b_group["id"],
            "sso": sso["id"],
        },
        secrets_of_a={
            org_a.id,
            user["id"],
            user["username"],
            user["display_name"],
            group["id"],
            group["name"],
            key["id"],
            key["name"],
            key["prefix"],
            A_MODEL,
            file_id,
            f"a-secret-{tag}.txt",
            job_id,
            "a-secret-job",
            "a-secret-param",
            kb["id"],
            kb["name"],
            kb_doc,
            added["data"][0]["id"],
            policy["id"],
            policy["name"],
            f"a-secret-feedback-{tag}",
            conversation["id"],
            f"a-secret-conversation-{tag}",
            f"a-secret-question-{tag}",
            response["id"],
            f"a-secret-response-{tag}",
            sso["id"],
            sso["name"],
            sso["client_id"],
            f"a-secret-client-secret-{tag}",
            f"a-secret-claim-{tag}",
            *(k["id"] for k in a_keys),
            *(k["prefix"] for k in a_keys),
        },
        a_key_ids={k["id"] for k in a_keys},
        file_bytes=file_bytes,
        created_key_secret=key["key"],
        b_person_keys=b_person_keys,
    )
    w.before = _snapshot(server, w)
    return w


# --- helpers -------------------------------------------------------------------------------


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], value)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _fake(value: str) -> str:
    """A well-formed id of the same kind that does not exist."""
    m = re.fullmatch(r"(.*?)([0-9a-f]{16,})", value)
    if m:
        return m.group(1) + secrets.token_hex(len(m.group(2)) // 2)
    return f"{value.split('-', 1)[0]}-nonexistent-{secrets.token_hex(4)}"


def _envelope(resp: httpx.Response) -> dict[str, Any]:
    body = resp.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


def _scrub(resp: httpx.Response, ids: dict[str, str], used: set[str]) -> str:
    out = resp.text
    for name in sorted(used, key=lambda n: -len(ids[n])):
        out = out.replace(ids[name], f"<{name}>")
    return out


def _body(case: Case, ids: dict[str, str]) -> dict[str, Any]:
    """The request's body: JSON, or (``form``) its fields as a form beside an image file (an
    8×8 PNG whose bottom half is transparent: one an edit or a variation would take)."""
    if not case.form:
        return {"json": _fill(case.body, ids)}
    out = io.BytesIO()
    pixels = [(0, 0, 0, 255 if i < 32 else 0) for i in range(64)]
    image = Image.new("RGBA", (8, 8))
    image.putdata(pixels)
    image.save(out, "PNG")
    return {"data": _fill(case.body, ids), "files": {"image": ("a.png", out.getvalue())}}


def _b_key(w: World, case: Case, role: str) -> str:
    if case.person:
        return w.b_person_keys[role]
    return w.b.admin_key if role == "admin" else w.b.member_key


def _probe(server: Server, w: World, case: Case, key: str, role: str) -> None:
    """B's key on A's object answers exactly as on an object that does not exist."""
    used = set(re.findall(r"\{(\w+)\}", case.path + json.dumps(case.body or {})))
    mine = {n for n in used if n in A_PLACEHOLDERS}
    fakes = {n: (_fake(v) if n in mine else v) for n, v in w.ids.items()}

    real = server.api(case.method, _fill(case.path, w.ids), key=key, **_body(case, w.ids))
    ghost = server.api(case.method, _fill(case.path, fakes), key=key, **_body(case, fakes))
    where = f"{role} key, {case.id}"
    error = _envelope(real)
    _envelope(ghost)
    assert real.status_code == ghost.status_code, f"{where}: {real.text} vs {ghost.text}"
    assert _scrub(real, w.ids, mine) == _scrub(ghost, fakes, mine), where
    if role == "admin":
        assert real.status_code == 404, f"{where}: {real.status_code} {real.text}"
    else:
        # A member is refused admin-only actions before any lookup: the same 403 for every id.
        assert real.status_code in (403, 404), f"{where}: {real.status_code} {real.text}"
    if real.status_code == 404:
        assert error["type"] == "invalid_request_error", where
        if case.model:
            assert error["code"] == "model_not_found", where
    else:
        assert error["type"] == "permission_error", where
    leaked = {s for s in w.secrets_of_a - {w.ids[n] for n in mine} if s in real.text}
    assert not leaked, f"{where}: answer names {leaked}"


# --- 1. B's keys on every endpoint with one of A's objects ---------------------------------


@pytest.mark.parametrize("role", ["admin", "member"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_b_gets_not_found_on_a_objects(server: Server, world: World, case: Case, role: str) -> None:
    _probe(server, world, case, _b_key(world, case, role), role)


def test_a_objects_intact_after_the_whole_table(server: Server, world: World) -> None:
    for case in CASES:
        _probe(server, world, case, _b_key(world, case, "admin"), "admin")
        _probe(server, world, case, _b_key(world, case, "member"), "member")
    after = _snapshot(server, world)
    assert after == world.before
    assert after["user"]["role"] == "member"
    assert after["group"]["members"] == [world.ids["user"]]
    assert after["key"]["revoked_at"] is None
    assert after["job_row"] == {"tenant_id": world.a.id, "cancel_requested": False}
    assert _job_row(server, world.ids["job"])["status"] not in ("cancelled", "canceled")
    assert after["file_content"] == world.file_bytes
    # A's key still works, and A's model still answers A.
    reply = _ok(
        server.api(
            "POST",
            "/v1/chat/completions",
            key=world.created_key_secret,
            json=_fill(CHAT, world.ids),
        )
    )
    assert reply["choices"][0]["message"]["content"] == "Hello from A!"


def test_a_reaches_its_own_objects(server: Server, world: World) -> None:
    """Positive control: the same GETs succeed for A, so B's 404s are not a broken endpoint."""
    for case in CASES:
        if case.method != "GET" or "{b_" in case.path:
            continue
        key = world.created_key_secret if case.person else world.a.admin_key
        resp = server.api("GET", _fill(case.path, world.ids), key=key)
        assert resp.status_code == 200, f"{case.id}: {resp.text}"


# --- 2. the table covers every route ------------------------------------------------------


def test_every_route_is_classified() -> None:
    """Every /api and /v1 route has a cross-tenant case here, or this fails naming it."""
    covered = {c.route for c in CASES}
    missing = []
    for r in ROUTES:
        if not r.path.startswith(("/api/", "/v1/")):
            continue
        if r.path in ("/v1/{path:path}", "/api/{path:path}"):
            continue  # the JSON 404 for unknown URLs (in front of the console): holds nothing
        norm = _norm(r.path)
        if norm == PLATFORM_PREFIX or norm.startswith(PLATFORM_PREFIX + "/"):
            continue  # platform endpoints: test_tenant_keys_cannot_reach_platform_endpoints
        if "{" in norm:
            ok = (r.method, norm) in covered | SIGNED_LINKS
        elif r.method == "GET":
            ok = norm in LISTS or (r.method, norm) in SELF | PLATFORM | SHARED
        elif r.method == "POST":
            ok = (r.method, norm) in covered or norm in CREATES
        else:
            ok = (r.method, norm) in PLATFORM
        if not ok:
            missing.append(f"{r.method} {r.path}")
    assert not missing, f"routes without a cross-tenant case in this file: {missing}"


def test_table_has_no_stale_cases() -> None:
    for case in CASES:
        assert case.route in SERVED, f"{case.id} is not a route of the app"


# --- 3. lists -------------------------------------------------------------------------------


def _list_paths() -> list[str]:
    paths = sorted(LISTS)
    return [p + "?group_by=day,key_id,model" if p == "/api/usage" else p for p in paths]


def _b_key_ids(server: Server, w: World) -> set[str]:
    return {k["id"] for k in _ok(server.api("GET", "/api/keys", key=w.b.admin_key))["data"]}


def test_nothing_of_a_in_b_lists(server: Server, world: World) -> None:
    b_keys = _b_key_ids(server, world)
    assert not b_keys & world.a_key_ids
    for path in _list_paths():
        for key in (world.b.admin_key, world.b.member_key):
            resp = server.api("GET", path, key=key)
            if key == world.b.member_key and resp.status_code == 403:
                continue  # an admin-only list
            body = _ok(resp)
            assert isinstance(body["data"], list), path
            if path.startswith(("/api/usage", "/api/audit")):
                # B may itself have named A's model (and got 404s); every row is still B's.
                assert {row["key_id"] for row in body["data"]} <= b_keys, body
                text_ = json.dumps([{**r, "model": None} for r in body["data"]])
            else:
                text_ = resp.text
            leaked = {s for s in world.secrets_of_a if s in text_}
            assert not leaked, f"{path} shows B {leaked}"


def test_b_cannot_name_a_tenant_on_lists(server: Server, world: World) -> None:
    for path in _list_paths():
        sep = "&" if "?" in path else "?"
        resp = server.api("GET", f"{path}{sep}tenant_id={world.a.id}", key=world.b.admin_key)
        base = path.split("?")[0]
        if _accepts_tenant_id("GET", base):
            assert resp.status_code == 403, f"{path}: {resp.text}"
            assert _envelope(resp)["type"] == "permission_error"
        else:  # not a parameter of this endpoint: ignored, and B gets its own list
            assert resp.status_code == 200, f"{path}: {resp.text}"
        leaked = {s for s in world.secrets_of_a - {world.a.id} if s in resp.text}
        assert not leaked, f"{path}: {leaked}"


def test_a_sees_its_own_usage(server: Server, world: World) -> None:
    """Positive control for the usage check: A's own rows, with A's key and model, exist."""
    deadline = time.monotonic() + 10
    while True:
        rows = _ok(server.api("GET", "/api/usage?group_by=key_id,model", key=world.a.admin_key))[
            "data"
        ]
        if any(r["key_id"] == world.ids["key"] and r["model"] == A_MODEL for r in rows):
            break
        assert time.monotonic() < deadline, rows
        time.sleep(0.2)


def test_platform_admin_sees_a(server: Server, world: World) -> None:
    """Positive control: the platform admin names A and sees A's objects."""
    users = _ok(server.api("GET", f"/api/users?tenant_id={world.a.id}"))["data"]
    assert world.ids["user"] in {u["id"] for u in users}
    groups = _ok(server.api("GET", f"/api/groups?tenant_id={world.a.id}"))["data"]
    assert world.ids["group"] in {g["id"] for g in groups}
    keys = _ok(server.api("GET", f"/api/keys?tenant_id={world.a.id}"))["data"]
    assert world.ids["key"] in {k["id"] for k in keys}
    assert _ok(server.api("GET", f"/api/users/{world.ids['user']}"))["tenant_id"] == world.a.id


# --- 4. platform endpoints ------------------------------------------------------------------


def _platform_calls(w: World) -> list[tuple[str, str, dict[str, Any] | None]]:
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/api/tenants", None),
        ("POST", "/api/tenants", {"name": f"rogue-{secrets.token_hex(4)}"}),
        ("GET", "/api/audit/verify", None),
        ("PUT", "/api/platform/upstream-allowlist", {"patterns": ["https://*", "http://*"]}),
    ]
    idp = {
        "name": "rogue",
        "issuer": "https://rogue.example",
        "client_id": "rogue",
        "client_secret": "rogue",
        "default_role": "owner",
    }
    for tenant in (w.a.id, w.b.id):
        patch = {"disabled": True, "daily_token_budget": 1, "passwords_disabled": True}
        calls += [
            ("GET", f"/api/tenants/{tenant}", None),
            ("PATCH", f"/api/tenants/{tenant}", patch),
            ("DELETE", f"/api/tenants/{tenant}", None),
            # SSO providers: A's, named under A's organization and under B's
            ("GET", f"/api/tenants/{tenant}/sso/providers", None),
            ("POST", f"/api/tenants/{tenant}/sso/providers", idp),
        ]
        one = f"/api/tenants/{tenant}/sso/providers/{w.ids['sso']}"
        calls += [
            ("GET", one, None),
            ("PATCH", one, {"issuer": "https://rogue.example", "default_role": "owner"}),
            ("DELETE", one, None),
            ("POST", f"{one}/test", None),
            ("POST", f"{one}/preview", {"claims": {"groups": ["x"]}}),
        ]
    return calls


@pytest.mark.parametrize("who", ["b_admin", "b_member", "a_admin"])
def test_tenant_keys_cannot_reach_platform_endpoints(
    server: Server, world: World, who: str
) -> None:
    key = {"b_admin": world.b.admin_key, "b_member": world.b.member_key}.get(who, world.a.admin_key)
    for method, path, body in _platform_calls(world):
        resp = server.api(method, path, key=key, json=body)
        assert resp.status_code == 403, f"{who} {method} {path}: {resp.text}"
        assert _envelope(resp)["type"] == "permission_error"
    # Nothing changed: both organizations are as they were, the allow-list too.
    assert _ok(server.api("GET", "/api/platform/upstream-allowlist"))["patterns"] == []
    for org, name in ((world.a, "Org A"), (world.b, "Org B")):
        tenant = _ok(server.api("GET", f"/api/tenants/{org.id}"))
        assert tenant["name"] == name and not tenant["disabled"]
        assert tenant["daily_token_budget"] is None and not tenant["passwords_disabled"]
    # A's SSO provider is as the platform admin made it, and B's organization has none.
    sso = _ok(server.api("GET", f"/api/tenants/{world.a.id}/sso/providers/{world.ids['sso']}"))
    assert sso["issuer"].endswith(".a-secret.example") and sso["default_role"] == "member"
    assert _ok(server.api("GET", f"/api/tenants/{world.b.id}/sso/providers"))["data"] == []


def test_sso_provider_is_found_only_under_its_organization(server: Server, world: World) -> None:
    """Even the platform admin reaches A's provider only under A's path: under B's it is a 404,
    with the same message as a provider that does not exist; no answer holds the secret."""
    under_b = f"/api/tenants/{world.b.id}/sso/providers/{world.ids['sso']}"
    missing = f"/api/tenants/{world.b.id}/sso/providers/sso_{'0' * 16}"
    for suffix, method, body in (
        ("", "GET", None),
        ("", "PATCH", {"name": "moved"}),
        ("/test", "POST", None),
        ("/preview", "POST", {"claims": {}}),
        ("", "DELETE", None),
    ):
        resp = server.api(method, under_b + suffix, json=body)
        twin = server.api(method, missing + suffix, json=body)
        assert resp.status_code == twin.status_code == 404, resp.text
        assert _envelope(resp)["message"].replace(world.ids["sso"], "X") == _envelope(twin)[
            "message"
        ].replace(f"sso_{'0' * 16}", "X")
    own = server.api("GET", f"/api/tenants/{world.a.id}/sso/providers")
    assert _ok(own)["data"][0]["id"] == world.ids["sso"]
    assert "a-secret-client-secret" not in own.text and "has_client_secret" in own.text


def test_tenant_admin_cannot_create_in_another_tenant_or_escalate(
    server: Server, world: World
) -> None:
    b, a_id = world.b.admin_key, world.a.id
    tag = secrets.token_hex(4)
    denied = [
        ("/api/keys", {"name": f"x-{tag}", "tenant_id": a_id}),
        ("/api/users", {"username": f"x-{tag}", "password": "long enough", "tenant_id": a_id}),
        ("/api/groups", {"name": f"x-{tag}", "tenant_id": a_id}),
        ("/api/keys", {"name": f"o-{tag}", "role": "owner"}),
        ("/api/users", {"username": f"o-{tag}", "password": "long enough", "role": "owner"}),
        (
            "/api/models",
            {"id": "template-b-shared", "config": {"yaml": _template("B")}, "shared": True},
        ),
        ("/api/models", {"id": "template-b-path", "config": {"path": "/etc/passwd"}}),
    ]
    for path, body in denied:
        resp = server.api("POST", path, key=b, json=body)
        assert resp.status_code == 403, f"{path} {body}: {resp.text}"
        assert _envelope(resp)["type"] == "permission_error"
        assert not {s for s in world.secrets_of_a - {a_id} if s in resp.text}
    not_a_field = [
        ("/api/keys", {"name": f"p-{tag}", "platform_admin": True}),
        ("/api/users", {"username": f"p-{tag}", "password": "long enough", "platform_admin": True}),
        ("/api/users/" + world.ids["b_user"], {"platform_admin": True}),
    ]
    for path, body in not_a_field:
        method = "PATCH" if path.startswith("/api/users/") else "POST"
        resp = server.api(method, path, key=b, json=body)
        assert resp.status_code == 400, f"{path} {body}: {resp.text}"
        assert _envelope(resp)["param"] == "platform_admin"
    # None of those attempts left anything behind in A.
    users = _ok(server.api("GET", f"/api/users?tenant_id={a_id}"))["data"]
    assert not [u for u in users if u["username"].endswith(tag)]
    keys = _ok(server.api("GET", f"/api/keys?tenant_id={a_id}"))["data"]
    assert not [k for k in keys if k["name"].endswith(tag)]
    b_keys = _ok(server.api("GET", "/api/keys", key=b))["data"]
    assert not [k for k in b_keys if k["name"].endswith(tag) or k["platform_admin"]]


# --- 5. creates: no existence oracle, nothing lands in the other tenant ---------------------


def test_same_names_in_another_tenant_are_no_oracle(server: Server, world: World) -> None:
    """B may use A's group and model names freely: a 409 would tell B that A has them."""
    b = world.b.admin_key
    a_group = _ok(server.api("GET", f"/api/groups/{world.ids['group']}", key=world.a.admin_key))
    group = _ok(server.api("POST", "/api/groups", key=b, json={"name": a_group["name"]}), 201)
    model = server.api(
        "POST", "/api/models", key=b, json={"id": A_MODEL, "config": {"yaml": _template("B")}}
    )
    try:
        assert model.status_code == 201, model.text
        assert model.json()["owned_by"] == world.b.id
        chat = _fill(CHAT, world.ids)
        assert (
            _ok(server.api("POST", "/v1/chat/completions", key=world.b.member_key, json=chat))[
                "choices"
            ][0]["message"]["content"]
            == "Hello from B!"
        )
    finally:
        _ok(server.api("DELETE", f"/api/groups/{group['id']}", key=b))
        if model.status_code == 201:
            _ok(server.api("DELETE", f"/api/models/{A_MODEL}", key=b))
    # B's delete took B's model, not A's.
    assert server.api("GET", f"/v1/models/{A_MODEL}", key=b).status_code == 404
    reply = _ok(server.api("POST", "/v1/chat/completions", key=world.a.member_key, json=chat))
    assert reply["choices"][0]["message"]["content"] == "Hello from A!"
    # Usernames are one namespace for sign-in, so a taken name is a 409 across tenants; the
    # answer names nothing but the username B itself sent.
    a_user = _ok(server.api("GET", f"/api/users/{world.ids['user']}", key=world.a.admin_key))
    taken = server.api(
        "POST",
        "/api/users",
        key=b,
        json={"username": a_user["username"], "password": "long enough"},
    )
    assert taken.status_code == 409, taken.text
    leaked = {s for s in world.secrets_of_a - {a_user["username"]} if s in taken.text}
    assert not leaked


def test_conversations_are_the_callers_own(server: Server, world: World) -> None:
    """B's people list and search only their own; a key with no user is refused, naming nothing."""
    a_title = next(s for s in world.secrets_of_a if s.startswith("a-secret-conversation-"))
    for key in world.b_person_keys.values():
        for query in ("", f"?q={a_title}", "?q=a-secret"):
            listed = server.api("GET", f"/api/conversations{query}", key=key)
            assert _ok(listed)["data"] == [], listed.text
    made = _ok(server.api("POST", "/api/conversations", key=world.b_person_keys["member"]), 201)
    try:
        assert (
            made["id"]
            not in server.api("GET", "/api/conversations", key=world.created_key_secret).text
        )
        for key in (world.b.admin_key, world.b.member_key):  # no person behind these keys
            for method, path in (("GET", "/api/conversations"), ("POST", "/api/conversations")):
                resp = server.api(method, path, key=key, json={})
                assert resp.status_code == 403, resp.text
                assert _envelope(resp)["code"] == "user_required"
                assert not {s for s in world.secrets_of_a if s in resp.text}
    finally:
        deleted = server.api(
            "DELETE", f"/api/conversations/{made['id']}", key=world.b_person_keys["member"]
        )
        _ok(deleted)
    mine = _ok(server.api("GET", "/api/conversations", key=world.created_key_secret))["data"]
    assert [c["id"] for c in mine] == [world.ids["conv"]]


def test_files_uploaded_by_b_stay_in_b(server: Server, world: World) -> None:
    uploaded = server.api(
        "POST",
        "/v1/files",
        key=world.b.member_key,
        files={"file": ("b.txt", b"B's own bytes\n", "text/plain")},
        data={"purpose": "user_data"},
    )
    assert uploaded.status_code in (200, 201), uploaded.text
    file_id = uploaded.json()["id"]
    try:
        listed = _ok(server.api("GET", "/v1/files", key=world.a.admin_key))["data"]
        assert file_id not in {f["id"] for f in listed}
        assert world.ids["file"] in {f["id"] for f in listed}
        for suffix in ("", "/content"):
            resp = server.api("GET", f"/v1/files/{file_id}{suffix}", key=world.a.admin_key)
            assert resp.status_code == 404, resp.text
    finally:
        _ok(server.api("DELETE", f"/v1/files/{file_id}", key=world.b.member_key))
