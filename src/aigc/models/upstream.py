"""Family "upstream": any OpenAI-compatible server (vLLM, Ollama, llama.cpp, another aigc).

This is how a company serves a 70B model on its GPU cluster while aigc governs access. A record's
config (as stored; ``register_config`` builds it from what the API receives)::

    targets    [{base_url, model, api_key_enc}]  load-balanced round robin
    fallbacks  [{base_url, model, api_key_enc}]  tried in order when every target failed
    timeout_s, connect_timeout_s, max_retries, breaker_threshold, breaker_reset_s
    restricted  True when a tenant admin registered it: every connection passes netguard
    context_length  optional: the served model's context in tokens (grounding fits into it)
    vision      optional, default false: the served model reads images; chat messages' images
                are then sent on as base64 data URLs (OpenAI's ``image_url`` parts)
    tools      optional, default true: the served model takes function calling (tools,
               tool_choice, tool_calls); false: such requests are a 400 here

A call goes to the first target whose circuit breaker allows it; 429, 5xx and network errors
are retried with exponential backoff (tenacity), then the next target, then the fallbacks.
Once the first byte of an answer has been streamed to the caller, there is no switching.
A chat's JSON ``response_format`` (json_object, json_schema) goes up for the upstream to enforce;
so do ``presence_penalty`` and ``frequency_penalty``, a reasoning model's ``reasoning_effort`` and
``verbosity``, and ``logprobs``, whose token entries come back on the text pieces (``Logged``).
Function calling passes through: the request's tools, tool choice and the conversation's calls
and results go up as OpenAI sends them; the upstream's ``delta.tool_calls`` come back as
``ToolCallDelta`` pieces (ids, names and argument fragments as it streamed them).
API keys are stored encrypted (infra/crypto) and never returned by the API.

An upstream's error bodies never reach the caller: they may be an internal service's page, a
stack trace or a secret (and, for a tenant-registered URL, an SSRF read-back channel). The
caller gets the upstream's status code and a fixed message; a bounded, sanitized summary of the
body is logged here (``upstream_detail``).
"""

from __future__ import annotations

import codecs
import contextlib
import itertools
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.orm import Session
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from aigc.access import Principal
from aigc.config import Settings
from aigc.errors import (
    APIError,
    InvalidRequest,
    Overloaded,
    PermissionDenied,
    refused,
    refused_value,
)
from aigc.infra import crypto, metrics
from aigc.infra.breaker import BreakerBoard, CircuitBreaker
from aigc.infra.netguard import DEFAULT_POLICY, AddressPolicy, UnsafeURL, guarded_client
from aigc.models import tokens, upstream_allowlist
from aigc.models.base import TextModelBase
from aigc.models.family import SOURCES, TEXT, TOOLS, VISION, Family, register
from aigc.models.image.inputs import data_url
from aigc.models.protocols import (
    TOOL_FIELDS,
    ChatMessage,
    ReasoningDelta,
    TextRequest,
    ToolCallDelta,
    openai_message,
)
from aigc.models.stopping import Ended

BREAKERS = BreakerBoard()
log = logging.getLogger("aigc.models.upstream")
DETAIL_CHARS = 200  # of an upstream's error body, in the server log only
_NUMBERS = {
    "timeout_s": (60.0, 0.1, 3600.0),
    "connect_timeout_s": (5.0, 0.1, 120.0),
    "max_retries": (2, 0, 10),
    "breaker_threshold": (5, 1, 1000),
    "breaker_reset_s": (30.0, 0.1, 3600.0),
}


class UpstreamFailed(APIError):
    status = 502
    type = "server_error"
    code = "upstream_error"


@dataclass(frozen=True)
class Target:
    base_url: str
    model: str
    api_key_enc: str | None = None


class _Retryable(Exception):
    """A failure worth another try: 429, 5xx, timeout, connection refused."""

    def __init__(self, message: str, counts_for_breaker: bool = True) -> None:
        super().__init__(message)
        self.counts_for_breaker = counts_for_breaker


# --- registration ----------------------------------------------------------------------------


