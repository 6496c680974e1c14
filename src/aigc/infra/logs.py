"""Structured JSON logs carrying the request id; secrets never reach a log line.

Every line is bounded: structured fields (``extra={"fields": ...}``) are ids, numbers and
names, each string cleaned and cut to 200 characters by ``untrusted.field``; the message and
an exception's text are redacted and capped too, so no request can write megabytes (or an
e-mail address it planted) into the log.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from aigc.infra.untrusted import field, redact

# The id every log line carries: set by the gateway's middleware for the length of a request
# (so logs written deep in models or knowledge carry it too), "-" outside any request.
current_request_id: ContextVar[str] = ContextVar("current_request_id", default="-")

MAX_MESSAGE = 2000  # characters of a formatted message
MAX_EXCEPTION = 20000  # characters of a traceback


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more)"


def _field(value: Any) -> Any:
    """Numbers, booleans and None as they are; anything else a bounded, cleaned string."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return field(value)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": current_request_id.get(),
            "message": redact(_bounded(record.getMessage(), MAX_MESSAGE)),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update({str(k)[:64]: _field(v) for k, v in extra.items()})
        if record.exc_info:
            text = _bounded(self.formatException(record.exc_info), MAX_EXCEPTION)
            entry["exception"] = redact(text)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(_bounded(super().format(record), MAX_MESSAGE + MAX_EXCEPTION))


def configure_logging(level: str = "INFO", as_json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if as_json else _RedactingFormatter("%(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Our middleware writes one access line per request with the request id; uvicorn's
    # own access log would repeat it without one.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
