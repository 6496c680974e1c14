"""Issue 14, defects 9-12 through a live `aigc serve`: KB grant levels, a refused upload that
writes nothing, bounded log and audit fields, private data files, job results without server
paths, and the key's model allow-list on /v1/embeddings (through the openai SDK)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.server import Org, Server, make_org, new_admin_key

PLANTED = "leak.me@example.com"
TEXT = "# Travel\n\nHotels are booked through the travel portal at company rates.\n"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server started from a shell whose umask is 022, as most are."""
    old = os.umask(0o022)
    try:
        server = Server(tmp_path_factory.mktemp("exposure") / "data", new_admin_key()).start()
    finally:
        os.umask(old)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def org(srv: Server) -> Org:
    return make_org(srv, "Exposure A")


def _person(srv: Server, org: Org, name: str, role: str) -> tuple[str, str]:
    user = srv.api(
        "POST",
        "/api/users",
        key=org.admin_key,
        json={"username": f"{name}-{org.id}", "password": "a-long-password-1", "role": role},
    )
    assert user.status_code == 201, user.text
    key = srv.api(
        "POST",
        "/api/keys",
        key=org.admin_key,
        json={"role": role, "name": name, "user_id": user.json()["id"]},
    )
    assert key.status_code == 201, key.text
    return user.json()["id"], key.json()["key"]


def _upload(srv: Server, key: str, kb: str, name: str = "travel.md") -> Any:
    files = [("files", (name, TEXT.encode(), "text/markdown"))]
    return srv.api("POST", f"/api/kb/{kb}/documents", key=key, files=files)


def test_a_write_grant_cannot_delete_the_kb_or_change_its_access(srv: Server, org: Org) -> None:
    _, writer = _person(srv, org, "writer", "member")
    kb = srv.api("POST", "/api/kb", key=org.admin_key, json={"name": "shared", "dense": False})
    kb_id = kb.json()["id"]
    assert srv.api("GET", f"/api/kb/{kb_id}", key=writer).json()["my_access"] == "write"
    lock_out = {"access": [{"user": "nobody", "access": "manage"}]}
    assert srv.api("PATCH", f"/api/kb/{kb_id}", key=writer, json=lock_out).status_code == 403
    assert srv.api("DELETE", f"/api/kb/{kb_id}", key=writer).status_code == 403
    uploaded = _upload(srv, writer, kb_id)
    assert uploaded.status_code == 200, uploaded.text
    assert srv.wait_job(writer, uploaded.json()["job"]["id"], timeout=120)["status"] == "succeeded"
    doc = uploaded.json()["data"][0]["id"]
    assert srv.api("DELETE", f"/api/kb/{kb_id}/documents/{doc}", key=writer).status_code == 200
    assert srv.api("DELETE", f"/api/kb/{kb_id}", key=org.admin_key).status_code == 200


def test_a_refused_upload_leaves_no_document(srv: Server, org: Org) -> None:
    viewer_id, viewer = _person(srv, org, "viewer", "viewer")
    grants = [{"user": viewer_id, "access": "write"}]
    kb = srv.api(
        "POST", "/api/kb", key=org.admin_key, json={"name": "hr", "dense": False, "access": grants}
    ).json()["id"]
    refused = _upload(srv, viewer, kb)
    assert refused.status_code == 403, refused.text
    assert srv.api("GET", f"/api/kb/{kb}/documents", key=org.admin_key).json()["data"] == []
    # The admin's upload of the same file is a fresh document, indexed by its job.
    again = _upload(srv, org.admin_key, kb)
    assert again.status_code == 200 and again.json()["data"][0]["changed"] is True
    assert (
        srv.wait_job(org.admin_key, again.json()["job"]["id"], timeout=120)["status"] == "succeeded"
    )


