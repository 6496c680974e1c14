"""Text a caller chose (a model name, an id), made safe to log, store or echo back.

A request may name a model of 7 MB, with newlines, terminal escapes or a planted e-mail
address. Wherever such a value leaves the request (the access log, the audit chain, an error
message) it goes through ``field``: control and format characters removed, e-mail addresses
and key-like secrets masked, and the result cut to ``LIMIT`` characters. Real model ids are
short and plain, so they pass unchanged.
"""

from __future__ import annotations

import re
import unicodedata

LIMIT = 200  # characters; as wide as the audit chain's model column
_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"']{1,64}@[^\s@<>()\[\],;:\"']{1,255}")
_SECRET = re.compile(r"(sk-aigc-)[A-Za-z0-9_\-]{4,}|(Bearer\s+)\S+", re.IGNORECASE)
# A URL's query parameters that let whoever holds them act: a console page's live connection
# (NiceGUI's client, tab and document ids: a socket that presents them sends that page's
# events as the person signed in there; uvicorn logs every socket's URL), a one-time setup or
# sign-in token, an OpenID Connect code or state, a signed link's signature.
_QUERY_SECRET = re.compile(
    r"([?&](?:client_id|tab_id|old_tab_id|document_id|token|code|state|signature"
    r"|access_token|id_token)=)[^&\s\"'#]+",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """Mask our keys, bearer tokens, a URL's secret query values and e-mail addresses
    wherever they appear."""
    text = _SECRET.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + "***", text)
    return _EMAIL.sub("***@***", text)


def field(value: object, limit: int = LIMIT) -> str | None:
    """``value`` as a bounded, printable, redacted string (None stays None).

    Cut before cleaning too, so a multi-megabyte value costs no more than ``4 * limit``."""
    if value is None:
        return None
    text = str(value)[: limit * 4]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = redact(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
