"""The first import of ``transformers`` in a process, one thread at a time.

transformers 5 sets its package up lazily, and a thread that asks for one of its names while
another thread is still running the package's ``__init__`` gets the half-made module:
``ImportError: cannot import name 'AutoModel' from 'transformers'``. Seen with two instances:
an ingestion job's ONNX export of the embedding model began while a GPT training job was
importing transformers, and all 120 documents of the ingestion failed. The server does not
import transformers at start (it would start 1-2 s later), so every place that may be the first
to need it (directly or through sentence-transformers) calls ``load_transformers()`` before its
import; once the package is loaded, the call costs one flag test.
"""

from __future__ import annotations

import threading

_LOCK = threading.Lock()
_loaded = False


def load_transformers() -> None:
    """Import the ``transformers`` package, waiting for a thread that is importing it now."""
    global _loaded
    if _loaded:
        return
    with _LOCK:
        if not _loaded:
            import transformers  # noqa: F401  (the package's set-up is what must not overlap)

            _loaded = True
