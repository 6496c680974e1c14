"""Several files in one upload (``POST /api/kb/{kb}/documents``): each judged alone, the
accepted ones recorded together with the job that will index them.

A refused file is reported in its place with a machine-readable error (``message`` and
``code``) while the others go on, and the answer is a 200. When nothing of the request was
accepted the request as a whole failed, and it is answered as one: a 400 (a 413 when every
refusal is about size) in OpenAI's error shape naming each file and why, so a client that
checks the status sees it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from aigc.access import Principal
from aigc.config import Settings
from aigc.errors import APIError, InvalidRequest, PayloadTooLarge
from aigc.infra import untrusted
from aigc.infra.schema import Job
from aigc.knowledge import bases, ingest

# How many refused files the message of an all-refused request names one by one.
NAMED_IN_MESSAGE = 5


@dataclass
class Refusal:
    """A file of the request that was not taken, and why."""

    filename: str | None
    message: str
    code: str
    too_large: bool = False
    # the rule that refused it by type and values (``errors.problem_detail``), if named: in
    # the file's place when other files were taken, in x-error-details when none was
    details: list[dict[str, Any]] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        """The file's place in a 200: its error with the rule's type and values beside the
        English (``details``, as the request's error sends them), so a client can say which
        rule refused it in its own words."""
        error = {"message": self.message, "code": self.code, "details": self.details}
        return {"filename": self.filename, "error": error}

    def named(self) -> str:
        """The reason with the file's name in it (most reasons name it already)."""
        shown = untrusted.field(self.filename or "(no name)", 100) or ""
        return self.message if shown in self.message else f"'{shown}': {self.message}"


@dataclass
class Uploaded:
    results: list[dict[str, Any]]  # in the request's order: a document, or a refusal
    job: Job | None


def _refusal(filename: str | None, exc: APIError) -> Refusal:
    code = exc.code or ("file_too_large" if isinstance(exc, PayloadTooLarge) else "invalid_file")
    return Refusal(
        filename, exc.message, code, isinstance(exc, PayloadTooLarge), list(exc.details or [])
    )


def all_refused(refused: list[Refusal]) -> APIError:
    """The error for a request none of whose files was taken: 413 when each was too large,
    else 400; its code the files' own when they share one."""
    codes = {r.code for r in refused}
    code = codes.pop() if len(codes) == 1 else "files_refused"
    reasons = "; ".join(r.named() for r in refused[:NAMED_IN_MESSAGE])
    if len(refused) > NAMED_IN_MESSAGE:
        reasons += f"; and {len(refused) - NAMED_IN_MESSAGE} more"
    if len(refused) == 1:
        message = f"The file was refused: {reasons}"
    else:
        message = f"None of the {len(refused)} files was accepted: {reasons}"
    error = PayloadTooLarge if all(r.too_large for r in refused) else InvalidRequest
    # each file's rule by type and values (x-error-details), under the file's name
    details = [d | {"loc": r.filename} for r in refused for d in r.details[:1]]
    return error(message, param="files", code=code, details=details or None)


def upload_documents(
    session: Session,
    settings: Settings,
    caller: Principal,
    kb_id: str,
    files: Iterable[tuple[str | None, Iterable[bytes]]],
) -> Uploaded:
    """Stage each file (name, content), record the accepted ones and queue the changed ones
    in ``session``. The caller's right to write is checked before anything is read."""
    kb = bases.get_kb(session, caller, kb_id, need="write")  # 404/403 before anything
    slots: list[Refusal | ingest.Staged] = []
    taken: set[str] = set()  # the names of the files staged so far
    try:
        for filename, content in files:
            try:
                name = ingest.check_new_name(filename, taken, "upload")
                slots.append(ingest.stage_document(settings, kb, name, content))
                taken.add(name)
            except (InvalidRequest, PayloadTooLarge) as exc:  # this file alone is refused
                slots.append(_refusal(filename, exc))
        if not slots:
            raise InvalidRequest(
                "Send one or more files as multipart field 'files'",
                param="files",
                code="missing_required_parameter",
            )
        if all(isinstance(slot, Refusal) for slot in slots):
            raise all_refused([slot for slot in slots if isinstance(slot, Refusal)])
        results: list[dict[str, Any]] = []
        queued: list[str] = []
        for slot in slots:
            if isinstance(slot, Refusal):
                results.append(slot.view())
                continue
            added = ingest.record_document(session, settings, kb, slot, "upload")
            results.append(ingest.document_view(added.document) | {"changed": added.changed})
            if added.changed:
                queued.append(added.document.id)
        return Uploaded(results, ingest.queue_documents(session, caller, kb_id, queued))
    finally:
        for slot in slots:
            if isinstance(slot, ingest.Staged):
                slot.discard()  # moved into place when recorded; left over only after an error
