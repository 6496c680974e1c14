"""The upstream allow-list: which URLs tenant admins may register as upstream models.

Two sources, both read at registration: the operator's setting (``AIGC_UPSTREAM_ALLOWLIST`` or
``upstream_allowlist`` in the config file, fixed until restart) and the list platform admins
keep through the API (stored in the database, so every instance sees a change at once).
Patterns are checked here before they are stored, so a typo is an error now, not a pattern
that silently never matches. Matching itself is ``upstream.url_allowed``.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from aigc.access import Principal, require_platform_admin, require_role
from aigc.config import Settings
from aigc.errors import refused_value
from aigc.infra.schema import Meta

META_KEY = "upstream_allowlist"
MAX_PATTERNS = 200
MAX_PATTERN_CHARS = 500
# Host patterns: DNS names and IPv4 addresses, with * wildcards (no [] classes, no IPv6).
_HOST = re.compile(r"^[a-z0-9*]([a-z0-9*.-]*[a-z0-9*])?$")
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
# A whole pattern as ``check_pattern`` takes it, for the API's schema (which leaves out the
# white space around it that the check forgives, takes the scheme in any case as the check
# does, and keeps the path to printable ASCII without ?, # and :).
_PATH = r"[!\x22$-9;->@-~]"  # printable ASCII but # : ? (\x22 is the double quote)
PATTERN = rf"^([Hh][Tt][Tt][Pp][Ss]?://)?[A-Za-z0-9*]([A-Za-z0-9*.-]*[A-Za-z0-9*])?(:{_PORT})?(/{_PATH}*)?$"


def stored(session: Session) -> list[str]:
    """The platform admins' patterns (without the operator's)."""
    row = session.get(Meta, META_KEY)
    return list(json.loads(row.value)) if row is not None else []


def effective(session: Session, settings: Settings) -> list[str]:
    """Every pattern a tenant admin's upstream URL may match."""
    return [*settings.upstream_allowlist, *stored(session)]


def check_pattern(pattern: Any, param: str) -> str:
    """A pattern ``url_allowed`` can use: http(s), a host (``*`` wildcards), optional port and
    path prefix; no credentials, query or fragment. Returns it normalised (lower-case host)."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise refused_value("pattern_empty", "A pattern is a non-empty string", param=param)
    text = pattern.strip()
    if len(text) > MAX_PATTERN_CHARS or any(c.isspace() for c in text):
        raise refused_value(
            "pattern_form",
            "A pattern has no spaces and at most {max_length} characters",
            param=param,
            max_length=MAX_PATTERN_CHARS,
        )
    try:  # a bracketed host that is no IPv6 address raises
        parts = urlsplit(text if "://" in text else f"https://{text}")
    except ValueError:
        raise refused_value(
            "pattern_not_url", "{pattern}: not a URL pattern", param=param, pattern=repr(text)
        ) from None
    if parts.scheme not in ("http", "https"):
        raise refused_value(
            "pattern_not_http",
            "{pattern}: only http and https upstreams",
            param=param,
            pattern=repr(text),
        )
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise refused_value(
            "url_with_credentials_query_or_fragment",
            "{pattern}: no credentials, query or fragment",
            param=param,
            pattern=repr(text),
        )
    host = (parts.hostname or "").lower()
    if not _HOST.match(host):
        raise refused_value(
            "pattern_host",
            "{pattern}: the host is not a name or address pattern",
            param=param,
            pattern=repr(text),
        )
    try:
        port = parts.port
    except ValueError:
        raise refused_value(
            "pattern_port",
            "{pattern}: the port is not a number",
            param=param,
            pattern=repr(text),
        ) from None
    netloc = f"{host}:{port}" if port is not None else host
    return f"{parts.scheme}://{netloc}{parts.path}"


def replace(session: Session, principal: Principal, patterns: list[Any]) -> list[str]:
    """Platform admins only: the stored list becomes ``patterns`` (checked, duplicates out)."""
    require_platform_admin(principal)
    if len(patterns) > MAX_PATTERNS:
        raise refused_value(
            "too_long", "At most {max_length} patterns", param="patterns", max_length=MAX_PATTERNS
        )
    checked = [check_pattern(p, f"patterns[{i}]") for i, p in enumerate(patterns)]
    unique = list(dict.fromkeys(checked))
    row = session.get(Meta, META_KEY)
    if row is None:
        session.add(Meta(key=META_KEY, value=json.dumps(unique)))
    else:
        row.value = json.dumps(unique)
    return unique


def view(session: Session, principal: Principal, settings: Settings) -> dict[str, Any]:
    """Both lists, for admins of any organization (they read it to know what they may register)
    and the platform admin."""
    if not principal.platform_admin:
        require_role(principal, "admin")
    return {"patterns": stored(session), "from_settings": list(settings.upstream_allowlist)}