def validate_config(config: dict[str, Any]) -> None:
    """The shape of what the API receives: base_url(s), model, optional api_key, fallbacks."""
    _endpoints(config, "config")
    for i, fallback in enumerate(_list(config.get("fallbacks", []), "config.fallbacks")):
        if not isinstance(fallback, dict):
            raise refused_value(
                "dict", "Each fallback is an object", param=f"config.fallbacks[{i}]"
            )
        _endpoints(fallback, f"config.fallbacks[{i}]")
    for name, (_, low, high) in _NUMBERS.items():
        value = config.get(name)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if value is not None and (not number or not low <= value <= high):
            raise refused_value(
                "param_number_range",
                f"{name} " + "must be a number from {low} to {high}",
                param=name,
                low=low,
                high=high,
            )
    if not isinstance(config.get("tools", True), bool):
        raise refused_value("bool", "tools must be true or false", param="tools")
    context = config.get("context_length")
    whole = isinstance(context, int) or (isinstance(context, float) and context.is_integer())
    if context is not None and (
        not whole or isinstance(context, bool) or not 1 <= context <= 1 << 24
    ):
        raise refused_value(
            "param_int_range",
            "context_length must be a whole number of tokens from {low} to {high}",
            param="context_length",
            low=1,
            high=1 << 24,
        )
    if not isinstance(config.get("vision", False), bool):
        raise refused_value("bool", "vision must be true or false", param="vision")


