"""What the gateway learns about one request as it travels, for audit, metrics and logs."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field

from aigc.access import Principal

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_from(header: str | None) -> str:
    """Keep a caller's well-formed id (for tracing across systems), else make one."""
    if header and _VALID_ID.match(header):
        return header
    return f"req_{secrets.token_hex(12)}"


@dataclass
class RequestRecord:
    """Filled by the stages of the pipeline; the middleware turns it into audit and metrics."""

    request_id: str
    started: float = field(default_factory=time.perf_counter)
    principal: Principal | None = None
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    guard: list[str] = field(default_factory=list)
    images: int = 0  # images in the request's messages (audited as a count, never bytes)
    # Function calling, for the audit only (tool names and counts, never arguments/results).
    tools: list[str] = field(default_factory=list)
    audited: bool = True
