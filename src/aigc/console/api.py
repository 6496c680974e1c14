"""The console's client for the platform's own HTTP API, called over loopback as the signed-in user.

Going through the API (not around it) means the console gets exactly the governance an API
client gets: the same auth, roles, tenant isolation, limits, guard and audit record.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

_client: httpx.AsyncClient | None = None
_base_url = "http://127.0.0.1:8000"


def configure(host: str, port: int) -> None:
    """Where this process listens; a wildcard bind is reached on loopback."""
    global _base_url
    if host in ("0.0.0.0", "", "::", "[::]"):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    _base_url = f"http://{host}:{port}"


def _shared_client() -> httpx.AsyncClient:
    global _client
    if _client is None:
        _client = httpx.AsyncClient(
            base_url=_base_url,
            timeout=httpx.Timeout(300, connect=5),
            # Idle connections are dropped before uvicorn's 5 s keep-alive closes them, so a
            # request is never sent on a connection the server is closing at that moment.
            limits=httpx.Limits(keepalive_expiry=2.0),
        )
    return _client


async def close() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
        _client = None


SESSION_ENDED = "session_ended"  # the API's code for a console session that is over


class ApiError(Exception):
    """An error answer from the API, with its OpenAI-shaped message for the user to read."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        param: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        # a validator's problems by type and values (aigc.errors.problem_detail)
        self.details = details or []


def _no_answer(exc: Exception) -> str:
    return f"The platform did not answer ({type(exc).__name__})"


def _details(response: httpx.Response) -> list[dict[str, Any]] | None:
    """The refused values' problems by type and values, from the API's x-error-details."""
    try:
        found = json.loads(response.headers.get("x-error-details") or "null")
    except ValueError:
        return None
    return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else None


# An error's OpenAI type, for its status when it came as a stream's last event (the stream's
# own status, 200, was sent before it).
_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "rate_limit_error": 429,
    "insufficient_quota": 429,
}


def _stream_error(chunk: dict[str, Any]) -> ApiError:
    """A failure after the stream began (a format the model's vocabulary could not finish,
    an upstream gone): its envelope, and its kind and values beside it (error_details)."""
    error, details = chunk["error"], chunk.get("error_details")
    return ApiError(
        _TYPE_STATUS.get(str(error.get("type")), 500),
        str(error.get("message") or ""),
        error.get("code"),
        error.get("param"),
        [d for d in details if isinstance(d, dict)] if isinstance(details, list) else None,
    )


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        error = response.json()["error"]
        raise ApiError(
            response.status_code,
            error.get("message") or "",
            error.get("code"),
            error.get("param"),
            _details(response),
        )
    except (ValueError, KeyError, TypeError):
        raise ApiError(response.status_code, f"HTTP {response.status_code}") from None


class Api:
    """Calls made on behalf of one signed-in user (their session secret is the bearer)."""

    def __init__(self, token: str) -> None:
        self._headers = {"Authorization": f"Bearer {token}"}
        # Called when the API says the session is over (signed out in another tab, expired):
        # the page offers the way back to sign-in, whichever action met the refusal.
        self.on_session_ended: Callable[[], None] | None = None

    def _check(self, response: httpx.Response) -> None:
        try:
            _raise_for(response)
        except ApiError as exc:
            if exc.code == SESSION_ENDED and self.on_session_ended is not None:
                self.on_session_ended()
            raise

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call; a GET is sent again once if the connection broke before any answer."""
        headers = self._headers | kwargs.pop("headers", {})
        attempts = 2 if method == "GET" else 1
        for attempt in range(attempts):
            try:
                response = await _shared_client().request(method, path, headers=headers, **kwargs)
                break
            except (httpx.RemoteProtocolError, httpx.ConnectError) as exc:
                if attempt + 1 == attempts:
                    raise ApiError(503, _no_answer(exc)) from exc
            except httpx.TransportError as exc:
                raise ApiError(503, _no_answer(exc)) from exc
        self._check(response)
        return response

    async def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return (await self.request("GET", path, params=clean)).json()

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        response = await self.request("POST", path, json=json, **kwargs)
        return response.json() if response.content else None

    async def patch(self, path: str, json: Any) -> Any:
        return (await self.request("PATCH", path, json=json)).json()

    async def put(self, path: str, json: Any) -> Any:
        return (await self.request("PUT", path, json=json)).json()

    async def delete(self, path: str) -> None:
        await self.request("DELETE", path)

    async def stream(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Server-sent events of a streamed completion, decoded; ends at ``[DONE]``.

        ``headers`` may carry ``x-request-id``: the server keeps a well-formed one, so the caller
        knows the request's id (for feedback) before the stream starts."""
        async with _shared_client().stream(
            "POST", path, json=body | {"stream": True}, headers=self._headers | (headers or {})
        ) as response:
            if not response.is_success:
                await response.aread()
                self._check(response)
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                chunk = json.loads(data)
                if isinstance(chunk, dict) and isinstance(chunk.get("error"), dict):
                    raise _stream_error(chunk)
                yield chunk
