"""A failure reason that names numbers in English names them in Chinese too, from the values
the parser keeps beside the code ("该 PDF 的页数超过了本服务器的上限" before, without the pages
or the limit)."""

from __future__ import annotations

import json

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
