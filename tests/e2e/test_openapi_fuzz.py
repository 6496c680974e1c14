"""The OpenAPI document describes the server (issue 16, finding 4): schemathesis runs every
operation of /openapi.json against a live server, with a fixed seed and a bounded number of
examples, one operation at a time and then along the document's links (create, then read,
change and delete what was made). Every answer must be no server error, have a status and a
content type the document lists, match the schema documented for it, and no request valid
under the document may be refused.

What JSON Schema cannot say is supplied by the hooks in ``fuzz_schema``, each with its reason:
the clock (a key's expiry must be in the future), a YAML language of the server's own (guard
policies, template models), one rule across two training parameters (GPT's width is a
multiple of its heads) and a page the server may fetch (the run has no network). They act on
the cases drawn as valid only; the others go as drawn. Nothing is excluded: the fuzzer acts as
an organization's owner (a key
bound to that user) and, on the platform's operations (organizations, the audit chain's check,
the upstream allow-list), as the platform administrator; it only never acts on its own
accounts, so it cannot revoke the key it fuzzes with (``spares_the_fuzzer``).
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
import yaml
from schemathesis import Case, GenerationMode, engine
from schemathesis.engine import events
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.e2e.server import Server, new_admin_key

SEED = int(os.environ.get("AIGC_FUZZ_SEED", "16"))  # fixed; another only to explore by hand
EXAMPLES = 8  # per operation in the fuzzing phase (the coverage phase adds its boundary cases)
STEPS = 6  # the longest chain of linked calls in one stateful scenario
CHECKS = {
    "enabled": False,
    "not_a_server_error": {"enabled": True},
    "status_code_conformance": {"enabled": True},
    "content_type_conformance": {"enabled": True},
    "response_schema_conformance": {"enabled": True},
    "positive_data_acceptance": {"enabled": True},
}
PLATFORM_PATHS = ("/api/tenants", "/api/audit/verify", "/api/platform/")


@dataclass(frozen=True)
class Fuzzer:
    """Who the fuzzer is: an organization's owner, and the platform administrator."""

    tenant_id: str
    user_id: str
    key: str
    key_id: str
    platform_key: str
    platform_key_id: str
    platform_tenant_id: str

    def key_for(self, case: Case) -> str:
        return self.platform_key if case.operation.path.startswith(PLATFORM_PATHS) else self.key

    def spares_the_fuzzer(self, case: Case) -> bool:
        """Never revoke, demote, disable or delete the accounts the fuzzer acts with (revoking
        one's own key is allowed, and would turn every later answer into a 401)."""
        own = {self.tenant_id, self.user_id, self.key_id, self.platform_key_id}
        own.add(self.platform_tenant_id)
        return not own & {str(v) for v in (case.path_parameters or {}).values()}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server of its own: the fuzzer makes organizations, users, keys, models and policies."""
    srv = Server(
        tmp_path_factory.mktemp("fuzz") / "data",
        new_admin_key(),
        AIGC_KB_FETCH_ALLOW_NETWORKS='["127.0.0.1/32"]',  # see fetchable_page
    ).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def fuzzer(fuzz_server: Server) -> Fuzzer:
    def made(reply: Any) -> dict[str, Any]:
        assert reply.status_code == 201, reply.text
        return dict(reply.json())

    me = fuzz_server.api("GET", "/api/me").json()
    org = made(fuzz_server.api("POST", "/api/tenants", json={"name": "fuzz"}))
    owner = made(
        fuzz_server.api(
            "POST",
            "/api/users",
            json={
                "username": "fuzz-owner",
                "password": "fuzz-owner-password",
                "role": "owner",
                "tenant_id": org["id"],
            },
        )
    )
    key = made(
        fuzz_server.api(
            "POST",
            "/api/keys",
            json={"tenant_id": org["id"], "user_id": owner["id"], "role": "owner"},
        )
    )
    return Fuzzer(
        tenant_id=org["id"],
        user_id=owner["id"],
        key=key["key"],
        key_id=key["id"],
        platform_key=fuzz_server.admin_key,
        platform_key_id=me["key_id"],
        platform_tenant_id=me["tenant_id"],
    )


# --- what JSON Schema cannot say ----------------------------------------------------------------

# Rules that never block: a blocking rule is the policy working, and would refuse the valid
# requests of every operation fuzzed after it in this organization.
RULES = [
    {"id": "secrets", "stage": "input", "detector": "pii", "action": "redact"},
    {"id": "injection", "stage": "input", "detector": "injection", "action": "flag"},
    {"id": "chunks", "stage": "retrieval", "detector": "injection", "action": "flag"},
    {"id": "words", "stage": "output", "detector": "keywords", "words": ["x"], "action": "flag"},
    {"id": "mail", "stage": "input", "detector": "pii", "action": "pseudonymize"},
]


def policy_from(drawn: str) -> str:
    """A guard policy that parses (guard/policy.py), made of what the fuzzer drew for `yaml`:
    its name and description, and (by its length) which rules and labels it has."""
    policy = {
        "name": drawn.strip()[:200] or "fuzzed",
        "description": drawn,
        "rules": [rule for bit, rule in enumerate(RULES) if len(drawn) >> bit & 1],
        "labels": {"explicit": len(drawn) % 3 == 0},
    }
    return yaml.safe_dump(policy, allow_unicode=True)


def template_from(drawn: str) -> str:
    """A template model that loads (models/text/template.py), named after the draw."""
    model = {
        "name": drawn.strip() or "fuzzed",
        "description": drawn,
        "languages": ["en"],
        "intents": [{"id": "hello", "keywords": {"en": ["hello"]}, "answers": {"en": ["Hi!"]}}],
        "fallback": {"en": ["Ask me something else."]},
    }
    return yaml.safe_dump(model, allow_unicode=True)


def tool_protocol(body: dict[str, Any]) -> dict[str, Any]:
    """The body with function calling's rules across fields and messages kept
    (gateway/tooling.py): names unique, a choice that names one of them or asks for a call
    only when there are tools, each tool or function turn answering a call made before it (a
    turn that answers none becomes the user's)."""
    legacy = bool(body.get("functions"))
    field, choice_field = ("functions", "function_call") if legacy else ("tools", "tool_choice")
    defs = {(d if legacy else d["function"])["name"]: d for d in body.get(field) or []}
    body = body | ({field: list(defs.values())} if defs else {})
    choice = body.get(choice_field)
    if isinstance(choice, dict):
        named = choice.get("name") if legacy else (choice.get("function") or {}).get("name")
        if named not in defs:
            body[choice_field] = "auto"
    elif choice not in (None, "none", "auto") and not defs:
        body[choice_field] = "auto"
    messages, open_calls, pending = [], set(), collections.Counter()
    for message in body["messages"]:
        role = message["role"]
        if role == "assistant":
            open_calls = {c["id"] for c in message.get("tool_calls") or []}
            if message.get("function_call"):
                pending[message["function_call"]["name"]] += 1
        elif role == "function" and pending[message.get("name") or ""] > 0:
            pending[message.get("name") or ""] -= 1
        elif role == "tool" and message.get("tool_call_id") in open_calls:
            pass
        elif role in ("tool", "function"):
            message = {k: v for k, v in message.items() if k != "tool_call_id"} | {"role": "user"}
        else:
            open_calls = set()
        messages.append(message)
    return body | {"messages": messages}


def streamed_options(body: dict[str, Any]) -> dict[str, Any]:
    """stream_options only beside ``stream: true`` (a 400 otherwise, as at OpenAI)."""
    if body.get("stream") is True:
        return body
    return {k: v for k, v in body.items() if k != "stream_options"}


def asked_logprobs(body: dict[str, Any]) -> dict[str, Any]:
    """Chat's top_logprobs only beside ``logprobs: true`` (a 400 otherwise, as at OpenAI)."""
    if body.get("logprobs") is True:
        return body
    return {k: v for k, v in body.items() if k != "top_logprobs"}


def with_content(body: dict[str, Any]) -> dict[str, Any]:
    """Every message but an assistant's with its content (an empty one where none was
    drawn): only an assistant turn that calls tools may come without it."""
    messages = [
        m if m.get("role") == "assistant" or m.get("content") is not None else m | {"content": ""}
        for m in body["messages"]
    ]
    return body | {"messages": messages}


def response_protocol(body: dict[str, Any]) -> dict[str, Any]:
    """/v1/responses' body with the same rules kept across its input items: a
    function_call_output answers a call of the turn before it (else it becomes the user's), and
    the tools and their choice as in chat."""
    tools = {t["name"]: t for t in body.get("tools") or []}
    body = body | ({"tools": list(tools.values())} if tools else {})
    choice = body.get("tool_choice")
    if (isinstance(choice, dict) and choice.get("name") not in tools) or (
        choice == "required" and not tools
    ):
        body["tool_choice"] = "auto"
    if not isinstance(body.get("input"), list):
        return body
    items, open_calls, last = [], set(), "user"
    for item in body["input"]:
        kind = item.get("type", "message")
        if kind == "function_call":
            open_calls = (open_calls if last == "assistant" else set()) | {item["call_id"]}
            last = "assistant"
        elif kind == "function_call_output" and item["call_id"] in open_calls:
            last = "tool"
        elif kind == "function_call_output":
            item = {"type": "message", "role": "user", "content": item["output"]}
            open_calls, last = set(), "user"
        else:  # a message: an assistant's opens a turn whose calls follow it
            open_calls, last = set(), item["role"]
        items.append(item)
    return body | {"input": items}


def one_constraint(body: dict[str, Any]) -> dict[str, Any]:
    """At most one of response_format, guided_json, guided_regex and guided_choice (the first
    drawn), each in the language the document can only name: a pattern RE2 and xgrammar both
    take (the drawn one's letters and digits), choices without NUL, a JSON schema that has a
    grammar (``{"type": "object"}`` for the drawn object or JSON text). They are checked as
    the body is validated, before the model is looked up."""
    response_format = body.get("response_format")
    kept = False
    if response_format not in (None, {"type": "text"}):
        kept = True
        if response_format.get("type") == "json_schema":
            spec = response_format["json_schema"] | {"schema": {"type": "object"}}
            body = body | {"response_format": response_format | {"json_schema": spec}}
    if body.get("guided_json") is not None:
        kept, body = True, body | {"guided_json": None if kept else {"type": "object"}}
    if body.get("guided_regex") is not None:
        if kept:
            body = body | {"guided_regex": None}
        else:
            kept = True
            pattern = "".join(c for c in body["guided_regex"] if c.isalnum()) or "x"
            body = body | {"guided_regex": pattern}
    if body.get("guided_choice") is not None:
        if kept:
            body = body | {"guided_choice": None}
        else:
            body = body | {"guided_choice": [c.replace("\0", "") for c in body["guided_choice"]]}
    return body


def format_with_grammar(body: dict[str, Any]) -> dict[str, Any]:
    """/v1/responses' text.format as ``one_constraint`` keeps response_format."""
    text = body.get("text") or {}
    form = text.get("format")
    if isinstance(form, dict) and form.get("type") == "json_schema":
        return body | {"text": text | {"format": form | {"schema": {"type": "object"}}}}
    return body


def _positive(case: Case) -> bool:
    return case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE


def _in_the_future(value: Any) -> bool:
    if value is None:
        return True  # no expiry
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return True  # not a date-time: a negative case, left as drawn
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment > datetime.now(UTC) + timedelta(minutes=5)


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_server: Server, fuzzer: Fuzzer) -> OpenApiSchema:
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # The document's description excludes NUL from every string (a 400 invalid_json:
            # PostgreSQL cannot store it), said once there rather than as a pattern on each
            # of its hundreds of string fields; lone surrogates hypothesis never draws.
            "generation": {"max-examples": EXAMPLES, "allow-x00": False},
            "checks": CHECKS,
            "phases": {"stateful": {"max-steps": STEPS}},
            "workers": 1,
        }
    )
    schema = schemathesis.openapi.from_url(f"{fuzz_server.base_url}/openapi.json", config=config)

    @schema.auth(refresh_interval=None, retry_on=[])
    class Keys:
        def get(self, case: Case, context: Any) -> str:
            return fuzzer.key_for(case)

        def set(self, case: Case, key: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}

    @schema.hook
    def filter_case(context: Any, case: Case) -> bool:
        # A key that has already expired is refused (400 naming expires_at): JSON Schema cannot
        # compare a date with the clock, so a past one is no valid request.
        body = case.body
        if case.operation.path == "/api/keys" and _positive(case) and isinstance(body, dict):
            return _in_the_future(body.get("expires_at")) and fuzzer.spares_the_fuzzer(case)
        return fuzzer.spares_the_fuzzer(case)

    @schema.hook("map_case").apply_to(method="POST", path="/api/policies")
    def valid_policy(context: Any, case: Case) -> Case:
        # `yaml` holds a policy in YAML, a language the schema can only name.
        if _positive(case) and isinstance(case.body, dict):
            return _with_body(case, yaml=policy_from(str(case.body["yaml"])))
        return case

    @schema.hook("map_case").apply_to(method="POST", path="/api/models")
    def valid_template(context: Any, case: Case) -> Case:
        # A template model's config.yaml is YAML in the template language.
        body = case.body
        if _positive(case) and isinstance(body, dict) and "yaml" in body["config"]:
            yaml_text = template_from(str(body["config"]["yaml"]))
            return _with_body(case, config=body["config"] | {"yaml": yaml_text})
        return case

    @schema.hook("map_case").apply_to(method="POST", path_regex="/documents/url$")
    def fetchable_page(context: Any, case: Case) -> Case:
        # The page must be one this server may fetch, and the run has no network: the server's
        # own /healthz stands in (its loopback address opened by kb_fetch_allow_networks).
        if _positive(case) and isinstance(case.body, dict):
            return _with_body(case, url=f"{fuzz_server.base_url}/healthz")
        return case

    @schema.hook("map_case").apply_to(method="POST", path="/v1/chat/completions")
    def answered_calls(context: Any, case: Case) -> Case:
        # Which call a tool turn answers, and which names a choice may give, lie across
        # messages and fields: rules JSON Schema cannot state. So do two rules OpenAI keeps:
        # only an assistant turn may come without content, and stream_options go with a
        # stream, top_logprobs with logprobs. One output constraint at most, as its fields'
        # descriptions say.
        if _positive(case) and isinstance(case.body, dict):
            body = tool_protocol(one_constraint(case.body))
            case.body = with_content(asked_logprobs(streamed_options(body)))
        return case

    @schema.hook("map_case").apply_to(method="POST", path="/v1/completions")
    def completion_stream_options(context: Any, case: Case) -> Case:
        if _positive(case) and isinstance(case.body, dict):
            case.body = streamed_options(one_constraint(case.body))
        return case

    @schema.hook("map_case").apply_to(method="POST", path_regex="^/v1/images/(generations|edits)$")
    def compressed_formats(context: Any, case: Case) -> Case:
        # output_compression is a JPEG's or a WebP's quality: a rule across two fields (an
        # edit's form has both too).
        body = case.body
        if (
            _positive(case)
            and isinstance(body, dict)
            and body.get("output_format")
            not in (
                "jpeg",
                "webp",
            )
        ):
            case.body = {k: v for k, v in body.items() if k != "output_compression"}
        return case

    @schema.hook("map_case").apply_to(method="GET", path="/v1/files")
    def cursor_seen(context: Any, case: Case) -> Case:
        # A page's `after` names a file listed before: the server's state, not the schema's.
        if _positive(case) and case.query:
            case.query = {k: v for k, v in case.query.items() if k != "after"}
        return case

    @schema.hook("map_case").apply_to(method="POST", path="/v1/responses")
    def answered_outputs(context: Any, case: Case) -> Case:
        # The same rules, across /v1/responses' input items.
        if _positive(case) and isinstance(case.body, dict):
            case.body = response_protocol(format_with_grammar(case.body))
        return case

    @schema.hook("map_case").apply_to(method="POST", path="/v1/responses/input_tokens")
    def counted_outputs(context: Any, case: Case) -> Case:
        # Counting takes the body creating a response takes, under the same rules.
        return answered_outputs(context, case)

    @schema.hook("map_case").apply_to(method="POST", path="/api/train")
    def whole_heads(context: Any, case: Case) -> Case:
        # GPT's n_embd must be a multiple of n_head (gpt.GPTParams): a rule across two
        # parameters. The width becomes the nearest multiple within its bounds.
        body = case.body
        if not _positive(case) or not isinstance(body, dict) or body.get("family") != "gpt":
            return case
        params = body.get("params") or {}
        heads, width = int(params.get("n_head", 4)), int(params.get("n_embd", 128))
        if width % heads:
            width = min(max(heads, -(-width // heads) * heads), 4096 // heads * heads)
            width = width if width >= 8 else heads * -(-8 // heads)
            return _with_body(case, params=params | {"n_embd": width})
        return case

    return schema


def _with_body(case: Case, **fields: Any) -> Case:
    case.body = dict(case.body) | fields
    return case


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one run did: cases per phase and operation, and every failed check."""

    cases: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[tuple[str, int]] = field(default_factory=collections.Counter)
    operations: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, event: events.EngineEvent) -> None:
        if isinstance(event, events.ScenarioFinished) and event.is_test_scenario:
            recorder = event.recorder
            self.cases[event.phase.value] += len(recorder.cases)
            self.operations.update(node.value.operation.label for node in recorder.cases.values())
            for case_id, interaction in recorder.interactions.items():
                if interaction.response is not None:
                    label = recorder.cases[case_id].value.operation.label
                    self.statuses[label, interaction.response.status_code] += 1
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        response = recorder.interactions[case_id].response
                        answer = response.content[:500].decode(errors="replace") if response else ""
                        self.failures.append(
                            f"{recorder.cases[case_id].value.operation.label} [{check.name}] "
                            f"{failure.title}: {failure.message}\n{answer}\n"
                            f"{check.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError):
            self.errors.append(f"{event.label}: {type(event.value).__name__}: {event.value}")
        elif isinstance(event, events.FatalError):
            self.errors.append(f"{type(event.exception).__name__}: {event.exception}")


def test_every_operation_answers_as_documented(fuzz_schema: OpenApiSchema) -> None:
    tally = Tally()
    for event in engine.from_schema(fuzz_schema).execute():
        tally.add(event)
    documented = {result.ok().label for result in fuzz_schema.get_all_operations()}
    print(
        f"\nschemathesis (seed {SEED}): {len(documented)} operations, "
        f"{sum(tally.cases.values())} cases {dict(tally.cases)}, {len(tally.failures)} failures"
    )
    for label in sorted(documented):  # what each operation answered, for whoever reads -s
        answered = {code: n for (op, code), n in sorted(tally.statuses.items()) if op == label}
        print(f"  {label}: {answered}")
    assert not tally.errors, "\n".join(tally.errors)
    assert not tally.failures, "\n\n".join(tally.failures)
    assert tally.operations == documented, documented - tally.operations  # none went untested
