"""Console: a document's notes on how it was read, in the page's language.

The API serves each note in English (``notes``) and, beside it, its code and values
(``note_codes``, aigc.knowledge.note_codes); a Chinese page says a named note from those, an
English page (and any note without a code) keeps the API's words.
"""

from __future__ import annotations

from typing import Any

from aigc.console import i18n
from aigc.knowledge import failure_codes, note_codes

i18n.add(
    {
        "en": {
            "kb.note.scanned_unread": "{pages} look scanned and were not read: {ocr}",
            "kb.note.page_image_too_large": "page {page} holds an image too large to read "
            "({width}×{height} pixels; the limit is {limit} pixels)",
            "kb.note.page_ocr_out_of_time": "page {page} looks scanned; OCR stopped, out of time",
            "kb.note.page_ocr_failed": "page {page}: OCR failed{why}",
            "kb.note.ocr_failed.why": " ({why})",
            "kb.note.ocr_failed.timeout": "reading took longer than {seconds} s",
            "kb.note.ocr_failed.layout_timeout": "detecting the page's orientation took "
            "longer than {seconds} s",
            "kb.note.ocr_failed.tesseract": "Tesseract reported: {detail}",
            "kb.note.ocr_failed.image_unreadable": "the frame is damaged or incomplete",
            "kb.note.page_ocr_no_text": "page {page} looks scanned, but OCR found no text on it",
            "kb.note.page_not_loaded": "page {page} could not be loaded",
            "kb.note.frames_not_read": "frames after {limit} were not read",
            "kb.note.ocr_stopped_from": "page {page} and after: OCR stopped, out of time",
            "kb.note.pictures_limit": "only the first {read} of {total} pictures were read",
            "kb.note.picture_not_read": "picture {number} was not read: {reason}",
            "kb.note.in_picture": "picture {number}: {note}",
            "kb.note.in_file": "{name}: {note}",
            "kb.note.files_not_read": "files not read: {names}{more}",
            "kb.note.attachments_not_read": "attachments not read: {names}",
            "kb.note.bytes_replaced": "{count} byte sequence(s) that are not valid UTF-8 were "
            "replaced by �",
            "kb.note.read_as_encoding": "read as {encoding} text (the file is not UTF-8)",
            "kb.note.same_file_as": "the same file as {names}{more} in this knowledge base; "
            "a search shows one copy",
            "kb.note.more": " and {n} more",
            "kb.note.pages": "pages {numbers}",
            "kb.note.ocr.off": "OCR is off",
            "kb.note.ocr.not_running": "OCR does not run on this server",
            "kb.note.ocr.languages_missing": "the OCR languages {languages} are not installed",
            "kb.note.separator": "; ",
            "kb.note.list": ", ",
        },
        "zh-CN": {
            "kb.note.scanned_unread": "{pages}似为扫描件，未能读取：{ocr}",
            "kb.note.page_image_too_large": "第 {page} 页的图片过大，无法读取（{width}×{height} "
            "像素，上限为 {limit} 像素）",
            "kb.note.page_ocr_out_of_time": "第 {page} 页似为扫描件；OCR 超时，已停止",
            "kb.note.page_ocr_failed": "第 {page} 页：OCR 识别失败{why}",
            "kb.note.ocr_failed.why": "（{why}）",
            "kb.note.ocr_failed.timeout": "识别超过 {seconds} 秒，已停止",
            "kb.note.ocr_failed.layout_timeout": "检测页面方向超过 {seconds} 秒，已停止",
            "kb.note.ocr_failed.tesseract": "Tesseract 报告：{detail}",
            "kb.note.ocr_failed.image_unreadable": "该帧图片已损坏或不完整，无法解码",
            "kb.note.page_ocr_no_text": "第 {page} 页似为扫描件，但 OCR 未识别出文字",
            "kb.note.page_not_loaded": "第 {page} 页无法加载（页面结构损坏或嵌套过深）",
            "kb.note.frames_not_read": "第 {limit} 帧之后的内容未读取",
            "kb.note.ocr_stopped_from": "第 {page} 页及之后：OCR 超时，已停止",
            "kb.note.pictures_limit": "共 {total} 张图片，仅读取了前 {read} 张",
            "kb.note.picture_not_read": "第 {number} 张图片未读取：{reason}",
            "kb.note.in_picture": "第 {number} 张图片：{note}",
            "kb.note.in_file": "{name}：{note}",
            "kb.note.files_not_read": "未读取的文件：{names}{more}",
            "kb.note.attachments_not_read": "未读取的附件：{names}",
            "kb.note.bytes_replaced": "有 {count} 处不是有效 UTF-8 的字节已替换为 �",
            "kb.note.read_as_encoding": "按 {encoding} 编码读取（该文件不是 UTF-8）",
            "kb.note.same_file_as": "与本知识库中的 {names}{more} 是同一个文件；"
            "搜索结果只显示其中一份",
            "kb.note.more": " 等另外 {n} 个",
            "kb.note.pages": "第 {numbers} 页",
            "kb.note.ocr.off": "OCR 未开启",
            "kb.note.ocr.not_running": "本服务器无法运行 OCR",
            "kb.note.ocr.languages_missing": "本服务器未安装 OCR 语言包 {languages}",
            "kb.note.separator": "；",
            "kb.note.list": "、",
        },
    }
)


