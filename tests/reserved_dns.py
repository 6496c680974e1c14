"""A stand-in resolver for SSRF tests: one name answers TEST-NET-1 (192.0.2.2), and every
connection off loopback is recorded and refused, so no test ever sends traffic off the host."""

from __future__ import annotations

import socket
from typing import Any

import pytest


def resolve_to_reserved(monkeypatch: pytest.MonkeyPatch, name: str) -> list[Any]:
    """Make ``name`` resolve to 192.0.2.2; return the list that records refused connections."""
    real_dns, real_connect = socket.getaddrinfo, socket.create_connection
    attempts: list[Any] = []

    def dns(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == name:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.2", port))]
        return real_dns(host, port, *args, **kwargs)

    def connect(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        if not address[0].startswith("127."):
            attempts.append(address)
            raise OSError("test: traffic off loopback")
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", dns)
    monkeypatch.setattr(socket, "create_connection", connect)
    return attempts
