"""Fetch a URL for ingestion: ``infra.fetch`` (the SSRF rules, size and time limits), then a
file name with an extension the parsers know."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from aigc.infra.fetch import FetchRefused, fetch_bytes

__all__ = ["CONTENT_TYPES", "FetchRefused", "Fetched", "fetch"]

CONTENT_TYPES = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/plain": "txt",
    "text/markdown": "md",
    "text/csv": "csv",
    "application/json": "json",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}
_EXTENSIONS = ("pdf", "docx", "html", "htm", "md", "txt", "csv", "json", "jsonl", "pptx", "xlsx")


@dataclass
class Fetched:
    url: str  # after redirects
    filename: str
    content_type: str
    data: bytes


def fetch(
    url: str, max_bytes: int, timeout_s: float, allow_networks: Iterable[str] = ()
) -> Fetched:
    """GET ``url`` under the SSRF rules; the result names a file type we can parse."""
    got = fetch_bytes(url, max_bytes, timeout_s, allow_networks, user_agent="aigc-kb/1")
    return Fetched(got.url, _filename(got.url, got.content_type), got.content_type, got.data)


def _filename(url: str, mime: str) -> str:
    """A file name with an extension our parsers know: from the path, else the content type."""
    fmt = CONTENT_TYPES.get(mime, "html" if not mime else "")
    parts = urlsplit(url)
    base = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1]) or parts.hostname or "page"
    base = base.replace("\\", "_")[:200]
    if "." in base and base.rsplit(".", 1)[1].lower() in _EXTENSIONS:
        return base
    if not fmt:
        raise FetchRefused(f"Unsupported content type '{mime}'")
    return f"{base}.{fmt}"
