"""One ASGI middleware around every request: request id, body limit, metrics, audit, access log.

A JSON body whose strings hold what is no text (a lone UTF-16 surrogate, the NUL character) is
refused as it arrives (``json_text``): no part can encode or store it.

Plain ASGI (not BaseHTTPMiddleware) so streams pass through untouched and the overhead stays
in microseconds. The audit record is written when the response has fully ended, so a stream's
tokens are counted.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aigc.errors import InvalidRequest, PayloadTooLarge, refused
from aigc.gateway.context import RequestRecord, request_id_from
from aigc.gateway.error_handlers import error_headers
from aigc.gateway.json_text import UnusableTextWatch
from aigc.infra import heap, metrics, untrusted
from aigc.infra.audit import AuditEvent
from aigc.infra.logs import current_request_id

log = logging.getLogger("aigc.access")
AUDITED_PREFIXES = ("/v1/", "/api/")


class GatewayMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        app_state = scope["app"].state  # ours: a mounted app (the console) replaces scope["app"]
        headers = dict(scope["headers"])
        record = RequestRecord(request_id_from(_header(headers, b"x-request-id")))
        record.audited = scope["path"].startswith(AUDITED_PREFIXES)
        scope.setdefault("state", {})["record"] = record
        token = current_request_id.set(record.request_id)
        status = 500
        rid_header = (b"x-request-id", record.request_id.encode())

        content_type = _header(headers, b"content-type") or ""
        limit = (
            self.max_upload_bytes if content_type.startswith("multipart/") else self.max_body_bytes
        )
        declared = _header(headers, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            error = body_too_large(limit)
            status = error.status
            await _send_error(send, error, rid_header)
            self._finish(scope, app_state, record, status)
            current_request_id.reset(token)
            return

        received = 0
        json_body = content_type.startswith("application/json") or "+json" in content_type
        unusable = UnusableTextWatch() if json_body else None

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > limit:
                    raise body_too_large(limit)
                if unusable is not None:
                    unusable.feed(chunk)
                    problem = None if message.get("more_body") else unusable.problem()
                    if problem is not None:
                        raise InvalidRequest(
                            f"We could not parse the JSON body of your request: {problem}",
                            code="invalid_json",
                        )
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        heap.traffic.begin()
        try:
            await self.app(scope, limited_receive, tracking_send)
        finally:
            heap.traffic.end()
            self._finish(scope, app_state, record, status)
            current_request_id.reset(token)

    def _finish(self, scope: Scope, app_state: Any, record: RequestRecord, status: int) -> None:
        elapsed = time.perf_counter() - record.started
        route = scope.get("route")
        route_path = getattr(route, "path", "unmatched")
        metrics.REQUESTS.labels(route_path, scope["method"], str(status)).inc()
        metrics.LATENCY.labels(route_path).observe(elapsed)
        principal = record.principal
        model = untrusted.field(record.model)  # the caller's text: bounded, cleaned
        if record.audited:
            services = app_state.services
            services.audit.submit(
                AuditEvent(
                    request_id=record.request_id,
                    ts=datetime.now(UTC),
                    tenant_id=principal.tenant_id if principal else None,
                    key_id=principal.key_id if principal else None,
                    user_id=principal.user_id if principal else None,
                    method=scope["method"],
                    endpoint=route_path,
                    model=model,
                    status=status,
                    prompt_tokens=record.prompt_tokens,
                    completion_tokens=record.completion_tokens,
                    latency_ms=round(elapsed * 1000, 3),
                    guard=(*record.guard, *record.tools),  # tools: audit only
                    images=record.images,
                )
            )
        if log.isEnabledFor(logging.INFO):
            log.info(
                "%s %s %s",
                scope["method"],
                route_path,
                status,
                extra={
                    "fields": {
                        "status": status,
                        "latency_ms": round(elapsed * 1000, 3),
                        "tenant_id": principal.tenant_id if principal else None,
                        "key_id": principal.key_id if principal else None,
                        "model": model,
                    }
                },
            )


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1") if value is not None else None


def body_too_large(limit: int) -> PayloadTooLarge:
    return refused(
        PayloadTooLarge,
        "request_body_too_large",
        "The request body is larger than the limit of {max_bytes} bytes",
        max_bytes=limit,
    )


async def _send_error(send: Send, error: PayloadTooLarge, rid_header: tuple[bytes, bytes]) -> None:
    body = json.dumps(error.body()).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        rid_header,
    ]
    headers += [(k.encode(), v.encode()) for k, v in error_headers(error).items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
