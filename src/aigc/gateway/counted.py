"""Work that is not text, counted as one request against the key's requests per minute.

Training a model, uploading or fetching documents, searching a knowledge base and checking an
image's watermark use no tokens, but each starts real work (a training job holds a CPU for
minutes). A key with ``rpm_limit`` could start any number of them: its limit counted only the
OpenAI routes. Such a route now takes ``one_request``: admitted like any request (429 with the
key's rate-limit headers past the limit, before any work), settled at no tokens, and the
answer carries the headers. An unlimited key passes at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Depends, Response

from aigc.access import Principal
from aigc.gateway.deps import principal, services
from aigc.gateway.pipeline import charged
from aigc.gateway.services import Services


async def one_request(
    response: Response,
    caller: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> AsyncIterator[None]:
    """A FastAPI dependency: one request, no tokens, against the caller key's limits."""
    async with charged(svc, caller, 0) as headers:
        response.headers.update(headers)
        yield
