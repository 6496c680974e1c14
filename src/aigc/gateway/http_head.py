"""The HTTP server's protocol with limits on a request's head: 431 beyond them.

uvicorn's httptools protocol accepts a header of any size: it buffers the bytes (joining them
piece by piece, which grows quadratically) before the application sees anything, so a 100 MB
header from anyone, signed in or not, held the event loop for seconds. This protocol counts the
bytes of the request line and headers as they arrive, and the header fields as they are parsed,
and answers ``431 Request Header Fields Too Large`` (then closes the connection) as soon as
either limit is passed, without parsing further.

The byte count starts when the previous request on the connection completes; with pipelining,
the head of a following request may be undercounted by what arrived in the same read (at most
one read, 256 KiB), which still bounds the work.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("aigc.http")

_BODY = json.dumps(
    {
        "error": {
            "message": "Request header fields too large",
            "type": "invalid_request_error",
            "param": None,
            "code": "request_header_fields_too_large",
        }
    }
).encode()


class HeadLimitedProtocol(HttpToolsProtocol):
    """httptools protocol refusing a request head over ``max_head_bytes`` or
    ``max_header_count`` fields with a 431."""

    max_head_bytes = 64 * 1024
    max_header_count = 100

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True  # between requests or reading a head: bytes count towards the cap
        self._head_bytes = 0
        self._header_count = 0
        self._too_many_headers = False

    # --- parser callbacks ---

    def on_message_begin(self) -> None:
        self._header_count = 0
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.max_header_count:
            self._too_many_headers = True
            raise ValueError("too many header fields")  # stops the parser at once
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes = True, 0

    # --- reading ---

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            room = self.max_head_bytes - self._head_bytes
            if len(data) > room:
                # Parse only what fits; if that does not finish the head, it is too large.
                if room > 0 and not self._feed(data[:room]):
                    return
                if self._in_head:
                    self._refuse("request head over %d bytes", self.max_head_bytes)
                    return
                data = data[room:]
            else:
                self._head_bytes += len(data)
        self._feed(data)

    def _feed(self, data: bytes) -> bool:
        """uvicorn's ``data_received`` with a 431 for our limits; False when the connection is
        being closed."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        except httptools.HttpParserError:
            if self._too_many_headers:
                self._refuse("over %d header fields", self.max_header_count)
            else:
                msg = "Invalid HTTP request received."
                self.logger.warning(msg)
                self.send_400_response(msg)
            return False
        return not self.transport.is_closing()

    def _refuse(self, why: str, limit: int) -> None:
        log.warning("431 to %s: " + why, _peer(self.client), limit)
        head = [b"HTTP/1.1 431 Request Header Fields Too Large\r\n"]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(_BODY)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            _BODY,
        ]
        self.transport.write(b"".join(head))
        self.transport.close()


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "unknown"


def head_limited_protocol(max_head_bytes: int, max_header_count: int) -> type[asyncio.Protocol]:
    """The protocol class for ``uvicorn.run(http=...)`` with these limits."""
    return type(
        "HeadLimitedProtocol",
        (HeadLimitedProtocol,),
        {"max_head_bytes": max_head_bytes, "max_header_count": max_header_count},
    )
