"""A failure reason that names numbers in English names them in Chinese too, from the values
the parser keeps beside the code ("该 PDF 的页数超过了本服务器的上限" before, without the pages
or the limit)."""

from __future__ import annotations

import contextvars
import io
import json
import zipfile

import pytest
from fpdf import FPDF

from aigc.console import i18n
from aigc.console.i18n import Translator
from aigc.console.pages.knowledge_common import reason_text
from aigc.knowledge import failure_codes, parse
from aigc.knowledge.ingest import Failure, failure_values

ZH, EN = Translator("zh-CN"), Translator("en")


def _pdf(pages: int) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for n in range(pages):
        pdf.add_page()
        pdf.multi_cell(0, 8, f"Page {n + 1} of the staff handbook.")
    return bytes(pdf.output())


def _stored(exc: parse.DocumentRejected) -> dict[str, object]:
    """The failure's columns as the API serves them (through JSON)."""
    return dict(json.loads(json.dumps(failure_values(Failure(str(exc), exc.code, exc.values)))))


def test_a_pdf_over_the_page_limit_says_its_pages_and_the_limit_in_chinese() -> None:
    with pytest.raises(parse.DocumentRejected) as refused:
        parse.parse_document(_pdf(3), "pdf", parse.Limits(max_pages=2))
    doc = _stored(refused.value)
    assert doc["error"] == "The PDF has 3 pages; the limit is 2"  # the API's words, unchanged
    said = reason_text(ZH, doc["error_code"], str(doc["error"]), doc["error_values"])
    assert said == "该 PDF 共 3 页，超过了本服务器 2 页的上限，请拆分后分别上传。"
    assert (
        reason_text(EN, doc["error_code"], str(doc["error"]), doc["error_values"]) == (doc["error"])
    )


def test_a_bad_jsonl_line_is_named_by_its_number() -> None:
    with pytest.raises(parse.DocumentRejected) as refused:
        parse.parse_document(b'{"a": 1}\n{"b": 2}\n{oops\n', "jsonl", parse.Limits())
    doc = _stored(refused.value)
    said = reason_text(ZH, doc["error_code"], str(doc["error"]), doc["error_values"])
    assert said == "该 JSONL 文件的第 3 行不是有效的 JSON。"


def test_a_reason_stored_without_values_keeps_its_general_words() -> None:
    code = failure_codes.PDF_TOO_MANY_PAGES
    assert reason_text(ZH, code, "x", None) == failure_codes.REASONS[code].zh
    assert reason_text(ZH, code, "x", {"unexpected": 1}) == failure_codes.REASONS[code].zh


def test_every_reason_with_values_has_words_in_every_language() -> None:
    for code in failure_codes.WITH_VALUES:
        assert code in failure_codes.REASONS
        for lang in i18n.LANGUAGES:
            assert f"kb.reason_values.{code}" in i18n.TABLE[lang], (code, lang)


def _zip(method: int = zipfile.ZIP_DEFLATED, **parts: bytes) -> bytes:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", method) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return packed.getvalue()


def test_a_zip_bomb_says_its_part_and_ratio_in_chinese() -> None:
    data = _zip(**{"年假.txt": b"\0" * (2 * 1024 * 1024)})
    (info,) = zipfile.ZipFile(io.BytesIO(data)).infolist()
    ratio = info.file_size // info.compress_size
    with pytest.raises(parse.DocumentRejected) as refused:
        parse.parse_document(data, "zip", parse.Limits())
    doc = _stored(refused.value)
    assert doc["error"] == f"The ZIP file looks like a zip bomb: part '年假.txt' expands {ratio}x"
    said = reason_text(ZH, doc["error_code"], str(doc["error"]), doc["error_values"])
    assert said == f"文件可能是 zip 炸弹：其中的部件「年假.txt」解压后扩大了 {ratio:,} 倍。"


def test_an_archive_too_large_unpacked_says_its_size_and_the_limit_in_chinese() -> None:
    data = _zip(zipfile.ZIP_STORED, **{"a.txt": b"leave " * 200, "b.txt": b"leave " * 200})
    with pytest.raises(parse.DocumentRejected) as refused:
        parse.parse_document(data, "zip", parse.Limits(zip_max_uncompressed=2000))
    doc = _stored(refused.value)
    assert doc["error"] == (
        "The ZIP file expands to 2400 bytes; the limit is 2000 (possible zip bomb)"
    )
    said = reason_text(ZH, doc["error_code"], str(doc["error"]), doc["error_values"])
    assert said == "文件解压后共 2,400 字节，超过了本服务器 2,000 字节的上限（可能是 zip 炸弹）。"


def test_an_archive_nested_too_deep_says_its_depth_in_chinese() -> None:
    # Only a file inside files meets this (its archive lists it as unread): read as the third
    # container down, where the parser refuses it.
    def third_level() -> parse.DocumentRejected:
        parse._containers_open.set(parse.MAX_NESTED_CONTAINERS)
        with pytest.raises(parse.DocumentRejected) as refused:
            parse.parse_document(_zip(**{"a.txt": b"leave"}), "zip", parse.Limits())
        return refused.value

    doc = _stored(contextvars.copy_context().run(third_level))
    assert doc["error"] == "An archive inside 2 levels of files is not opened"
    said = reason_text(ZH, doc["error_code"], str(doc["error"]), doc["error_values"])
    assert said == "位于 2 层文件之内的电子邮件或压缩包不会被打开。"
