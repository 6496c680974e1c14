"""The console's loopback client: a broken connection is retried for reads, explained for writes.

A real socket server on loopback closes the first connection without answering, as a server
does when its keep-alive timeout and a new request cross.
"""

from __future__ import annotations

import asyncio

import pytest

from aigc.console import api
from aigc.console.api import Api, ApiError

BODY = b'{"ok": true}'
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)


async def _serve_dropping_first(calls: list[str]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        calls.append(head.split(b" ", 1)[0].decode())
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        if length:
            await reader.readexactly(length)
        if len(calls) > 1:
            writer.write(ANSWER)
            await writer.drain()
        writer.close()  # the first time: closed without a word

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def _run(method: str) -> tuple[object, list[str]]:
    async def main() -> tuple[object, list[str]]:
        calls: list[str] = []
        server = await _serve_dropping_first(calls)
        api.configure("127.0.0.1", server.sockets[0].getsockname()[1])
        await api.close()  # a fresh client for the new address
        try:
            client = Api("sess-aigc-test")
            result: object
            try:
                result = await (
                    client.get("/api/x") if method == "GET" else client.post("/api/x", {})
                )
            except ApiError as exc:
                result = exc
            return result, calls
        finally:
            await api.close()
            server.close()
            await server.wait_closed()

    return asyncio.run(main())


def test_a_read_is_sent_again_once_when_the_connection_breaks() -> None:
    result, calls = _run("GET")
    assert result == {"ok": True} and calls == ["GET", "GET"]


def test_a_write_is_not_repeated_and_the_failure_is_explained() -> None:
    result, calls = _run("POST")
    assert isinstance(result, ApiError) and result.status == 503
    assert "did not answer" in result.message and calls == ["POST"]


@pytest.fixture(autouse=True)
def _restore_address() -> object:
    yield
    api.configure("127.0.0.1", 8000)