def test_a_huge_model_name_is_bounded_in_the_log_and_the_audit(srv: Server, org: Org) -> None:
    limit = 8 * 1024 * 1024  # the default body limit; the name takes nearly all of it
    name = "\x1b[31m" + PLANTED + " " + "m" * (limit - 2000)
    res = srv.api(
        "POST",
        "/v1/chat/completions",
        key=org.member_key,
        json={"model": name, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert res.status_code in (400, 404, 413), res.text[:300]
    assert len(res.content) < 10_000 and PLANTED not in res.text
    time.sleep(1.5)  # the audit writer flushes in the background
    lines = [line for line in srv.logs().splitlines() if "/v1/chat/completions" in line]
    assert lines and all(len(line) < 2000 for line in lines), max(map(len, lines))
    assert PLANTED not in srv.logs() and "\x1b" not in srv.logs()
    entry = json.loads(lines[-1])
    assert entry.get("model") is None or len(entry["model"]) <= 200
    db = sqlite3.connect(f"file:{srv.data_dir / 'aigc.db'}?mode=ro", uri=True)
    try:
        models = [m for (m,) in db.execute("SELECT model FROM audit_records") if m]
    finally:
        db.close()
    assert all(len(m) <= 200 and PLANTED not in m and "\x1b" not in m for m in models)


def test_the_data_directory_and_database_are_private(srv: Server) -> None:
    assert stat.S_IMODE(srv.data_dir.stat().st_mode) == 0o700
    for name in ("aigc.db", "aigc.db-wal", "aigc.db-shm", "secret.key"):
        path = srv.data_dir / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    assert (srv.data_dir / "aigc.db").exists()


def test_job_results_name_models_not_server_paths(srv: Server, org: Org) -> None:
    data_dir = str(srv.data_dir)
    kb = srv.api("POST", "/api/kb", key=org.admin_key, json={"name": "paths", "dense": False})
    ingest = srv.wait_job(
        org.admin_key,
        _upload(srv, org.admin_key, kb.json()["id"]).json()["job"]["id"],
        timeout=120,
    )
    assert ingest["status"] == "succeeded" and data_dir not in json.dumps(ingest)
    file = srv.api(
        "POST",
        "/v1/files",
        key=org.member_key,
        files={"file": ("corpus.txt", (TEXT * 40).encode(), "text/plain")},
        data={"purpose": "training"},
    )
    assert file.status_code in (200, 201), file.text
    body = {"family": "ngram", "name": "ngram-paths", "file_ids": [file.json()["id"]]}
    started = srv.api("POST", "/api/train", key=org.member_key, json=body)
    assert started.status_code == 202, started.text
    done = srv.wait_job(org.member_key, started.json()["job"]["id"], timeout=120)
    assert done["status"] == "succeeded", done
    assert data_dir not in json.dumps(done) and "path" not in done["result"]
    assert done["result"]["model"] == "ngram-paths"
    listed = srv.api("GET", "/api/jobs", key=org.admin_key).text
    assert data_dir not in listed


def test_the_model_allow_list_holds_on_embeddings(srv: Server, org: Org) -> None:
    served = srv.api(
        "POST", "/v1/embeddings", key=org.member_key, json={"model": "default", "input": "x"}
    )
    assert served.status_code == 200, served.text
    model = served.json()["model"]
    limited = srv.api(
        "POST", "/api/keys", key=org.admin_key, json={"allowed_models": ["x"]}
    ).json()["key"]
    client = srv.sdk(limited)
    for name in (model, "default"):
        with pytest.raises(openai.PermissionDeniedError) as denied:
            client.embeddings.create(model=name, input="hello")
        assert denied.value.status_code == 403
    allowed = srv.api(
        "POST", "/api/keys", key=org.admin_key, json={"allowed_models": [model]}
    ).json()["key"]
    ok = srv.sdk(allowed)
    assert ok.embeddings.create(model=model, input="hello").data[0].embedding


def test_the_model_allow_list_holds_on_moderations(srv: Server, org: Org) -> None:
    """The built-in guard answers to its moderation names; a limited key must list
    that name, and a name no model could have is refused, not echoed back."""
    limited = srv.api(
        "POST", "/api/keys", key=org.admin_key, json={"allowed_models": ["x"]}
    ).json()["key"]
    client = srv.sdk(limited)
    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.moderations.create(model="aigc-guard", input="hello")
    assert denied.value.status_code == 403
    guard_only = srv.api(
        "POST", "/api/keys", key=org.admin_key, json={"allowed_models": ["aigc-guard"]}
    ).json()["key"]
    ok = srv.sdk(guard_only)
    assert ok.moderations.create(model="aigc-guard", input="hello").results
    huge = srv.api(
        "POST", "/v1/moderations", key=org.member_key, json={"model": "m" * 5000, "input": "x"}
    )
    assert huge.status_code == 400 and huge.json()["error"]["param"] == "model"
    assert "m" * 300 not in huge.text


def test_a_template_yaml_naming_a_server_file_is_not_read(
    srv: Server, org: Org, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """``config.yaml`` is the template's text: one line ending .yaml was read as a server path,
    so a tenant admin could register any YAML file on the host as their model and read it in
    its answers (another file's keys were echoed in the 400, a missing one was a 500)."""
    planted = tmp_path_factory.mktemp("host") / "host-secret.yaml"
    planted.write_text(
        "name: host-secret-desk\nlanguages: [en]\nintents:\n  - id: hello\n"
        "    patterns: ['hello']\n    answers:\n      en: ['the host password is hunter2']\n"
        "fallback:\n  en: ['the host password is hunter2']\n",
        encoding="utf-8",
    )
    for path in (planted, planted.with_name("missing.yaml")):
        body = {"id": "template-host-file", "config": {"yaml": str(path)}}
        refused = srv.api("POST", "/api/models", key=org.admin_key, json=body)
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert error["type"] == "invalid_request_error" and error["param"] == "config"
        assert "hunter2" not in refused.text and "host-secret-desk" not in refused.text
    models = srv.api("GET", "/v1/models", key=org.admin_key).json()["data"]
    assert "template-host-file" not in {m["id"] for m in models}


def test_a_key_limited_to_a_model_cannot_mint_a_wider_key(srv: Server, org: Org) -> None:
    """An admin key limited to one model (and a rate) created an unlimited key, and that key
    used every model: each new key now keeps its creator's limits or narrower ones."""
    template = (
        "name: d\nlanguages: [en]\nintents:\n  - id: hello\n    patterns: ['hello']\n"
        "    answers:\n      en: ['Hi from {m}.']\nfallback:\n  en: ['Hi from {m}.']\n"
    )
    for name in ("template-keep-a", "template-keep-b"):
        made = srv.api(
            "POST",
            "/api/models",
            key=org.admin_key,
            json={"id": name, "config": {"yaml": template.replace("{m}", name)}},
        )
        assert made.status_code == 201, made.text
    limited = srv.api(
        "POST",
        "/api/keys",
        key=org.admin_key,
        json={"role": "admin", "allowed_models": ["template-keep-a"], "rpm_limit": 100},
    )
    assert limited.status_code == 201, limited.text
    wider = srv.api("POST", "/api/keys", key=limited.json()["key"], json={"allowed_models": None})
    assert wider.status_code == 201, wider.text
    minted = wider.json()
    assert minted["allowed_models"] == ["template-keep-a"] and minted["rpm_limit"] == 100
    client = srv.sdk(minted["key"])
    hello = [{"role": "user", "content": "hello"}]
    answer = client.chat.completions.create(model="template-keep-a", messages=hello)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "Hi from template-keep-a."
    with pytest.raises(openai.PermissionDeniedError) as denied:
        client.chat.completions.create(model="template-keep-b", messages=hello)  # type: ignore[arg-type]
    assert denied.value.code == "model_not_allowed"
    for asked in ({"allowed_models": ["template-keep-b"]}, {"rpm_limit": 101}):
        refused = srv.api("POST", "/api/keys", key=limited.json()["key"], json=asked)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["param"] == next(iter(asked))


def test_a_limited_key_cannot_make_a_sign_in_without_its_limits(srv: Server, org: Org) -> None:
    """A limited admin key made a user with a password it chose (or reset a member's), signed
    in to the console as them and used every model: a session has no key limits."""
    limited = srv.api(
        "POST",
        "/api/keys",
        key=org.admin_key,
        json={"role": "admin", "allowed_models": ["template-none"]},
    ).json()["key"]
    member_id, _ = _person(srv, org, "reset-me", "member")
    attempts = [
        ("POST", "/api/users", {"username": f"mine-{org.id}", "password": "chosen by me"}),
        ("PATCH", f"/api/users/{member_id}", {"password": "chosen by me"}),
    ]
    for method, path, body in attempts:
        refused = srv.api(method, path, key=limited, json=body)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["param"] == "password"
    signed_in = httpx.post(
        f"{srv.base_url}/console/login",
        data={"username": f"reset-me-{org.id}", "password": "chosen by me"},
        headers={"Origin": srv.base_url},
    )
    assert signed_in.cookies.get("aigc_session") is None
    users = srv.api("GET", "/api/users", key=org.admin_key).json()["data"]
    assert f"mine-{org.id}" not in {u["username"] for u in users}


def test_a_limited_admin_key_cannot_promote_anyone_or_touch_other_models(
    srv: Server, org: Org
) -> None:
    """An admin key limited to one model promoted a member, whose console sign-in then acted
    as an admin with no key limit, and deleted a model of the organization it may not use.
    Both are 403s naming why; the member stays a member and the model still answers."""
    template = (
        "name: d\nlanguages: [en]\nintents:\n  - id: hello\n    patterns: ['hello']\n"
        "    answers:\n      en: ['Hi from {m}.']\nfallback:\n  en: ['Hi from {m}.']\n"
    )
    for name in ("template-own-a", "template-own-b"):
        made = srv.api(
            "POST",
            "/api/models",
            key=org.admin_key,
            json={"id": name, "config": {"yaml": template.replace("{m}", name)}},
        )
        assert made.status_code == 201, made.text
    limited = srv.api(
        "POST",
        "/api/keys",
        key=org.admin_key,
        json={"role": "admin", "allowed_models": ["template-own-a"]},
    ).json()["key"]
    member_id, _ = _person(srv, org, "promote-me", "member")
    session = httpx.post(
        f"{srv.base_url}/console/login",
        data={"username": f"promote-me-{org.id}", "password": "a-long-password-1"},
        headers={"Origin": srv.base_url},
    ).cookies.get("aigc_session")
    assert session
    promoted = srv.api("PATCH", f"/api/users/{member_id}", key=limited, json={"role": "admin"})
    assert promoted.status_code == 403, promoted.text
    assert promoted.json()["error"]["param"] == "role"
    assert promoted.json()["error"]["code"] == "limited_api_key"
    assert srv.api("GET", "/api/me", key=session).json()["role"] == "member"
    deleted = srv.api("DELETE", "/api/models/template-own-b", key=limited)
    assert deleted.status_code == 403 and deleted.json()["error"]["code"] == "model_not_allowed"
    registered = srv.api(
        "POST",
        "/api/models",
        key=limited,
        json={"id": "template-own-c", "config": {"yaml": template.replace("{m}", "c")}},
    )
    assert registered.status_code == 403 and registered.json()["error"]["param"] == "id"
    client = srv.sdk(org.admin_key)
    hello = [{"role": "user", "content": "hello"}]
    answer = client.chat.completions.create(model="template-own-b", messages=hello)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "Hi from template-own-b."
    assert "template-own-c" not in {m.id for m in client.models.list()}


def test_an_organization_admin_cannot_choose_how_a_model_runs_on_the_cluster(
    srv: Server, org: Org
) -> None:
    """A model's ``deployment`` (Ray Serve options) was taken from an organization's admin:
    runtime_env installs packages, fetches code and sets the environment of the replicas on
    the operator's machines (e.g. LD_PRELOAD), and num_gpus or num_replicas take the cluster.
    Like server paths, it is the platform administrator's."""
    template = (
        "name: d\nlanguages: [en]\nintents:\n  - id: hello\n    patterns: ['hello']\n"
        "    answers:\n      en: ['Hi.']\nfallback:\n  en: ['Hi.']\n"
    )
    for deployment in (
        {"ray_actor_options": {"runtime_env": {"pip": ["not-a-package-here"]}}},
        {"ray_actor_options": {"runtime_env": {"env_vars": {"LD_PRELOAD": "/tmp/x.so"}}}},
        {"num_replicas": 64, "ray_actor_options": {"num_gpus": 8}},
    ):
        body = {"id": "template-cluster", "config": {"yaml": template, "deployment": deployment}}
        refused = srv.api("POST", "/api/models", key=org.admin_key, json=body)
        assert refused.status_code == 403, refused.text
        error = refused.json()["error"]
        assert error["type"] == "permission_error" and error["param"] == "deployment"
    models = srv.api("GET", "/v1/models", key=org.admin_key).json()["data"]
    assert "template-cluster" not in {m["id"] for m in models}
    plain = srv.api(
        "POST",
        "/api/models",
        key=org.admin_key,
        json={"id": "template-cluster", "config": {"yaml": template}},
    )
    assert plain.status_code == 201, plain.text
    platform = srv.api(
        "POST",
        "/api/models",
        json={
            "id": "template-cluster-2",
            "config": {"yaml": template, "deployment": {"num_replicas": 2}},
        },
    )
    assert platform.status_code == 201, platform.text
