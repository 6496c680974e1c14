"""``python -m aigc``: the ``aigc`` command, with ``serve`` put on the C allocator before the
command line interface (typer, SQLAlchemy, every command module) is imported, so re-running
the process for it costs milliseconds instead of a second (``infra.heap``)."""

import sys

if sys.argv[1:2] == ["serve"]:
    from aigc.infra.heap import serve_on_system_allocator

    serve_on_system_allocator()

from aigc.cli import app  # after the allocator is chosen

app()