def _list(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise refused_value("list_type", "Expected a list", param=param)
    return value


def _endpoints(entry: dict[str, Any], param: str) -> list[str]:
    urls = entry.get("base_urls") or ([entry["base_url"]] if "base_url" in entry else [])
    if not urls or not all(isinstance(u, str) for u in _list(urls, f"{param}.base_urls")):
        raise refused_value(
            "upstream_needs_url",
            "An upstream needs base_url (or base_urls)",
            param=param,
            code="missing_required_parameter",
        )
    for url in urls:
        try:  # a bracketed host that is no IPv6 address, or a port that is no number, raises
            parts = urlsplit(url)
            parts.port  # noqa: B018 -- read now, so that it is refused here, not later
        except ValueError:
            parts = urlsplit("")  # refused below
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise refused_value(
                "url_not_http",
                "Not an http(s) URL: {url}",
                param=f"{param}.base_url",
                url=repr(url),
            )
        if parts.username or parts.password:
            raise refused_value(
                "url_with_credentials",
                "Put credentials in api_key, not in the URL",
                param=f"{param}.base_url",
            )
    if not isinstance(entry.get("model"), str) or not entry["model"]:
        raise InvalidRequest(
            "An upstream needs the model name it serves",
            param=f"{param}.model",
            code="missing_required_parameter",
        )
    if "api_key" in entry and not isinstance(entry["api_key"], str):
        raise refused_value("string_type", "api_key must be a string", param=f"{param}.api_key")
    return urls


def url_allowed(url: str, patterns: list[str]) -> bool:
    """Does ``url`` match a pattern like ``https://*.corp.example.com`` or ``http://h:8000/v1``?

    Compared part by part (scheme, host with wildcards, port, path prefix), never as one string,
    so a pattern's ``*`` cannot swallow a slash and match another host.
    """
    u = urlsplit(url)
    for pattern in patterns:
        p = urlsplit(pattern if "://" in pattern else f"https://{pattern}")
        if p.scheme != u.scheme or not fnmatchcase(u.hostname or "", p.hostname or ""):
            continue
        default = 443 if u.scheme == "https" else 80
        if (p.port or default) != (u.port or default):
            continue
        prefix = p.path.rstrip("*").rstrip("/")
        if (u.path.rstrip("/") + "/").startswith(prefix + "/"):
            return True
    return False


def register_config(
    config: dict[str, Any],
    principal: Principal | None,
    settings: Settings | None = None,
    policy: AddressPolicy = DEFAULT_POLICY,
    allowlist: list[str] | None = None,
) -> dict[str, Any]:
    """What is stored: keys encrypted; a tenant admin's URLs checked against the allow-list
    (``allowlist``, default: the operator's setting alone) and, after DNS resolution, against
    every non-global address (``infra.netguard``), whatever the allow-list matched. The
    platform admin may register internal addresses (a vLLM in the same private network)."""
    settings = settings or Settings()
    patterns = settings.upstream_allowlist if allowlist is None else allowlist
    restricted = principal is not None and not principal.platform_admin

    def endpoints(entry: dict[str, Any], param: str) -> list[dict[str, Any]]:
        out = []
        key = entry.get("api_key")
        for url in _endpoints(entry, param):
            url = url.rstrip("/")
            if restricted:
                if not url_allowed(url, patterns):
                    raise refused(
                        PermissionDenied,
                        "upstream_not_allowed",
                        "{url} is not on the platform's upstream allow-list",
                        param=f"{param}.base_url",
                        url=url,
                    )
                try:
                    policy.check_url(url)
                except UnsafeURL as exc:  # the caller may not (the platform admin may): 403
                    raise refused(
                        PermissionDenied,
                        "upstream_url_refused",
                        "Refused upstream URL: {reason}",
                        param=f"{param}.base_url",
                        reason=str(exc),
                    ) from None
            enc = crypto.encrypt(key, settings) if key else None
            out.append({"base_url": url, "model": entry["model"], "api_key_enc": enc})
        return out

    stored: dict[str, Any] = {
        "targets": endpoints(config, "config"),
        "fallbacks": [
            t
            for i, f in enumerate(config.get("fallbacks", []))
            for t in endpoints(f, f"config.fallbacks[{i}]")
        ],
        "restricted": restricted,
    }
    for name, (default, _, _) in _NUMBERS.items():
        stored[name] = config.get(name, default)
    if config.get("context_length") is not None:  # grounding fits its sources into it
        stored["context_length"] = int(config["context_length"])  # 4096.0 is JSON's 4096
    if config.get("vision"):  # the served model reads images
        stored["vision"] = True
    if config.get("tools") is False:  # the served model takes no function calling
        stored["tools"] = False
    return stored


def capabilities_of(config: dict[str, Any]) -> frozenset[str]:
    """Text; tools unless registered with ``"tools": false``; images when registered with
    ``"vision": true``."""
    tools = frozenset() if config.get("tools") is False else frozenset({TOOLS})
    vision = frozenset({VISION}) if config.get("vision") else frozenset()
    return TEXT | {SOURCES} | tools | vision


# OpenAI's decoding fields sent on as the caller set them (``TextRequest`` fields of these names).
PENALTIES = ("presence_penalty", "frequency_penalty")
# A reasoning model's controls (OpenAI's o-series and gpt-5, vLLM's Qwen3 or DeepSeek-R1): sent
# on as asked; the upstream says whether its model takes them.
REASONING = ("reasoning_effort", "verbosity")
# Token log probabilities: asked of the upstream, its entries passed back with the text.
LOGPROBS = frozenset({"logprobs", "top_logprobs"})


# --- the model -------------------------------------------------------------------------------


class UpstreamModel(TextModelBase):
    """A TextModel that forwards to OpenAI-compatible servers and streams their answer back."""

    reads_sources = True  # a chat model: it can answer from sources and cite them
    enforces_formats = True  # response_format goes up: OpenAI and vLLM enforce it there
    counts_exactly = False  # tokens are estimated here; the upstream judges its own window

    def __init__(self, config: dict[str, Any], settings: Settings | None = None) -> None:
        settings = settings or Settings()
        self.config = config
        # The served model's context as registered; None: not given (the upstream's business).
        self.context_length: int | None = config.get("context_length")
        self.takes_images = bool(config.get("vision", False))
        # Function calling passes through unless the registration says the model lacks it;
        # OpenAI's penalties always do (every OpenAI-compatible server takes them).
        tools = frozenset() if config.get("tools") is False else TOOL_FIELDS
        self.decoding_fields = frozenset(PENALTIES) | frozenset(REASONING) | LOGPROBS | tools
        self.targets = [Target(**t) for t in config["targets"]]
        self.fallbacks = [Target(**t) for t in config.get("fallbacks", [])]
        self._keys = {
            t.api_key_enc: crypto.decrypt(t.api_key_enc, settings)
            for t in self.targets + self.fallbacks
            if t.api_key_enc
        }
        timeout = httpx.Timeout(config["timeout_s"], connect=config["connect_timeout_s"])
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
        if config.get("restricted", True):
            self.client = guarded_client(timeout=timeout, follow_redirects=True)
        else:
            self.client = httpx.Client(timeout=timeout, limits=limits, follow_redirects=True)
        self._turn = itertools.count()

    def count_tokens(self, text: str) -> int:
        return tokens.count_tokens(text)

    def status(self) -> dict[str, Any]:
        return {"upstreams": self.breaker_states()}

    def breaker_states(self) -> list[dict[str, Any]]:
        """Each upstream's circuit, for the model's status (no keys)."""
        out = []
        for role, targets in (("target", self.targets), ("fallback", self.fallbacks)):
            for t in targets:
                breaker = self._breaker(t)
                out.append({"role": role, "base_url": t.base_url, "circuit": breaker.state.value})
        return out

    def _breaker(self, target: Target) -> CircuitBreaker:
        return BREAKERS.get(
            target.base_url,
            self.config["breaker_threshold"],
            self.config["breaker_reset_s"],
            (self.config["timeout_s"], self.config["connect_timeout_s"]),
        )

    def generate(self, request: TextRequest) -> Iterator[str]:
        chat = request.messages is not None
        waits: list[float] = []
        failures: list[str] = []
        for target in self._order():
            breaker = self._breaker(target)
            if not breaker.allow():
                waits.append(breaker.retry_after_s())
                metrics.UPSTREAM_CALLS.labels("circuit_open").inc()
                continue
            try:
                response = self._open(target, request, chat)
            except _Retryable as exc:
                metrics.UPSTREAM_CALLS.labels("failed").inc()
                if exc.counts_for_breaker:
                    breaker.record_failure()
                else:
                    breaker.record_success()  # 429: alive, only busy
                failures.append(str(exc))
                continue
            except BaseException:
                breaker.record_success()  # it answered (e.g. 400): the service is alive
                raise
            breaker.record_success()
            metrics.UPSTREAM_CALLS.labels("ok").inc()
            try:
                top = request.top_logprobs if request.logprobs else 0
                yield from _pieces(response, chat, self.count_tokens, top)
            except httpx.HTTPError as exc:
                breaker.record_failure()
                message = f"The upstream stream broke off: {type(exc).__name__}"
                raise UpstreamFailed(message) from None
            finally:
                response.close()
            return
        if waits and not failures:
            retry = max(1, int(min(waits)) + 1)
            raise Overloaded(
                "The upstream is unavailable (circuit open); try again later",
                code="upstream_unavailable",
                headers={"Retry-After": str(retry)},
            )
        raise UpstreamFailed(f"Every upstream failed: {'; '.join(failures[-3:])}")

    def _order(self) -> list[Target]:
        start = next(self._turn) % len(self.targets)
        return self.targets[start:] + self.targets[:start] + self.fallbacks

    def _open(self, target: Target, request: TextRequest, chat: bool) -> httpx.Response:
        path = "/chat/completions" if chat else "/completions"
        headers = {"Accept": "text/event-stream"}
        if target.api_key_enc:
            headers["Authorization"] = f"Bearer {self._keys[target.api_key_enc]}"
        outgoing = self.client.build_request(
            "POST", target.base_url + path, json=_body(request, target.model), headers=headers
        )
        retrying = Retrying(
            stop=stop_after_attempt(1 + int(self.config["max_retries"])),
            wait=wait_exponential_jitter(initial=0.05, max=2.0),
            retry=retry_if_exception_type(_Retryable),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return self._send_once(outgoing)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(self, outgoing: httpx.Request) -> httpx.Response:
        try:
            response = self.client.send(outgoing, stream=True)
        except httpx.TransportError as exc:
            # The reason (a refused address, a DNS answer) stays in the log.
            log.warning("upstream %s: %s", _origin(outgoing), upstream_detail(str(exc)))
            raise _Retryable(type(exc).__name__) from None
        status = response.status_code
        if status == 200:
            return response
        log.warning(
            "upstream %s answered HTTP %s: %s", _origin(outgoing), status, _error_detail(response)
        )
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}", counts_for_breaker=status != 429)
        raise refused_value(
            "upstream_refused",
            "The upstream refused the request (HTTP {status})",
            param="model",
            code="upstream_refused",
            status=status,
        )


def _body(request: TextRequest, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "stream": True,
        "temperature": request.temperature,
        "top_p": request.top_p,
    }
    if request.messages is not None:
        body["messages"] = [
            {**openai_message(m), "content": _content(m)} if m.images else openai_message(m)
            for m in request.messages
        ]
        if request.tools is not None:
            body["tools"] = [t.openai() for t in request.tools.tools]
            body["tool_choice"] = request.tools.openai_choice()
            if request.tools.choice != "none":
                body["parallel_tool_calls"] = request.tools.parallel
        if request.response_format is not None:
            body["response_format"] = request.response_format
        for name in REASONING:  # sent only when asked: a model that does not reason lacks them
            if getattr(request, name) is not None:
                body[name] = getattr(request, name)
    else:
        body["prompt"] = request.prompt or ""
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.seed is not None:
        body["seed"] = request.seed
    if request.stop:
        body["stop"] = request.stop
    for name in PENALTIES:  # sent only when asked: a server may lack them (0 is the default)
        if getattr(request, name):
            body[name] = getattr(request, name)
    if request.logprobs and request.messages is not None:
        body["logprobs"] = True
        if request.top_logprobs:
            body["top_logprobs"] = request.top_logprobs
    elif request.logprobs:  # completions: how many alternatives, 0 for the chosen token only
        body["logprobs"] = request.top_logprobs
    return body


def _content(message: ChatMessage) -> str | list[dict[str, Any]]:
    """A message's content as OpenAI's chat API takes it: its text, or with images, a text part
    (when there is text) followed by one ``image_url`` part per image, as a data URL."""
    if not message.images:
        return message.content
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    images = [
        {"type": "image_url", "image_url": {"url": data_url(i), "detail": i.detail}}
        for i in message.images
    ]
    return (parts if message.content else []) + images


def _origin(request: httpx.Request) -> str:
    """scheme://host:port of a request: what the log may name (no path, no query)."""
    return f"{request.url.scheme}://{request.url.host}:{request.url.port or ''}".rstrip(":")


def upstream_detail(text: str) -> str:
    """Text from an upstream, fit for one log line: printable, one line, bounded."""
    flat = "".join(ch if ch.isprintable() else " " for ch in text[: DETAIL_CHARS * 4])
    return " ".join(flat.split())[:DETAIL_CHARS]


def _error_detail(response: httpx.Response) -> str:
    """The upstream's error message (or body start), for the log: read at most 2 kB."""
    raw = bytearray()
    try:
        for chunk in response.iter_bytes():
            raw.extend(chunk)
            if len(raw) >= 2000:
                break
    except httpx.HTTPError:
        pass
    finally:
        response.close()
    text = raw[:2000].decode("utf-8", "replace")
    with contextlib.suppress(ValueError, KeyError, TypeError):
        text = str(json.loads(text)["error"]["message"])
    return upstream_detail(text)


def _pieces(
    response: httpx.Response,
    chat: bool,
    count_tokens: Any = tokens.count_tokens,
    top_logprobs: int = 0,
) -> Iterator[str]:
    """Text from an OpenAI server-sent-event stream: one piece per network read, holding every
    event that read completed (one token when the upstream is slow, many when it is fast; each
    piece costs the gateway a thread hop, so fewer is better). Tool-call deltas come as
    ``ToolCallDelta`` pieces in their place (text before them first), a reasoning model's
    thinking (vLLM's ``delta.reasoning_content``) as ``ReasoningDelta`` pieces. The upstream's
    finish_reason comes last, as ``Ended``: the gateway passes it through (unless it cut the
    text itself). Its tokens (``logprobs``) ride on the text while they spell it (``Spelling``)
    with at most ``top_logprobs`` alternatives each."""
    pending = b""
    finish: list[str] = []  # the upstream's finish_reason, once an event carries it
    logged: list[dict[str, Any]] = []  # the tokens (logprobs) of the text not yet yielded
    spelling = Spelling()
    for data in response.iter_bytes():
        pending += data
        *lines, pending = pending.split(b"\n")
        if len(pending) > MAX_EVENT_BYTES:  # a line without end would be held whole
            log.warning("upstream sent a line of over %d bytes", MAX_EVENT_BYTES)
            raise UpstreamFailed(f"The upstream sent a line of over {MAX_EVENT_BYTES} bytes")
        texts: list[str] = []
        for line in lines:
            calls: list[ToolCallDelta] = []
            thoughts: list[str] = []
            read: list[dict[str, Any]] = []
            text = _event_text(line.strip(), chat, finish, calls, read, thoughts, top_logprobs)
            if text is None:
                if texts:
                    yield Logged("".join(texts), logged)
                if finish:
                    yield Ended(finish[-1])
                return
            if thoughts:  # the thinking goes before this event's text, after the text before
                if any(texts):
                    yield Logged("".join(texts), logged)
                    logged = []
                texts = []
                thought = "".join(thoughts)
                yield ReasoningDelta(thought, count_tokens(thought))
            logged.extend(spelling.check(text, read))
            texts.append(text)
            if calls:
                if any(texts):
                    yield Logged("".join(texts), logged)
                texts, logged = [], []
                for call in calls:
                    call.token_count = count_tokens((call.name or "") + call.arguments)
                    yield call
        if any(texts):
            yield Logged("".join(texts), logged)
            logged = []
    if finish:
        yield Ended(finish[-1])


class Logged(str):
    """Text with the tokens the upstream said it is made of (``logprobs`` entries in the chat
    shape: token, logprob, bytes, top_logprobs), read by the gateway as a local model's."""

    tokens: list[dict[str, Any]]

    def __new__(cls, text: str, tokens: list[dict[str, Any]]) -> Logged:
        piece = super().__new__(cls, text)
        piece.tokens = tokens
        return piece


class Spelling:
    """Whether an upstream's tokens spell the text it sent. The output guard judges the text
    alone, so a token saying anything else would reach the caller unjudged (and a client
    showing tokens beside the text would be told another text): once the tokens' bytes part
    from the text's, no more of this answer's tokens are passed back. Tokens may lag the
    text, or lead it by part of one character."""

    def __init__(self) -> None:
        self.text = b""
        self.spelled = b""
        self.trusted = True

    def check(self, text: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``entries`` when, with ``text``, the tokens still spell the answer; else none."""
        self.text += text.encode()
        if not self.trusted or not entries:
            return []
        self.spelled += b"".join(bytes(e["bytes"]) for e in entries)
        said, spelled = self.text, self.spelled
        lead = spelled[len(said) :] if spelled.startswith(said) else None
        if said.startswith(spelled) or (lead is not None and _partial_character(lead)):
            return entries
        self.trusted = False
        return []


def _partial_character(data: bytes) -> bool:
    """``data`` is the beginning of one UTF-8 character, not yet whole."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        return len(data) < 4 and decoder.decode(data) == ""
    except UnicodeDecodeError:
        return False


MAX_EVENT_BYTES = 8 * 1024 * 1024  # one server-sent event's line, as read from an upstream
MAX_TOKEN_BYTES = 256  # an alternative longer than any real token is no token


def _token_entries(logprobs: Any, chat: bool, top: int = 0) -> list[dict[str, Any]]:
    """A choice's ``logprobs`` as chat entries, checked field by field (the upstream is not
    trusted to send OpenAI's shape): chat's ``content`` list, or completions' parallel lists;
    each with at most ``top`` alternatives."""
    if not isinstance(logprobs, dict):
        return []
    if chat:
        content = logprobs.get("content")
        if not isinstance(content, list):
            return []
        return [_entry(e, top) for e in content if isinstance(e, dict)]
    tokens_, values, tops = (logprobs.get(k) for k in ("tokens", "token_logprobs", "top_logprobs"))
    if not isinstance(tokens_, list) or not isinstance(values, list):
        return []
    tops = tops if isinstance(tops, list) else []
    out = []
    for i, (token, value) in enumerate(zip(tokens_, values, strict=False)):
        found = tops[i] if i < len(tops) and isinstance(tops[i], dict) else {}
        alternatives = [{"token": t, "logprob": v} for t, v in found.items()]
        out.append(_entry({"token": token, "logprob": value, "top_logprobs": alternatives}, top))
    return out


def _entry(raw: dict[str, Any], top: int | None) -> dict[str, Any]:
    """One token as the gateway passes it on: its ``bytes`` say what it is (its ``token`` is
    their text), its log probability a finite number; ``top`` alternatives at most (None: an
    alternative itself)."""
    found, value, raw_bytes = raw.get("token"), raw.get("logprob"), raw.get("bytes")
    token = found if isinstance(found, str) else ""
    data = token.encode()
    if isinstance(raw_bytes, list) and all(isinstance(b, int) and 0 <= b < 256 for b in raw_bytes):
        data = bytes(raw_bytes)
    entry: dict[str, Any] = {
        "token": token if token.encode() == data else _token_text(data),
        "logprob": _finite(value),
        "bytes": list(data),
    }
    if top is not None:
        alternatives = raw.get("top_logprobs")
        alternatives = alternatives if isinstance(alternatives, list) else []
        entry["top_logprobs"] = [
            alternative
            for alternative in (_entry(a, None) for a in alternatives[:top] if isinstance(a, dict))
            if len(alternative["bytes"]) <= MAX_TOKEN_BYTES
        ]
    return entry


def _finite(value: Any) -> float:
    """A log probability as JSON can carry it: NaN, infinities, text and integers too large
    for a float are no log probability, and are sent as OpenAI's floor (-9999.0)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return -9999.0
    try:
        number = float(value)
    except OverflowError:
        return -9999.0
    return number if math.isfinite(number) else -9999.0


def _token_text(data: bytes) -> str:
    """A token's text from its bytes; OpenAI's ``bytes:\\xNN`` spelling when they are part of
    a character."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + data.decode("utf-8", "backslashreplace")


def _event_text(
    line: bytes,
    chat: bool,
    finish: list[str] | None = None,
    calls: list[ToolCallDelta] | None = None,
    logged: list[dict[str, Any]] | None = None,
    thoughts: list[str] | None = None,
    top_logprobs: int = 0,
) -> str | None:
    """The text of one SSE line ("" for none); None at ``[DONE]``. A finish_reason it carries
    is appended to ``finish``, its tool-call deltas to ``calls``, its tokens' logprobs to
    ``logged``, its reasoning text (vLLM's ``reasoning_content``, or ``reasoning`` as newer
    vLLM and Ollama name it) to ``thoughts``."""
    if not line.startswith(b"data:"):
        return ""
    data = line[5:].strip()
    if data == b"[DONE]":
        return None
    try:
        event = json.loads(data)
    except ValueError:  # not UTF-8, or not JSON
        log.warning("upstream sent an event that is not JSON: %s", upstream_detail(repr(data)))
        raise UpstreamFailed("The upstream sent an event that is not JSON") from None
    if not isinstance(event, dict):
        raise UpstreamFailed("The upstream sent an event that is not a JSON object")
    try:
        return _choices_text(event, chat, finish, calls, logged, thoughts, top_logprobs)
    except (AttributeError, TypeError, KeyError, ValueError):  # fields of the wrong types
        log.warning("upstream sent a malformed event: %s", upstream_detail(repr(data)))
        raise UpstreamFailed("The upstream sent an event that is not OpenAI's") from None


def _choices_text(
    event: dict[str, Any],
    chat: bool,
    finish: list[str] | None,
    calls: list[ToolCallDelta] | None,
    logged: list[dict[str, Any]] | None,
    thoughts: list[str] | None,
    top_logprobs: int,
) -> str:
    """The text of one event's choices (``_event_text``), collecting what it carries."""
    if "error" in event:
        error = event["error"]
        message = error.get("message", "") if isinstance(error, dict) else error
        log.warning("upstream error mid-stream: %s", upstream_detail(str(message)))
        raise UpstreamFailed("The upstream failed mid-stream")
    pieces = []
    for choice in event.get("choices") or []:
        delta = choice.get("delta") or {}
        piece = delta.get("content") if chat else choice.get("text")
        if isinstance(piece, str) and piece:
            pieces.append(piece)
        if chat and calls is not None:
            calls.extend(_call_deltas(delta))
        thought = _reasoning(delta) if chat else ""
        if thought and thoughts is not None:
            thoughts.append(thought)
        if logged is not None and not (thought and not piece):  # not the thinking's tokens
            logged.extend(_token_entries(choice.get("logprobs"), chat, top_logprobs))
        reason = choice.get("finish_reason")
        if finish is not None and isinstance(reason, str) and reason:
            finish.append(reason)
    return "".join(pieces)


def _reasoning(delta: dict[str, Any]) -> str:
    """A delta's reasoning text, "" for none (checked: the upstream is not trusted)."""
    for name in ("reasoning_content", "reasoning"):
        value = delta.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def _call_deltas(delta: dict[str, Any]) -> list[ToolCallDelta]:
    """An event's ``delta.tool_calls`` entries (or a legacy ``function_call``), as pieces."""
    out = []
    entries = delta.get("tool_calls") or []
    if isinstance(delta.get("function_call"), dict):
        entries = [{"index": 0, "function": delta["function_call"]}]
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        function = entry.get("function")
        function = function if isinstance(function, dict) else {}
        index = entry.get("index", 0)
        name, arguments = function.get("name"), function.get("arguments")
        out.append(
            ToolCallDelta(
                index if isinstance(index, int) else 0,
                entry.get("id") if isinstance(entry.get("id"), str) else None,
                name if isinstance(name, str) else None,
                arguments if isinstance(arguments, str) else "",
            )
        )
    return out


def load(config: dict[str, Any]) -> UpstreamModel:
    return UpstreamModel(config)


def prepare(
    config: dict[str, Any], principal: Principal | None, session: Session
) -> dict[str, Any]:
    """The registry's preparer: ``register_config`` with the operator's and the platform
    admins' allow-list."""
    settings = Settings()
    allowed = upstream_allowlist.effective(session, settings)
    return register_config(config, principal, settings, allowlist=allowed)


# What ``validate_config`` takes. A URL: http(s), a host (an RFC 3986 name or IPv4 address, or
# an IPv6 address in brackets), a port up to 65535 if any, no credentials (they go in api_key).
_H4 = "[0-9A-Fa-f]{1,4}"
_IPV6 = "|".join(
    [
        f"({_H4}:){{7}}{_H4}",
        f"({_H4}:){{1,7}}:",
        *(f"({_H4}:){{1,{7 - n}}}(:{_H4}){{1,{n}}}" for n in range(1, 7)),
        f":((:{_H4}){{1,7}}|:)",
    ]
)
_HOST = rf"(\[({_IPV6})\]|[A-Za-z0-9._~%!$&'()*+,;=-]+)"
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})?"
_URL = {"type": "string", "pattern": rf"^https?://{_HOST}(:{_PORT})?([/?#][^\s]*)?$"}
_ENDPOINT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "base_url": _URL,
        "base_urls": {"type": "array", "items": _URL, "minItems": 1},
        "model": {"type": "string", "minLength": 1, "description": "The name it serves"},
        "api_key": {"type": "string"},
    },
    "required": ["model"],
    "anyOf": [{"required": ["base_url"]}, {"required": ["base_urls"]}],
}
CONFIG_SCHEMA = _ENDPOINT | {
    "properties": _ENDPOINT["properties"]
    | {"fallbacks": {"type": "array", "items": _ENDPOINT}}
    | {
        name: {"type": "number", "minimum": low, "maximum": high}
        for name, (_, low, high) in _NUMBERS.items()
    }
    | {"context_length": {"type": "integer", "minimum": 1, "maximum": 1 << 24}}
    | {"vision": {"type": "boolean", "description": "The served model reads images"}}
    | {"tools": {"type": "boolean", "description": "false: it takes no function calling"}}
}

FAMILY = register(
    Family(
        name="upstream",
        kind="text",
        loader=load,
        validate=validate_config,
        config_schema=CONFIG_SCHEMA,
        prepare=prepare,
        capabilities=TEXT | {TOOLS, VISION, SOURCES},
        capabilities_of=capabilities_of,
        summary="An OpenAI-compatible server (vLLM, Ollama, llama.cpp, another aigc)",
        computes_here=False,  # a client of another server: nothing to put on Ray
    )
)
