"""Console: a knowledge-base ingestion job's progress line in the page's language.

The job's ``message`` is English ("document 3 of 5: 年假.pdf indexed, 12 chunks; …"); its
``message_code`` and ``message_values`` (aigc.knowledge.ingest_lines) let a Chinese page say
it, with the document's notes and failure reason in the page's words too. English pages and
unnamed lines keep the API's words.
"""

from __future__ import annotations

from typing import Any

from aigc.console import i18n
from aigc.console.job_lines import coded_line
from aigc.console.pages.knowledge_common import reason_text
from aigc.console.pages.knowledge_notes import note_text
from aigc.knowledge import failure_codes, ingest_lines

i18n.add(
    {
        "en": {
            "kb.line.kb_indexed": "Document {done} of {total}: {name} indexed, {chunks} chunks"
            "{ocr}{notes}",
            "kb.line.ocr": " ({ocr} by OCR)",
            "kb.line.kb_failed": "Document {done} of {total}: {name} failed: {reason}{kept}",
            "kb.line.kept": "; the previous version is kept and searched",
            "kb.line.kb_superseded": "Document {done} of {total}: {name} not stored: a newer "
            "upload of it (or its deletion) came meanwhile",
            "kb.line.kb_unchanged": "Document {done} of {total}: {name} unchanged",
            "kb.line.kb_gone": "Document {done} of {total}: not found",
            "kb.line.kb_embedding": "Document {done} of {total}: {name}, {embedded} of {chunks} "
            "chunks embedded",
            "kb.line.kb_updating_index": "Updating the index",
            "kb.line.kb_done": "Done",
            "kb.line.notes": "; {notes}",
        },
        "zh-CN": {
            "kb.line.kb_indexed": "第 {done}/{total} 个文档：{name} 已建立索引，共 {chunks} 个片段"
            "{ocr}{notes}",
            "kb.line.ocr": "（其中 {ocr} 个经 OCR 识别）",
            "kb.line.kb_failed": "第 {done}/{total} 个文档：{name} 处理失败：{reason}{kept}",
            "kb.line.kept": "上一版本仍保留并可检索",
            "kb.line.kb_superseded": "第 {done}/{total} 个文档：{name} 未保存：期间该文档有了更新的"
            "上传（或已被删除）",
            "kb.line.kb_unchanged": "第 {done}/{total} 个文档：{name} 内容未变",
            "kb.line.kb_gone": "第 {done}/{total} 个文档：未找到",
            "kb.line.kb_embedding": "第 {done}/{total} 个文档：{name}，"
            "已向量化 {embedded}/{chunks} 个片段",
            "kb.line.kb_updating_index": "正在更新索引",
            "kb.line.kb_done": "完成",
            "kb.line.notes": "；{notes}",
        },
    }
)


def _shown(tr: i18n.Translator, code: str, values: dict[str, Any]) -> dict[str, Any]:
    shown = dict(values)
    if code == ingest_lines.INDEXED:
        ocr = int(values.get("ocr") or 0)
        shown["ocr"] = tr("kb.line.ocr", ocr=ocr) if ocr else ""
        texts = [str(t) for t in values.get("note_texts") or []]
        named = values.get("notes") or [None] * len(texts)
        said = [note_text(tr, t, n) for t, n in zip(texts, named, strict=True)]
        notes = tr("kb.note.separator").join(said)
        shown["notes"] = tr("kb.line.notes", notes=notes) if said else ""
    elif code == ingest_lines.FAILED:
        reason = values.get("reason")
        if reason not in failure_codes.REASONS:  # a reason this console has no words for
            raise KeyError(reason)
        shown["reason"] = reason_text(tr, reason, "?", values.get("reason_values"))
        shown["kept"] = tr("kb.note.separator") + tr("kb.line.kept") if values.get("kept") else ""
    return shown


def ingest_line(tr: i18n.Translator, job: dict[str, Any]) -> str:
    """The job's progress line: in the page's language where the job named it, else (and on
    English pages) as the API wrote it."""
    return coded_line(tr, job, "kb.line", ingest_lines.CODES, _shown)
