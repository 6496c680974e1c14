"""Fetch a URL for ingestion: ``infra.fetch`` (the SSRF rules, size and time limits), then a
file name with an extension the parsers know, and a text in the encoding its server declared.

The stored document is bytes, parsed later without the HTTP headers; so a text whose server
declared its encoding (``Content-Type: text/html; charset=gbk``) is stored as UTF-8 with a
byte order mark, which every text parser reads first (``infra.text_encoding``), as the
declaration would have been. HTTP's declaration outranks a page's own ``<meta charset>``, as
it does in browsers."""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from aigc.infra import text_encoding
from aigc.infra.fetch import FetchRefused, fetch_bytes
from aigc.knowledge import parse

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
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-excel": "xls",  # the real 97-2003 format, or a web page that says so
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/vnd.oasis.opendocument.presentation": "odp",
    "text/tab-separated-values": "tsv",
    "application/rtf": "rtf",
    "application/ofd": "ofd",
    "text/rtf": "rtf",
    "message/rfc822": "eml",
    "application/zip": "zip",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/tiff": "tiff",
    "image/bmp": "bmp",
    "image/webp": "webp",
}
# Names kept from the URL: those whose format the name alone tells.
_EXTENSIONS = parse.NAMED_EXTENSIONS


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
    filename = _filename(got.url, got.content_type)
    data = got.data
    if got.charset and parse.detect_format(filename) in parse.TEXT_PARSERS:
        data = _as_declared(data, got.charset)
    return Fetched(got.url, filename, got.content_type, data)


def _as_declared(data: bytes, charset: str) -> bytes:
    """``data`` as UTF-8 with a byte order mark when it reads in the declared encoding; as it
    came otherwise (UTF-8 already, or a label that is wrong: the parser detects the encoding)."""
    try:
        reading = text_encoding.decode(data, charset)
    except text_encoding.UndecodableText:
        return data
    return codecs.BOM_UTF8 + reading.text.encode("utf-8") if reading.declared else data


def _filename(url: str, mime: str) -> str:
    """A file name with an extension our parsers know: from the path, else the content type."""
    fmt = CONTENT_TYPES.get(mime, "html" if not mime else "")
    parts = urlsplit(url)
    base = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1]) or parts.hostname or "page"
    base = base.replace("\\", "_")[:200]
    if "." in base and base.rsplit(".", 1)[1].lower() in _EXTENSIONS:
        return base
    if not fmt:
        raise FetchRefused(
            f"Unsupported content type '{mime}'", "fetch_content_type", type=str(mime)[:100]
        )
    return f"{base}.{fmt}"