def _reason(tr: i18n.Translator, code: Any) -> str:
    if code in failure_codes.REASONS:
        return tr(f"kb.reason.{code}")
    return "?"


def _shown(tr: i18n.Translator, code: str, values: dict[str, Any]) -> dict[str, Any]:
    """A note's values as the page writes them: lists joined, inner notes said too."""
    shown = dict(values)
    sep = tr("kb.note.list")
    if "names" in values:
        shown["names"] = sep.join(str(n) for n in values["names"])
    if "more" in values and code != note_codes.SCANNED_UNREAD:
        more = int(values["more"] or 0)
        shown["more"] = tr("kb.note.more", n=more) if more else ""
    if "limit" in values:
        shown["limit"] = f"{int(values['limit']):,}"
    if code == note_codes.SCANNED_UNREAD:
        numbers = sep.join(str(n) for n in values["pages"]) + ("…" if values.get("more") else "")
        shown["pages"] = tr("kb.note.pages", numbers=numbers)
        ocr = values.get("ocr")
        shown["ocr"] = tr(f"kb.note.ocr.{ocr}", languages=values.get("languages", ""))
    elif code == note_codes.PAGE_OCR_FAILED:
        # why, where the note kept it (notes stored before it was kept: the plain words)
        why = values.get("why")
        shown["why"] = (
            tr("kb.note.ocr_failed.why", why=tr(f"kb.note.ocr_failed.{why}", **values))
            if why in note_codes.OCR_FAILED
            else ""
        )
    elif code == note_codes.PICTURE_NOT_READ:
        shown["reason"] = _reason(tr, values.get("reason"))
    elif code in (note_codes.IN_PICTURE, note_codes.IN_FILE):
        inner = values.get("note")
        shown["note"] = note_text(tr, str(values.get("text") or ""), inner)
    return shown


def note_text(tr: i18n.Translator, text: str, named: Any) -> str:
    """One note in the page's language where the API named it, else as the API wrote it."""
    if tr.lang == "en" or not isinstance(named, dict):
        return text
    code, values = named.get("code"), named.get("values")
    if code not in note_codes.CODES or not isinstance(values, dict):
        return text
    try:
        return tr(f"kb.note.{code}", **_shown(tr, code, values))
    except (KeyError, TypeError, ValueError):  # values not as this console expects
        return text


def notes_text(tr: i18n.Translator, doc: dict[str, Any]) -> str:
    """A document's notes, each in the page's language where it can be, as one line."""
    notes = [str(n) for n in doc.get("notes") or []]
    named = doc.get("note_codes")
    if not isinstance(named, list) or len(named) != len(notes):
        named = [None] * len(notes)
    return tr("kb.note.separator").join(
        note_text(tr, note, code) for note, code in zip(notes, named, strict=True)
    )
