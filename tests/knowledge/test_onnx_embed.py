"""The embedding model on ONNX Runtime: same vectors as PyTorch, exported here, cached, offline.

The export is the shipped MiniLM's own weights (no download); fp32 must give PyTorch's
vectors, int8 nearly so, and an index never mixes vectors of the two.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from aigc.knowledge.context import indexed_text
from aigc.knowledge.embed import DEFAULT_MODEL_SHA256, Embedder, default_model_dir
from aigc.knowledge.index import KbIndex
from aigc.knowledge.ingest import embedder_for, index_dir
from aigc.knowledge.onnx_embed import cached_export, ensure_export
from aigc.knowledge.tables import KbChunk

from .conftest import Sandbox

# The first test of a run exports the model to ONNX (tests/conftest.py): minutes on a loaded
# 2-core machine, seconds on a quiet one.
pytestmark = pytest.mark.timeout(900)

ENGLISH = [
    "How many days of annual leave do employees get?",
    "Net sales increased 4% to $8.9 billion in the second quarter, driven by price increases.",
    "The VPN client is GlobalProtect; connect to the portal before opening internal sites.",
    " ".join(["Revenue from the segment was affected by currency translation."] * 12),
]
CHINESE = [
    "出差期间的餐费补助是多少？",
    "员工出差期间按照标准享受伙食补贴，每天一百元，住宿费凭发票报销。",
    "年假天数根据工龄计算，满一年不满十年的，年休假五天。",
    "中华人民共和国个人信息保护法规定，处理个人信息应当具有明确、合理的目的。",
]


def onnx_dir() -> Path:
    return Path(os.environ["AIGC_KB_ONNX_DIR"])  # one export for the run (tests/conftest.py)


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    return Embedder(backend="torch").embed(ENGLISH + CHINESE)


@pytest.mark.parametrize("backend, floor", [("onnx", 0.9999), ("onnx-int8", 0.98)])
def test_onnx_vectors_agree_with_pytorch_in_english_and_chinese(
    torch_vectors: np.ndarray, backend: str, floor: float
) -> None:
    embedder = Embedder(backend=backend, onnx_dir=onnx_dir())
    assert embedder.backend == backend
    vectors = embedder.embed(ENGLISH + CHINESE)
    assert vectors.shape == torch_vectors.shape == (8, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    cosine = (vectors * torch_vectors).sum(axis=1)
    assert cosine.min() >= floor, cosine
    if backend == "onnx":  # the same signature: torch's cached vectors stay valid
        assert embedder.signature == Embedder().signature == "all-MiniLM-L6-v2"
    else:
        assert embedder.signature == "all-MiniLM-L6-v2+int8"
    # the tokens counted as the model counts them, and the model's own length limit
    assert embedder.count_tokens(CHINESE[1]) == Embedder().count_tokens(CHINESE[1])
    assert embedder.max_tokens() == 256


def test_the_export_is_cached_and_rebuilt_when_missing_or_damaged(tmp_path: Path) -> None:
    model = default_model_dir()
    path = ensure_export(model, tmp_path, DEFAULT_MODEL_SHA256, "fp32")
    assert path.is_relative_to(tmp_path) and cached_export(path)
    built = path.stat().st_mtime_ns
    assert ensure_export(model, tmp_path, DEFAULT_MODEL_SHA256, "fp32") == path
    assert path.stat().st_mtime_ns == built  # reused, not exported again

    path.unlink()
    assert not cached_export(path)
    assert ensure_export(model, tmp_path, DEFAULT_MODEL_SHA256, "fp32") == path
    assert cached_export(path)

    with open(path, "r+b") as fh:  # a truncated file (a crash, a full disk) is not used
        fh.truncate(1000)
    assert not cached_export(path)
    ensure_export(model, tmp_path, DEFAULT_MODEL_SHA256, "fp32")
    assert cached_export(path) and path.stat().st_size > 1_000_000
    vectors = Embedder(backend="onnx", onnx_dir=tmp_path).embed(ENGLISH[:1])
    assert np.isclose(np.linalg.norm(vectors[0]), 1.0, atol=1e-4)


def test_export_and_embedding_work_with_the_network_cut_off(tmp_path: Path) -> None:
    """In a fresh process whose every connection attempt raises, and with no HF cache."""
    code = (
        "import socket, sys\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from pathlib import Path\n"
        "from aigc.knowledge.embed import Embedder\n"
        "e = Embedder(backend='onnx-int8', onnx_dir=Path(sys.argv[1]))\n"
        "print(e.embed(['离线也能用', 'works offline']).shape)\n"
    )
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf"), PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "onnx")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "(2, 384)" in done.stdout
    assert list((tmp_path / "onnx").glob("*-int8/model.onnx"))


def test_a_model_the_exporter_does_not_handle_runs_on_pytorch(tmp_path: Path) -> None:
    (tmp_path / "modules.json").write_text('[{"type": "x.Transformer", "path": ""}]')
    assert Embedder(model_dir=tmp_path, backend="onnx", onnx_dir=tmp_path).backend == "torch"


def test_an_index_never_mixes_float_and_int8_vectors(sandbox: Sandbox) -> None:
    """Switching the backend to int8 re-embeds a KB's whole index at its next change, and
    queries are embedded as the index was; an index from before the record is float."""
    sandbox.settings.kb_embedding_backend = "onnx"
    kb = sandbox.kb(sandbox.admin_a, "docs")
    sandbox.ingest(sandbox.admin_a, kb, {"leave.md": b"# Leave\n\nAnnual leave is 25 days.\n"})
    folder = index_dir(sandbox.settings.data_dir, "t_a", kb)
    first = KbIndex.load(folder)
    assert first is not None and first.embedder == "all-MiniLM-L6-v2"
    (folder / (folder / "CURRENT").read_text() / "meta.json").unlink()  # as an older index
    assert KbIndex.load(folder).embedder is None  # type: ignore[union-attr]

    sandbox.settings.kb_embedding_backend = "onnx-int8"
    sandbox.ingest(
        sandbox.admin_a, kb, {"travel.md": "# Travel\n\n出差伙食补贴每天一百元。\n".encode()}
    )
    after = KbIndex.load(folder)
    assert after is not None and after.embedder == "all-MiniLM-L6-v2+int8"
    with sandbox.db.session() as s:
        rows = s.execute(select(KbChunk.id, KbChunk.context, KbChunk.text)).all()
    texts = {cid: indexed_text(head, text) for cid, head, text in rows}  # as indexed
    assert len(after) == len(texts) == 2
    expected = embedder_for(sandbox.settings).embed(list(texts.values()))
    rows = [after.row_of[chunk_id] for chunk_id in texts]
    assert np.allclose(after.vectors[rows], expected, atol=1e-5)  # type: ignore[index]

    from aigc.knowledge.retrieve import search

    with sandbox.db.session() as s:
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], "餐费补助", mode="dense")
    assert hits and hits[0].filename == "travel.md"


def test_the_export_can_be_made_ahead_by_a_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from aigc.cli import app

    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AIGC_KB_EMBEDDING_BACKEND", "onnx")
    done = CliRunner().invoke(app, ["kb", "export-model"])
    assert done.exit_code == 0, done.output
    assert "all-MiniLM-L6-v2 ready (onnx, 384 dimensions)" in done.output
    assert list(onnx_dir().glob("*-fp32/model.onnx"))


def test_onnx_reads_token_ids_as_pytorch_does() -> None:
    """Token ids given to /v1/embeddings are checked with the backend's tokenizer
    (gateway/token_prompts.py's made_by_tokenizer): ONNX's must answer as PyTorch's."""
    torch_side, onnx_side = Embedder(backend="torch"), Embedder(backend="onnx", onnx_dir=onnx_dir())
    assert onnx_side.special_ids() == torch_side.special_ids()
    for text in ENGLISH + CHINESE + ["tokenization 😀 naïve"]:
        ids = torch_side.token_ids(text)
        assert onnx_side.token_ids(text) == ids
        assert [onnx_side.continues_word(i) for i in ids] == [
            torch_side.continues_word(i) for i in ids
        ]
        assert onnx_side.decode(ids) == torch_side.decode(ids)
    assert torch_side.continues_word(torch_side.token_ids("tokenization")[1])
