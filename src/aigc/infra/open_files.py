"""The server's limit on open files: every client connection is a file descriptor.

Many systems start services with a soft limit of 1,024 (systemd's default, most login shells)
under a hard limit hundreds of times higher. At 1,000 concurrent streams such a server ran out:
SQLite could not open the database (500s) and connections failed (the streaming soak,
``bench/soak.py``). A process may raise its own soft limit up to the hard one, as nginx's
``worker_rlimit_nofile`` and Go's runtime do; ``aigc serve`` does so at start.
"""

from __future__ import annotations

import logging

log = logging.getLogger("aigc.open_files")

# When the hard limit is "unlimited", the kernel still refuses more than fs.nr_open (1,048,576 by
# default): ask for that.
UNLIMITED_TARGET = 1 << 20


def raise_open_files_limit() -> tuple[int, int] | None:
    """Raise the soft limit on open files to the hard limit; (before, after), or None where the
    platform has no such limits (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("open-files limit stays at %d: %s", soft, exc)
            return soft, soft
        log.info("open-files limit raised from %d to %d", soft, target)
        return soft, target
    return soft, soft
