"""Console: what the knowledge-base pages and their panels share: the chunk viewer's address,
the client-side reading of a person's access to a KB, and the status chip.

Its own module so that the pages (``knowledge``), their panels (``knowledge_panels``) and the
chat page's citation links use one definition without importing each other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from nicegui import ui

from aigc.console import i18n
from aigc.console.api import ApiError
from aigc.console.api_errors import explain, explain_error
from aigc.console.pages.knowledge_notes import notes_text
from aigc.console.session import ConsoleUser
from aigc.knowledge import failure_codes

ROLES = ("viewer", "member", "admin", "owner")
PROCESSING = ("queued", "indexing")
SEARCH_MODES = ("hybrid", "dense", "keyword")


def chunk_url(kb_id: str, doc_id: str, chunk_id: int | str | None = None) -> str:
    """The chunk viewer's address; with ``chunk_id`` it highlights and scrolls to that chunk."""
    url = f"/knowledge/{quote(kb_id, safe='')}/documents/{quote(doc_id, safe='')}"
    return url + (f"?chunk={quote(str(chunk_id), safe='')}" if chunk_id is not None else "")


def when(seconds: int | None) -> str:
    if not seconds:
        return ""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def with_testid(element: ui.element, value: str) -> ui.element:
    """Set ``data-testid`` without passing it through the props parser (values may hold quotes)."""
    element._props["data-testid"] = value
    return element


LEVELS = ("read", "write", "manage")  # each includes the ones before it


def can(user: ConsoleUser, kb: dict[str, Any], need: str) -> bool:
    """Whether controls needing ``need`` will work: the API's own answer (``my_access``)
    when it sent one, else admins, or a grant naming the person's role or id. A group grant
    is taken at its word there (the console does not know a member's groups); the API still
    decides, and a refusal is shown as a message."""
    rank = LEVELS.index
    if "my_access" in kb:
        return kb["my_access"] in LEVELS and rank(kb["my_access"]) >= rank(need)
    if user.is_admin:
        return True
    if not user.at_least("member"):
        return False  # a viewer is read-only whatever a grant says
    for grant in kb.get("access", []):
        if grant.get("access") not in LEVELS or rank(grant["access"]) < rank(need):
            continue
        if "role" in grant and user.at_least(grant["role"]):
            return True
        if grant.get("user") == user.principal.user_id or "group" in grant:
            return True
    return False


def can_write(user: ConsoleUser, kb: dict[str, Any]) -> bool:
    """Whether the document controls (upload, delete a document) will work."""
    return can(user, kb, "write")


def can_manage(user: ConsoleUser, kb: dict[str, Any]) -> bool:
    """Whether renaming, the access list and deleting the KB will work."""
    return can(user, kb, "manage")


# Why a document could not be indexed, by the API's ``error_code``: the knowledge layer's own
# table (aigc.knowledge.failure_codes), which names every code it stores with its words.
# English pages show the API's own words, which are more precise.
_REASONS = {
    "en": {f"kb.reason.{code}": reason.en for code, reason in failure_codes.REASONS.items()},
    "zh-CN": {f"kb.reason.{code}": reason.zh for code, reason in failure_codes.REASONS.items()},
}
i18n.add(_REASONS)
# ... and with the numbers a failure kept (``error_values``: a PDF's pages and the limit).
i18n.add(
    {
        "en": {f"kb.reason_values.{c}": r.en for c, r in failure_codes.WITH_VALUES.items()},
        "zh-CN": {f"kb.reason_values.{c}": r.zh for c, r in failure_codes.WITH_VALUES.items()},
    }
)


def failure_reason(user: ConsoleUser, doc: dict[str, Any]) -> str:
    """Why ``doc`` could not be indexed, in the page's language where its code is known; the
    API's own words otherwise (and always on an English page)."""
    return reason_text(
        user.tr, doc.get("error_code"), doc.get("error") or "?", doc.get("error_values")
    )


def reason_text(tr: i18n.Translator, code: Any, written: str, values: Any = None) -> str:
    """A failure reason in the page's language where its code is known, with the numbers it
    kept (``values``) where the code's words have room for them; else as the API wrote it."""
    if tr.lang == "en" or code not in failure_codes.REASONS:
        return written
    if isinstance(values, dict) and values and code in failure_codes.WITH_VALUES:
        shown = {k: f"{v:,}" if type(v) is int else v for k, v in values.items()}
        try:
            return tr(f"kb.reason_values.{code}", **shown)
        except (KeyError, TypeError, ValueError):  # values not as this console expects
            pass
    return tr(f"kb.reason.{code}")


