"""Two jobs that first need transformers at the same moment both get it (aigc/infra/hf_import.py).

Seen with two instances: a GPT training job was importing transformers when an ingestion job
began the ONNX export of the embedding model, whose ``from transformers import AutoModel`` got
the half-made package and failed the whole ingestion. The interleaving is made certain here: in
a fresh interpreter, the training's import is held inside the package's set-up (the import of
``transformers.utils``) until the export has begun its own.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import sys, threading, time
    from pathlib import Path

    inside = threading.Event()

    class HoldTheFirstImport:
        # Holds the training's thread inside transformers' __init__ for a moment, after
        # letting the export's thread go: the export asks for transformers meanwhile.
        def find_spec(self, name, path=None, target=None):
            if name == "transformers.utils" and threading.current_thread().name == "training":
                inside.set()
                time.sleep(1.0)
            return None

    sys.meta_path.insert(0, HoldTheFirstImport())

    from aigc.knowledge import onnx_embed
    from aigc.models.text import gpt

    assert "transformers" not in sys.modules, "imported before the threads start"
    failures = []

    def training():
        try:
            gpt.build(gpt.GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=1, n_embd=8))
        except Exception as exc:
            failures.append(f"training: {exc!r}")

    def export(out):
        inside.wait(120)
        try:  # no model there: past the import, loading it fails, which is not the point
            onnx_embed._export_float(Path(out) / "no-model", Path(out) / "model.onnx")
        except ImportError as exc:
            failures.append(f"export: {exc!r}")
        except Exception:
            pass

    threads = [
        threading.Thread(target=training, name="training"),
        threading.Thread(target=export, args=(sys.argv[1],), name="export"),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert inside.is_set()
    print("FAILURES", failures)
    """
)


def test_two_threads_importing_transformers_at_once_both_get_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "FAILURES []" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
