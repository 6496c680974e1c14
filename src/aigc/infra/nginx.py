"""The nginx site that puts several `aigc serve` instances behind one address.

One template (``nginx_site.conf``) rendered here serves both the operator (`aigc nginx-config`
prints it) and the test cluster (tests/e2e/cluster.py runs it), and docs/deploy.md shows its
rendering, checked by a test: the layout the docs describe is the layout the tests exercise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib.resources import files
from string import Template

MIB = 1024 * 1024
# host:port, host a name, an IPv4 address or a bracketed IPv6 address; or unix:/path.
_INSTANCE = re.compile(r"^(unix:/[^\s;{}]+|(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5})$")
_TOKEN = re.compile(r"^[^\s;{}#'\"]+$")  # one nginx word: nothing that ends or opens a directive


class _Site(Template):
    delimiter = "@@"  # nginx's own variables are $name


def _body_size(max_body_bytes: int) -> str:
    """nginx's size syntax, in whole megabytes when the limit is one (512 MiB → 512m)."""
    if max_body_bytes % MIB == 0:
        return f"{max_body_bytes // MIB}m"
    return str(max_body_bytes)


def site_config(
    instances: Sequence[str],
    listen: str = "80",
    server_name: str = "_",
    max_body_bytes: int = 512 * MIB,
) -> str:
    """The site for ``instances`` (``host:port`` of each `aigc serve`); a ValueError names the
    first value that is not one nginx word of the expected shape (no config injection)."""
    if not instances:
        raise ValueError("at least one instance (host:port) is needed")
    for instance in instances:
        if not _INSTANCE.match(instance):
            raise ValueError(f"not host:port or unix:/path: {instance!r}")
    for name, value in (("listen", listen), ("server_name", server_name)):
        if not _TOKEN.match(value):
            raise ValueError(f"{name} must be one word without ; {{ }} # or quotes: {value!r}")
    if max_body_bytes < 1:
        raise ValueError("max_body_bytes must be positive")
    template = files("aigc.infra").joinpath("nginx_site.conf").read_text(encoding="utf-8")
    return _Site(template).substitute(
        count=len(instances),
        servers="\n".join(f"    server {instance};" for instance in instances),
        listen=listen,
        server_name=server_name,
        max_body=_body_size(max_body_bytes),
    )