# Why a file was refused at upload, by the rule's type and values (the API's x-error-details
# for the file, aigc.knowledge.ingest._why); English pages keep the API's own sentence.
i18n.add(
    {
        "en": {
            "kb.refused.unsupported_type": "Files of type '.{ext}' are not supported.",
            "kb.refused.no_extension": "The file name has no extension, so its type is unknown.",
            "kb.refused.save_as_other_format": "'.{ext}' files are not read here: save it as "
            ".{save_as} (Save As, or Export) and upload that.",
            "kb.refused.file_too_large": "The file is larger than the limit of {limit} per "
            "document.",
            "kb.refused.empty_file": "The file is empty.",
            "kb.refused.blank_file": "The file holds only blank space: no text to index.",
            "kb.refused.duplicate_filename": "A file named '{name}' is already in this upload; "
            "a knowledge base keeps one document per name: send it once, or rename one.",
            "kb.refused.missing_filename": "The file has no name.",
            "kb.refused.unsafe_filename": "The file name '{name}' contains a path: send the file "
            "under a plain name.",
            "kb.refused.invalid_filename": "The file name has control characters or is longer "
            "than {max_length} characters.",
        },
        "zh-CN": {
            "kb.refused.unsupported_type": "不支持「.{ext}」类型的文件。",
            "kb.refused.no_extension": "文件名没有扩展名，无法判断文件类型。",
            "kb.refused.save_as_other_format": "无法读取「.{ext}」格式：请用原软件“另存为”或“导出”"
            "为 .{save_as} 格式后再上传。",
            "kb.refused.file_too_large": "文件超过了每个文档 {limit} 的大小上限。",
            "kb.refused.empty_file": "文件是空的。",
            "kb.refused.blank_file": "文件中只有空白，没有可索引的文字。",
            "kb.refused.duplicate_filename": "本次上传中已有名为「{name}」的文件；知识库中每个名称"
            "只保留一个文档，请只上传一次，或将其中一个改名。",
            "kb.refused.missing_filename": "文件没有名称。",
            "kb.refused.unsafe_filename": "文件名「{name}」包含路径，请以不含路径的文件名上传。",
            "kb.refused.invalid_filename": "文件名含有控制字符，或超过 {max_length} 个字符。",
        },
    }
)


def refusal_text(
    tr: i18n.Translator,
    message: str,
    code: str | None,
    status: int = 400,
    details: list[dict[str, Any]] | None = None,
) -> str:
    """Why a file was refused at upload: in the page's language from the rule that refused
    it (``details``) where it is named, else as any refusal is explained."""
    detail = details[0] if details and isinstance(details[0], dict) else {}
    kind, ctx = str(detail.get("type") or ""), detail.get("ctx")
    if tr.lang != "en" and isinstance(ctx, dict) and f"kb.refused.{kind}" in i18n.TABLE["en"]:
        shown = dict(ctx)
        if kind == "unsupported_type" and not shown.get("ext"):
            kind = "no_extension"
        if kind == "file_too_large" and isinstance(shown.get("limit"), int):
            shown["limit"] = file_size(shown["limit"])
        try:
            return tr(f"kb.refused.{kind}", **shown)
        except (KeyError, TypeError, ValueError):  # values not as this console expects
            pass
    # any other rule's one refusal said from its kind and values, where the console knows it
    at = str(detail.get("loc")) if detail and details and len(details) == 1 else None
    return explain(tr, message, code, status, at, details)


def missing(user: ConsoleUser, exc: ApiError) -> None:
    """A KB or document that does not exist or that this person may not read: the same."""
    text = (
        user.tr("kb.not_found")
        if exc.status == 404
        else user.tr("common.error", message=explain_error(user.tr, exc))
    )
    ui.label(text).props('role="alert" data-testid="kb-missing"').classes("text-lg")
    ui.link(user.tr("kb.back"), "/knowledge")


def shown_status(api_status: str) -> str:
    """The API's queued/indexing/ready/failed as what a person cares about."""
    return "processing" if api_status in PROCESSING else api_status


STATUS_COLORS = {"uploading": "blue", "processing": "orange", "ready": "positive"}


def status_chip(user: ConsoleUser, status: str) -> None:
    color = STATUS_COLORS.get(status, "negative")
    icon = {"ready": "check_circle", "failed": "error"}.get(status, "hourglass_top")
    chip = ui.chip(user.tr(f"kb.status.{status}"), icon=icon, color=color, text_color="white")
    chip.props(f'dense data-testid="status" data-status="{status}"')


def read_notes(user: ConsoleUser, doc: dict[str, Any]) -> None:
    """What the ingestion says about how a document was read (pages left unread, the text
    encoding), under the document, in the page's language where the API named each note."""
    notes = notes_text(user.tr, doc)
    ui.label(user.tr("kb.doc.notes", notes=notes)).classes("text-sm text-grey-8").props(
        'data-testid="doc-notes"'
    )


def update_failed(user: ConsoleUser, doc: dict[str, Any]) -> None:
    """A newer upload of the document that could not be indexed: the previous version is
    still the one searched and served, and the person who uploaded should know why (in the
    page's language where the API coded it, as ``failure_reason``)."""
    reason = reason_text(
        user.tr, doc.get("update_error_code"), doc["update_error"], doc.get("update_error_values")
    )
    ui.label(user.tr("kb.doc.update_failed", reason=reason)).classes("text-sm text-warning").props(
        'data-testid="doc-update-error"'
    )


def file_size(n: int | None) -> str:
    n = n or 0
    return (
        f"{n} B"
        if n < 1024
        else f"{n / 1024:.1f} KiB"
        if n < 1024 * 1024
        else (f"{n / 1024 / 1024:.1f} MiB")
    )
