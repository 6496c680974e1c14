"""Training data: every supported format, cleaning, deterministic splits, who may read what."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aigc.access import Principal
from aigc.errors import InvalidRequest, PermissionDenied
from aigc.models.text.data import (
    clean_text,
    corpus_stats,
    read_texts,
    resolve_training_data,
    split_train_val,
)

ZH = Path(__file__).resolve().parents[3] / "shared" / "data" / "text" / "zh"


def test_clean_text_normalises_and_keeps_lines() -> None:
    raw = "Cafe\u0301  au\x07 lait\r\n\tindented   line  \n\n第二行\u3000结束"
    assert clean_text(raw) == "Caf\u00e9 au lait\n\tindented line\n\n第二行 结束"


@pytest.mark.timeout(30)  # the quadratic version needs hours for this input
def test_clean_text_is_linear_in_long_blank_runs() -> None:
    """Alternating spaces and tabs with no newline made the trailing-blank regex quadratic
    (a 200k-character run took minutes): training data is uploaded by people."""
    run = " \t" * 100_000
    assert clean_text("a" + run + "b\n" + run + "\nc") == "a" + run + "b\n\nc"


def test_read_texts_formats(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("plain text\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("# Title\nbody", encoding="utf-8")
    (tmp_path / "c.jsonl").write_text(
        json.dumps({"text": "line one"})
        + "\n\n"
        + json.dumps({"content": ["关关", "雎鸠"]})
        + "\n",
        encoding="utf-8",
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.json").write_text(
        json.dumps([{"paragraphs": ["床前明月光，", "疑是地上霜。"], "title": "静夜思"}]),
        encoding="utf-8",
    )
    (tmp_path / "ignored.png").write_bytes(b"\x89PNG\x00\x00")
    docs = read_texts([tmp_path])
    assert docs == [
        "plain text\n",
        "# Title\nbody",
        "line one",
        "关关\n雎鸠",
        "床前明月光，\n疑是地上霜。",
    ]


def test_read_texts_uploaded_file_without_suffix_is_sniffed(tmp_path: Path) -> None:
    upload = tmp_path / "file-0123abcd"
    upload.write_text(json.dumps({"text": "from jsonl"}) + "\n", encoding="utf-8")
    plain = tmp_path / "file-4567"
    plain.write_text("just text", encoding="utf-8")
    assert read_texts([upload, plain]) == ["from jsonl", "just text"]


def test_read_texts_in_the_encodings_chinese_and_windows_editors_save(tmp_path: Path) -> None:
    """GBK from a mainland office, Big5 from Taiwan, UTF-16 from Notepad: each read as written
    (they were refused as "not UTF-8")."""
    poem = "床前明月光，疑是地上霜。举头望明月，低头思故乡。"
    traditional = "床前明月光，疑是地上霜。舉頭望明月，低頭思故鄉。"
    files = {
        "gbk.txt": (poem * 4).encode("gbk"),
        "big5.txt": (traditional * 4).encode("big5"),
        "notepad.txt": (poem * 4).encode("utf-16"),
        "records.jsonl": (json.dumps({"text": poem}, ensure_ascii=False) + "\n").encode("gb18030"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    read = read_texts([tmp_path / name for name in files])
    assert read == [poem * 4, traditional * 4, poem * 4, poem]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.bin", b"\x00\x01binary", "not a text file"),
        ("x.txt", bytes(range(256)) * 16, "not a text file"),
        ("x.jsonl", b'{"text": "ok"}\n{broken', "line 2"),
        ("x.jsonl", b'{"title": "no text"}', "'text'"),
        ("x.csv", b"a,b\n1,2\n", "Unknown kind of file"),
    ],
)
def test_read_texts_errors(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InvalidRequest, match=message):
        read_texts([tmp_path / name])
    with pytest.raises(InvalidRequest, match="No such file"):
        read_texts([tmp_path / "missing.txt"])


def test_split_is_deterministic_and_complete() -> None:
    docs = [f"doc {i}" for i in range(50)]
    train, val = split_train_val(docs, 0.1, seed=3)
    assert (train, val) == split_train_val(docs, 0.1, seed=3)
    assert len(val) == 5 and sorted(train + val) == sorted(docs)
    assert split_train_val(docs, 0.1, seed=4)[1] != val
    book = "".join(f"line {i}\n" for i in range(100))
    train, val = split_train_val([book], 0.1)
    assert train[0] + val[0] == book and train[0].endswith("\n") and val[0].startswith("line 9")
    stats = corpus_stats(train, val)
    assert stats.documents == 2 and stats.characters == len(book)
    assert stats.train_documents == 1 and stats.val_characters == len(val[0])


def test_resolve_training_data_permissions(tmp_path: Path) -> None:
    root = tmp_path / "imports"
    root.mkdir()
    (root / "corpus.txt").write_text("hello", encoding="utf-8")
    member = Principal(tenant_id="t1", role="admin")
    admin = Principal(tenant_id="t0", role="owner", platform_admin=True)
    kwargs = {"file_ids": None, "data_dir": tmp_path, "import_roots": [root]}
    path = str(root / "corpus.txt")
    expected = ([], [root / "corpus.txt"])
    assert resolve_training_data(None, None, data_path=path, **kwargs) == expected
    assert resolve_training_data(None, admin, data_path=path, **kwargs) == expected
    with pytest.raises(PermissionDenied):
        resolve_training_data(None, member, data_path=path, **kwargs)
    with pytest.raises(PermissionDenied):
        resolve_training_data(None, None, data_path=str(tmp_path), **kwargs)
    with pytest.raises(InvalidRequest):
        resolve_training_data(None, None, data_path=None, **kwargs)


@pytest.mark.skipif(not ZH.is_dir(), reason="shared Chinese poetry data is absent")
def test_chinese_poetry_corpus_reads() -> None:
    docs = read_texts([ZH])
    assert len(docs) == 366 + 280 + 305
    assert any(d.startswith("关关雎鸠") for d in docs)  # shijing's `content` lists
