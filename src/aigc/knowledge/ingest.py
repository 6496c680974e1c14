"""Documents into a knowledge base: store, parse, chunk, embed, index — as a job.

``add_document`` stores the bytes and decides whether anything must happen: a document is
known by its name within the KB, and its SHA-256 says whether it changed. Unchanged: nothing
to do. Changed or new: it is queued, and the ``kb-ingest`` job (``ingest_documents``)
re-chunks only that document, embeds only chunks whose text is new (the embedding cache is
keyed by content hash), and rebuilds the KB's index from the previous one (``sync_index``).

Each document is processed on its own: a corrupt or malicious file is marked ``failed`` with
the reason and the others go on; a new version of a document is stored beside the one searched
now, which stays searched, downloadable and, if the new one cannot be read, in place.
Deleting a document deletes its chunks and syncs the index, so they leave every index at once.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import logging
import os
import threading
import time
import unicodedata
import weakref
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, delete, event, func, select, text, update
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session

from aigc.access import Principal
from aigc.config import Settings
from aigc.errors import InvalidRequest, NotFound, PayloadTooLarge, problem_detail, refused
from aigc.infra import jobs, text_encoding, untrusted
from aigc.infra.db import Database
from aigc.infra.files import staging_file
from aigc.infra.schema import Job, new_id, unix_time, utcnow
from aigc.infra.storage import BlobNotFound, storage_for
from aigc.knowledge import (
    bases,
    context,
    failure_codes,
    indexed,
    ingest_lines,
    note_codes,
    parse,
    pgvectors,
)
from aigc.knowledge.bases import get_kb
from aigc.knowledge.chunk import Chunk, chunk_blocks, token_counter
from aigc.knowledge.embed import Embedder, shared_embedder
from aigc.knowledge.index import TOKENS, KbIndex
from aigc.knowledge.meanings import meanings_for
from aigc.knowledge.note_codes import Note
from aigc.knowledge.pdf_worker import PdfLimits
from aigc.knowledge.tables import KbChunk, KbDocument, KnowledgeBase

log = logging.getLogger("aigc.knowledge")

JOB_KIND = "kb-ingest"
_kb_locks: dict[str, threading.Lock] = {}
_kb_locks_guard = threading.Lock()


# --- where things live ---------------------------------------------------------------------


def kb_dir(data_dir: Path, tenant_id: str, kb_id: str) -> Path:
    return Path(data_dir) / "knowledge" / tenant_id / kb_id


def _stored_key(doc: KbDocument, stored_as: str | None) -> str:
    """The blob key of a version stored as ``stored_as`` (relative to the KB's folder), or of
    the one file a document had before versions were kept (``documents/<id>``)."""
    return f"knowledge/{doc.tenant_id}/{doc.kb_id}/{stored_as or f'documents/{doc.id}'}"


def _version_name(doc: KbDocument, sha256: str) -> str:
    """Where a version's bytes go: by content hash in the document's own folder, so a new
    version is written beside the one still searched, never over it."""
    return f"versions/{doc.id}/{sha256}"


def document_key(doc: KbDocument) -> str:
    """The bytes a download serves: the version searched while a newer upload is indexed,
    else the document's own."""
    if doc.previous is not None:
        return _stored_key(doc, doc.previous.get("stored_as"))
    return version_key(doc)


def served_bytes(doc: KbDocument) -> int:
    """The size of what ``document_key`` names (the row's ``bytes`` are the newest upload's)."""
    return int(doc.previous.get("bytes") or 0) if doc.previous is not None else doc.bytes


def version_key(doc: KbDocument) -> str:
    """The bytes of the row's own version: the newest upload, the one an ingestion reads."""
    return _stored_key(doc, doc.stored_as)


def document_source(settings: Settings, key: str) -> Path:
    """The bytes under ``key`` as a file on this instance, for the parser: the store's own file
    with a directory store, else a copy fetched into ``data_dir/cache/knowledge`` (a cache:
    fetched again for each indexing, the store stays the source of truth)."""
    store = storage_for(settings)
    own = store.local_path(key)
    if own is not None:
        return own
    copy = _cached(settings, key)
    try:
        store.download(key, copy)
    except BlobNotFound:
        copy.unlink(missing_ok=True)  # the parser reports it as unreadable
    return copy


def _cached(settings: Settings, key: str) -> Path:
    """Where ``document_source`` keeps its copy of ``key``: named by document and version."""
    return Path(settings.data_dir) / "cache" / "knowledge" / key.split("/", 3)[3].replace("/", "_")


def _drop_files(settings: Settings, keys: Iterable[str]) -> None:
    """Delete versions no row names any more (and their cached copies); a failure only leaves
    a file behind, which deleting the document or its knowledge base removes."""
    store = storage_for(settings)
    for key in keys:
        try:
            store.delete(key)
        except Exception:
            log.warning("could not delete %s", key, exc_info=True)
        _cached(settings, key).unlink(missing_ok=True)


def index_dir(data_dir: Path, tenant_id: str, kb_id: str) -> Path:
    return kb_dir(data_dir, tenant_id, kb_id) / "index"


def embedder_for(settings: Settings, signature: str | None = None) -> Embedder:
    """The configured embedder; or, given the ``signature`` an index records, the one that
    made that index's vectors (float or int8), so a query is embedded the same way. The
    embeddings API passes the model's own name: it serves the float vectors it always has."""
    backend = settings.kb_embedding_backend
    if signature is not None and signature.endswith("+int8") != (backend == "onnx-int8"):
        backend = "onnx-int8" if signature.endswith("+int8") else "onnx"
    return shared_embedder(
        settings.kb_embedding_model_dir,
        Path(settings.data_dir) / "knowledge" / "embeddings.db",
        backend=backend,
        onnx_dir=settings.kb_onnx_dir or Path(settings.data_dir) / "models" / "onnx",
        threads=settings.kb_embedding_threads or None,
    )


@contextmanager
def kb_lock(
    data_dir: Path, tenant_id: str, kb_id: str, db: Database | None = None
) -> Iterator[None]:
    """One index writer per KB: a thread lock within the process; across processes, on
    PostgreSQL a transaction-scoped advisory lock on the KB (instances on several machines
    share no files), else a file lock beside the index."""
    with _kb_locks_guard:
        local = _kb_locks.setdefault(kb_id, threading.Lock())
    if db is not None and db.engine.dialect.name == "postgresql":
        with local, db.engine.connect() as conn, conn.begin():
            conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"aigc.kb-index:{kb_id}"},
            )
            yield  # released when this transaction ends
        return
    folder = kb_dir(data_dir, tenant_id, kb_id)
    folder.mkdir(parents=True, exist_ok=True)
    with local, open(folder / "index.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --- adding and removing documents ---------------------------------------------------------


def check_document_name(filename: str | None, folders: bool = False) -> str:
    """A document's name as shown and cited; a name that tries to be a path is refused.

    ``folders``: the name may be a relative path with ``/`` between plain parts, as
    ``aigc kb ingest`` names a file by its path in the folder it was given (2023年/报销制度.txt
    and 2024年/报销制度.txt are two documents). Uploads keep to plain names: what a client sends
    as a path is more often a mistake (a browser's full path) than a folder."""
    name = (filename or "").strip()
    if folders and "/" in name and all(p.strip() == p != "" for p in name.split("/")):
        for part in name.split("/"):
            check_document_name(part)  # each a plain name: no "..", no "\\"
        check_document_name(name.replace("/", "_"))  # the whole: its length, its characters
        return name
    if not name:
        nameless = "The document needs a file name"
        raise InvalidRequest(
            nameless,
            param="filename",
            code="missing_filename",
            details=_why(nameless, "missing_filename", at="filename"),
        )
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith(".."):
        path = f"The file name '{name[:100]}' contains a path; send a plain file name"
        raise InvalidRequest(
            path,
            param="filename",
            code="unsafe_filename",
            details=_why(path, "unsafe_filename", at="filename", name=name[:100]),
        )
    if any(unicodedata.category(ch)[0] == "C" for ch in name) or len(name) > 255:
        unfit = "The file name has control characters or is too long"
        raise InvalidRequest(
            unfit,
            param="filename",
            code="invalid_filename",
            details=_why(unfit, "invalid_filename", at="filename", max_length=255),
        )
    return name


def check_new_name(
    filename: str | None, taken: Container[str], batch: str, folders: bool = False
) -> str:
    """``check_document_name``, and a refusal of a name an earlier file of the same ``batch``
    (one upload, one ``aigc kb ingest`` run) took: a document is known by its name, so the
    second would replace the first under the same id (both answered as queued, the first lost
    without a word). ``taken`` holds names as this returns them, so two spellings of one name
    (a trailing space, an ideographic one) are one name here as in the knowledge base."""
    name = check_document_name(filename, folders)
    if name in taken:
        twice = (
            f"A file named '{untrusted.field(name, 100)}' is already in this {batch}; a "
            "knowledge base keeps one document per name: send it once, or rename one of them"
        )
        raise InvalidRequest(
            twice,
            param="files",
            code="duplicate_filename",
            details=_why(twice, "duplicate_filename", name=name[:100]),
        )
    return name


@dataclass
class Added:
    document: KbDocument
    changed: bool  # False: the same content was already indexed, nothing to do


@dataclass
class Staged:
    """An upload's bytes in a temporary file beside the documents, checked and hashed, with
    nothing written to the database yet."""

    name: str
    fmt: str
    path: Path
    size: int
    sha256: str

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def _format(name: str, head: bytes | None = None) -> str:
    try:
        return parse.detect_format(name, head)
    except parse.DocumentRejected as exc:
        raise InvalidRequest(
            str(exc),
            param="file",
            code="unsupported_file_type",
            details=_why(str(exc), exc.code, **exc.values),
        ) from None


def _why(message: str, kind: str, *, at: str = "file", **ctx: Any) -> list[dict[str, Any]]:
    """An upload's refusal by a stable type and its values (``errors.problem_detail``), sent
    beside the English so a client can say which rule refused the file in its own words;
    ``at``: the refusal's param (the file, or its name)."""
    return [problem_detail(at, {"type": kind, "ctx": ctx, "msg": message})]


# The bytes blank space is made of in the encodings text files come in (UTF-8's U+3000, U+00A0
# and byte order mark, UTF-16's NULs, GBK's full-width space): only a file of nothing else can
# be blank, and only such a file is decoded whole to make sure (``_blank_text``).
_BLANK_BYTES = (
    b" \t\n\r\x0b\x0c\x00\x1c\x1d\x1e\x1f"  # ASCII's, and UTF-16's NUL halves
    b"\x30\x80\x85\xa0\xa1\xbb\xbf\xc2\xe3\xef\xfe\xff"  # U+3000, U+00A0, BOMs, GBK's
)


def _blank_text(data: bytes) -> bool:
    """Whether a text file's text is blank space only, as its parser would find it (which
    drops NULs and blank paragraphs): indexing it could only fail, so it is refused at once,
    as an empty file is."""
    try:
        text = text_encoding.decode(data).text
    except text_encoding.UndecodableText:
        return False  # the parser says why, in the document's status
    return not text.replace("\x00", "").strip()


def stage_document(
    settings: Settings,
    kb: KnowledgeBase,
    filename: str | None,
    content: Iterable[bytes],
    folders: bool = False,
) -> Staged:
    """Stream a document to a temporary file (hashed, size-checked): a refusal here leaves no
    row and no file behind. ``kb`` must come from ``get_kb(..., need="write")``; ``folders``:
    the name may be a path within a folder (``check_document_name``)."""
    name = check_document_name(filename, folders)
    sniffed = parse.needs_content(name)  # a .doc or .xls may be a web page or text: see below
    fmt = "" if sniffed else _format(name)
    # beside the documents with a directory store (renamed into place), else a temp folder
    fd, tmp = staging_file(
        storage_for(settings), f"knowledge/{kb.tenant_id}/{kb.id}/documents/.staged"
    )
    digest, size, head, blank = hashlib.sha256(), 0, b"", True
    try:
        with os.fdopen(fd, "wb") as out:
            for piece in content:
                if len(head) < parse.SNIFF_BYTES:
                    head += piece[: parse.SNIFF_BYTES - len(head)]
                size += len(piece)
                if size > settings.kb_max_document_bytes:
                    too_large = (
                        f"'{name}' is larger than the limit of {settings.kb_max_document_bytes} "
                        "bytes per document"
                    )
                    raise PayloadTooLarge(
                        too_large,
                        param="file",
                        code="file_too_large",
                        details=_why(
                            too_large, "file_too_large", limit=settings.kb_max_document_bytes
                        ),
                    )
                digest.update(piece)
                blank = blank and not piece.translate(None, _BLANK_BYTES)
                out.write(piece)
        if size == 0:
            empty = f"'{name}' is empty"
            raise InvalidRequest(
                empty, param="file", code="empty_file", details=_why(empty, "empty_file")
            )
        if sniffed:
            fmt = _format(name, head)
        if blank and fmt in parse.TEXT_PARSERS and _blank_text(tmp.read_bytes()):
            blank_only = f"'{name}' holds only blank space: no text to index"
            raise InvalidRequest(
                blank_only,
                param="file",
                code="empty_file",
                details=_why(blank_only, "blank_file"),
            )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Staged(name, fmt, tmp, size, digest.hexdigest())


def record_document(
    session: Session, settings: Settings, kb: KnowledgeBase, staged: Staged, source: str
) -> Added:
    """The document's row for staged bytes: unchanged when the same content is indexed or
    waiting in a live job, else (re)queued. The caller queues the job in the same session,
    so a row is never committed without the job that will process it.

    A new version is stored beside the one that is searched now, which stays searched and
    downloadable (``previous``) until the new one is indexed: a new version that cannot be
    read must not destroy a good one. Files no row names any more once the session commits
    (a newer upload's predecessor still waiting) are deleted then."""
    try:
        doc = session.scalar(
            select(KbDocument).where(
                KbDocument.tenant_id == kb.tenant_id,
                KbDocument.kb_id == kb.id,
                KbDocument.filename == staged.name,
            )
        )
        if doc is not None and doc.sha256 == staged.sha256 and _in_hand(session, doc):
            staged.discard()
            return Added(doc, changed=False)
        if doc is None:
            doc = KbDocument(
                id=new_id("doc_"), tenant_id=kb.tenant_id, kb_id=kb.id, filename=staged.name
            )
            session.add(doc)
            kept, replaced = None, None
        else:
            kept, replaced = _searched_version(doc), version_key(doc)
        if kept is not None and kept["sha256"] == staged.sha256:
            # the version searched now, sent again: the newer one waiting is given up
            _restore(doc, kept)
            set_failure(doc, None, UPDATE)
            doc.updated_at = utcnow()
            gone = [replaced] if replaced and replaced != version_key(doc) else []
            _after_commit(session, settings, gone)
            staged.discard()
            return Added(doc, changed=False)
        doc.previous = kept
        doc.source, doc.content_type, doc.bytes = source, staged.fmt, staged.size
        doc.sha256, doc.status, doc.updated_at = staged.sha256, "queued", utcnow()
        set_failure(doc, None)
        set_failure(doc, None, UPDATE)
        doc.stored_as = _version_name(doc, staged.sha256)
        session.flush()
        storage_for(settings).put_file(version_key(doc), staged.path, move=True)
        keep = {version_key(doc), document_key(doc)}
        _after_commit(session, settings, [replaced] if replaced and replaced not in keep else [])
    except BaseException:
        staged.discard()
        raise
    return Added(doc, changed=True)


_VERSION_FACTS = ("sha256", "bytes", "content_type", "source", "stored_as")


def _searched_version(doc: KbDocument) -> dict[str, Any] | None:
    """The facts of the document's version that search serves now, if any: the one kept
    while a newer is indexed, or the row's own once it is indexed."""
    if doc.previous is not None:
        return dict(doc.previous)
    if doc.status != "failed" and doc.indexed_sha256 == doc.sha256:
        return {name: getattr(doc, name) for name in _VERSION_FACTS}
    return None


def _restore(doc: KbDocument, kept: dict[str, Any]) -> None:
    """Make the kept version the document's own again, searched and ``ready`` (its chunks
    never left)."""
    for name in _VERSION_FACTS:
        setattr(doc, name, kept.get(name))
    doc.previous, doc.status = None, "ready"
    set_failure(doc, None)


def _after_commit(session: Session, settings: Settings, keys: list[str]) -> None:
    """Delete these files once ``session`` commits: while it may still roll back, its rows
    name them."""
    if not keys:
        return
    waiting: list[str] = session.info.setdefault(_DROP_AFTER_COMMIT, [])
    waiting.extend(keys)

    def drop(committed: Session) -> None:
        _drop_files(settings, committed.info.pop(_DROP_AFTER_COMMIT, []))

    def forget(rolled_back: Session, _previous: Any = None) -> None:
        rolled_back.info.pop(_DROP_AFTER_COMMIT, None)

    if len(waiting) == len(keys):  # the first this session: listen once for its end
        event.listen(session, "after_commit", drop, once=True)
        event.listen(session, "after_rollback", forget, once=True)


_DROP_AFTER_COMMIT = "aigc.knowledge.drop_after_commit"


def _in_hand(session: Session, doc: KbDocument) -> bool:
    """Whether nothing needs doing for this document: indexed, or named by a live job (a
    ``queued`` row without one is stuck, and a re-upload must queue it again)."""
    if doc.status == "ready":
        return True
    if doc.status in ("queued", "indexing"):
        return doc.id in pending_documents(session, doc.tenant_id)
    return False


def add_document(
    session: Session,
    settings: Settings,
    principal: Principal,
    kb_id: str,
    filename: str | None,
    content: Iterable[bytes],
    source: str = "upload",
    folders: bool = False,
) -> Added:
    """Store a document's bytes (streamed, hashed, size-checked); queue it if it is new or
    changed. The KB must be writable by the caller, checked before anything is written."""
    kb = get_kb(session, principal, kb_id, need="write")
    staged = stage_document(settings, kb, filename, content, folders)
    return record_document(session, settings, kb, staged, source)


def queue_documents(
    session: Session, principal: Principal, kb_id: str, doc_ids: list[str]
) -> Job | None:
    """Submit the ingestion job for changed documents, in the session that recorded them
    (none changed: no job)."""
    if not doc_ids:
        return None
    return jobs.submit(session, principal, JOB_KIND, {"kb_id": kb_id, "document_ids": doc_ids})


def pending_documents(session: Session, tenant_id: str) -> set[str]:
    """Ids of the tenant's documents named by an ingestion job that has not finished."""
    live = session.scalars(
        select(Job.params).where(
            Job.tenant_id == tenant_id,
            Job.kind == JOB_KIND,
            Job.status.in_(("queued", "running")),
        )
    )
    return {d for params in live for d in _named(params)}


def _named(params: Any) -> list[str]:
    ids = params.get("document_ids") if isinstance(params, dict) else None
    return [d for d in ids if isinstance(d, str)] if isinstance(ids, list) else []


def list_documents(session: Session, principal: Principal, kb_id: str) -> list[KbDocument]:
    kb = get_kb(session, principal, kb_id)
    return list(
        session.scalars(
            select(KbDocument)
            .where(KbDocument.tenant_id == kb.tenant_id, KbDocument.kb_id == kb.id)
            .order_by(KbDocument.created_at, KbDocument.id)
        )
    )


def no_document(doc_id: str) -> NotFound:
    """The 404 for a document of a KB the caller reads: the same in the download route."""
    return refused(
        NotFound,
        "document_not_found",
        "No document with id '{id}' in this knowledge base",
        param="doc_id",
        id=untrusted.field(doc_id),
    )


def get_document(
    session: Session, principal: Principal, kb_id: str, doc_id: str, need: str = "read"
) -> KbDocument:
    kb = get_kb(session, principal, kb_id, need=need)
    doc = session.get(KbDocument, doc_id)
    if doc is None or doc.tenant_id != kb.tenant_id or doc.kb_id != kb.id:
        raise no_document(doc_id)
    return doc


def delete_document(
    db: Database, settings: Settings, principal: Principal, kb_id: str, doc_id: str
) -> None:
    """Remove the document, its chunks and its stored bytes (every version); its chunks leave
    the index now."""
    with db.session() as session:
        doc = get_document(session, principal, kb_id, doc_id, need="write")
        # every version is in its folder (those a row names and any a failed clean-up or a
        # stopped job left); a document stored before versions were kept has the one file
        unversioned, versions = _stored_key(doc, None), _stored_key(doc, f"versions/{doc.id}/")
        tenant_id = doc.tenant_id
        session.execute(delete(KbChunk).where(KbChunk.document_id == doc.id))
        session.delete(doc)
    _drop_files(settings, [unversioned])
    storage_for(settings).delete_prefix(versions)
    _drop_cached_versions(settings, doc_id)
    sync_index(db, settings, tenant_id, kb_id)


def _drop_cached_versions(settings: Settings, doc_id: str) -> None:
    """Delete this instance's cached copies of a deleted document's versions (``_cached``
    names them ``versions_<id>_<sha256>``; older ones were named by the id alone)."""
    cache = Path(settings.data_dir) / "cache" / "knowledge"
    for copy in [cache / doc_id, *cache.glob(f"versions_{glob.escape(doc_id)}_*")]:
        copy.unlink(missing_ok=True)


def list_chunks(session: Session, principal: Principal, kb_id: str, doc_id: str) -> list[KbChunk]:
    doc = get_document(session, principal, kb_id, doc_id)
    return list(
        session.scalars(
            select(KbChunk)
            .where(KbChunk.tenant_id == doc.tenant_id, KbChunk.document_id == doc.id)
            .order_by(KbChunk.ordinal)
        )
    )


# --- the job -------------------------------------------------------------------------------


@dataclass
class _Claimed:
    """A document taken for indexing: what the parser needs, read from its row."""

    doc_id: str
    name: str
    path: Path
    fmt: str
    sha256: str


@dataclass
class _Prepared:
    """A document parsed and chunked (on a worker thread), or the reason it could not be."""

    chunks: list[Chunk] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed: Failure | None = None
    about: context.DocContext | None = None
    files: dict[str, context.DocContext] = field(default_factory=dict)  # files inside it

    def header(self, chunk: Chunk) -> str:
        """The chunk's context line: its document's title and period, or those of the file
        inside it that the chunk is from (an archive's member, an e-mail's attachment)."""
        assert self.about is not None  # a prepared document that did not fail has its context
        about = context.chunk_context(self.about, self.files, chunk.meta)
        return context.header(about, chunk.headings)

    def meta(self, chunk: Chunk) -> dict[str, str]:
        """The chunk's meta; from a file inside the document, with that file's title and
        period, which its citations show in place of the document's (``retrieve.Hit``)."""
        inside = self.files.get(chunk.meta.get("file", ""))
        if inside is None:
            return chunk.meta
        found = {"file_title": inside.title, "file_period": inside.period}
        return chunk.meta | {k: v[:500] for k, v in found.items() if v}


# How a progress line is reported: fraction, the English line, and its code and values
# (``ingest_lines``), positionally (``JobContext.progress`` takes them so).
Report = Callable[[float, str, str | None, dict[str, Any] | None], None]

EMBED_SLICE = 512  # chunks embedded between two progress reports within one document
# While a long job runs, the index is brought up to date this often, and the documents it
# then holds turn ``ready`` (searchable, shown done in the console and the API) one by one.
SYNC_EVERY_S = 60.0


def ingest_documents(
    db: Database,
    settings: Settings,
    tenant_id: str,
    kb_id: str,
    doc_ids: list[str],
    progress: Report | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Chunk and embed every queued document of ``doc_ids`` (each alone: one failure harms no
    other), then bring the KB's index up to date once. Safe to run again after a crash.

    A pipeline: up to ``workers`` documents are parsed and chunked ahead on worker threads
    (a PDF is read in its own process, so parsing really runs beside the embedding) while this
    thread stores and embeds the ones before them, in order. The vectors go to the embedding
    cache, where ``sync_index`` finds them. Each document says what became of it in a progress
    line of its own (``document n of N: …``) as soon as it is done, and in a long job the
    index is synced every ``SYNC_EVERY_S``, so finished documents turn ``ready`` as it goes."""
    report: Report = progress or (lambda fraction, message, code, values: None)
    workers = max(1, workers if workers is not None else settings.kb_ingest_workers)
    count = token_counter(settings.kb_embedding_model_dir)
    limits = parse_limits(settings)
    outcome: dict[str, str] = {}
    notes: dict[str, list[str]] = {}
    total, done = len(doc_ids), 0

    def said(line: str, code: str, **values: Any) -> None:
        nonlocal done
        done += 1
        named = {"done": done, "total": total, **values}
        report(0.95 * done / total, f"document {done} of {total}: {line}", code, named)

    claimed: list[_Claimed] = []
    for doc_id in doc_ids:
        what = _claim(db, settings, tenant_id, kb_id, doc_id)
        if isinstance(what, _Claimed):
            claimed.append(what)
        else:
            outcome[doc_id] = what
            if what == "gone":
                said("not found", ingest_lines.GONE)
            else:
                name = _name(db, doc_id)
                said(f"{name} unchanged", ingest_lines.UNCHANGED, name=name)
    embedder = embedder_for(settings) if claimed and _dense(db, tenant_id, kb_id) else None
    # On PostgreSQL with pgvector the vectors are stored with their chunks, in one transaction.
    in_db = embedder is not None and pgvectors.usable(db.engine, embedder.dim)
    ahead: deque[tuple[_Claimed, Future[_Prepared]]] = deque()
    queue = iter(claimed)
    unsynced: list[str] = []  # indexed documents not yet in the index (still "indexing")
    last_sync = time.monotonic()

    def failed(doc: _Claimed, failure: Failure) -> None:  # and said why
        settled = _fail(db, settings, doc.doc_id, failure, doc.sha256)
        outcome[doc.doc_id] = "superseded" if settled == "superseded" else "failed"
        said(
            _failed_line(doc.name, settled, failure.reason),
            ingest_lines.SUPERSEDED if settled == "superseded" else ingest_lines.FAILED,
            name=doc.name,
            reason=failure.code,
            reason_values=failure.values or {},
            kept=settled == "kept",
        )

    def top_up() -> None:  # keep every parser busy, with a bounded look-ahead
        while len(ahead) < workers + 1 and (doc := next(queue, None)) is not None:
            ahead.append((doc, pool.submit(_prepare, doc, limits, count, settings)))

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kb-parse") as pool:
        try:
            top_up()
            while ahead:
                doc, future = ahead.popleft()
                top_up()
                prepared = future.result()
                if prepared.failed is not None:
                    failed(doc, prepared.failed)
                    continue
                vectors = None
                if embedder is not None:
                    vectors = _embed_ahead(embedder, prepared, doc.name, done, total, report)
                signature = embedder.signature if in_db and embedder is not None else None
                try:
                    stored = _store_chunks(
                        db, settings, tenant_id, kb_id, doc, prepared, vectors, signature
                    )
                except DataError as exc:  # this document's text, not the database: it alone
                    log.exception("document %s could not be stored", doc.doc_id)
                    why = f"The document's text could not be stored ({type(exc.orig).__name__})"
                    failed(doc, Failure(why, failure_codes.TEXT_NOT_STORED))
                    continue
                if not stored:
                    outcome[doc.doc_id] = "superseded"
                    said(
                        _failed_line(doc.name, "superseded", ""),
                        ingest_lines.SUPERSEDED,
                        name=doc.name,
                    )
                    continue
                outcome[doc.doc_id] = "indexed"
                if prepared.notes:
                    notes[doc.doc_id] = prepared.notes
                ocr = sum(c.meta.get("ocr") == "true" for c in prepared.chunks)
                line = f"{doc.name} indexed, {len(prepared.chunks)} chunks"
                line += f" ({ocr} by OCR)" if ocr else ""
                said(
                    line + "".join(f"; {note}" for note in prepared.notes),
                    ingest_lines.INDEXED,
                    **ingest_lines.indexed(doc.name, len(prepared.chunks), ocr, prepared.notes),
                )
                unsynced.append(doc.doc_id)
                if ahead and time.monotonic() - last_sync >= SYNC_EVERY_S:
                    _sync_and_ready(db, settings, tenant_id, kb_id, unsynced)
                    unsynced, last_sync = [], time.monotonic()
        finally:
            for _, future in ahead:  # cancelled or failed: start nothing more
                future.cancel()
    report(0.95, "updating the index", ingest_lines.UPDATING_INDEX, {})
    stats = _sync_and_ready(db, settings, tenant_id, kb_id, unsynced)
    report(1.0, "done", ingest_lines.DONE, {})
    return {
        "documents": outcome,
        "indexed": sum(o == "indexed" for o in outcome.values()),
        "failed": sum(o == "failed" for o in outcome.values()),
        "unchanged": sum(o == "unchanged" for o in outcome.values()),
        "notes": notes,
        **stats,
    }


def _failed_line(name: str, outcome: str, reason: str) -> str:
    """A failed document's progress line: why, and whether an earlier version is kept."""
    if outcome == "superseded":
        return f"{name} not stored: a newer upload of it (or its deletion) came meanwhile"
    if outcome == "kept":
        return f"{name} failed: {reason}; the previous version is kept and searched"
    return f"{name} failed: {reason}"


def _sync_and_ready(
    db: Database, settings: Settings, tenant_id: str, kb_id: str, doc_ids: list[str]
) -> dict[str, int]:
    """Bring the index up to date, then mark ``doc_ids`` (now in it) ready."""
    stats = sync_index(db, settings, tenant_id, kb_id)
    with db.session() as session:
        session.execute(
            update(KbDocument)
            .where(KbDocument.id.in_(doc_ids), KbDocument.status == "indexing")
            .values(status="ready")
        )
    return stats


def _claim(
    db: Database, settings: Settings, tenant_id: str, kb_id: str, doc_id: str
) -> _Claimed | str:
    """The document marked ``indexing`` with what its parser needs, or why there is nothing
    to do: ``gone`` (not in this KB) or ``unchanged`` (this content is indexed)."""
    with db.session() as session:
        doc = session.get(KbDocument, doc_id)
        if doc is None or doc.tenant_id != tenant_id or doc.kb_id != kb_id:
            return "gone"
        if doc.status == "ready" and doc.indexed_sha256 == doc.sha256:
            return "unchanged"
        doc.status = "indexing"
        claimed = _Claimed(doc_id, doc.filename, Path(), doc.content_type, doc.sha256)
        key = version_key(doc)  # the newest upload, beside the version searched meanwhile
    claimed.path = document_source(settings, key)  # after the commit: no lock held
    return claimed


def _name(db: Database, doc_id: str) -> str:
    with db.session() as session:
        return session.scalar(select(KbDocument.filename).where(KbDocument.id == doc_id)) or ""


def _dense(db: Database, tenant_id: str, kb_id: str) -> bool:
    with db.session() as session:
        kb = session.get(KnowledgeBase, kb_id)
        return kb is not None and kb.tenant_id == tenant_id and kb.dense


def _prepare(
    doc: _Claimed, limits: parse.Limits, count: Callable[[str], int], settings: Settings
) -> _Prepared:
    """Parse and chunk one document (a worker thread's part). A file that cannot be read,
    and any other error on it, fails this document only."""
    try:
        parsed = parse.parse_document(doc.path.read_bytes(), doc.fmt, limits)
        about = context.document_context(parsed.blocks, doc.name)
        chunks = chunk_blocks(
            context.assign_sections(parsed.blocks, parsed.outline),
            count,
            settings.kb_chunk_tokens,
            settings.kb_chunk_overlap_tokens,
        )
        if not chunks:
            raise parse.DocumentRejected(
                "No text could be extracted from this document", failure_codes.NO_TEXT
            )
    except parse.DocumentRejected as exc:
        return _Prepared(failed=Failure(str(exc), exc.code, exc.values))
    except OSError:  # names the stored file's path on this server: say what, not where
        return _Prepared(failed=Failure(_UNREADABLE, failure_codes.UNREADABLE_COPY))
    except Exception as exc:  # a bug met by one file must not lose the others
        log.exception("document %s could not be prepared", doc.doc_id)
        why = f"The document could not be processed ({type(exc).__name__})"
        return _Prepared(failed=Failure(why, failure_codes.PROCESSING_ERROR))
    return _Prepared(chunks, parsed.notes, about=about, files=context.file_contexts(parsed.blocks))


def _store_chunks(
    db: Database,
    settings: Settings,
    tenant_id: str,
    kb_id: str,
    doc: _Claimed,
    prepared: _Prepared,
    vectors: np.ndarray | None = None,
    signature: str | None = None,
) -> bool:
    """Replace the document's chunks in one transaction (SQLAlchemy batches the inserts), with
    their ``vectors`` when ``signature`` (what made them) says they are kept in the database.
    This is where a new version takes the place of the one searched until now, whose file is
    then deleted. False: nothing stored, the document was deleted or a newer upload of it came
    while this one was read (that one's job indexes it).

    The document's row is locked first (FOR UPDATE on PostgreSQL; SQLite has one writer), so
    two instances storing the same document take turns: the second replaces the first's
    chunks, and each (document, ordinal) is stored once."""
    chunks, about = prepared.chunks, prepared.about
    assert about is not None  # a prepared document that did not fail has its context
    with db.session() as session:
        row = session.scalar(
            select(KbDocument).where(KbDocument.id == doc.doc_id).with_for_update()
        )
        if row is None or row.sha256 != doc.sha256:
            return False
        replaced = document_key(row) if row.previous is not None else None
        if replaced == version_key(row):
            replaced = None
        session.execute(delete(KbChunk).where(KbChunk.document_id == doc.doc_id))
        rows = [
            KbChunk(
                tenant_id=tenant_id,
                kb_id=kb_id,
                document_id=doc.doc_id,
                ordinal=i,
                text=c.text,
                page=c.page,
                headings=c.headings,
                meta=prepared.meta(c),
                tokens=c.tokens,
                context=prepared.header(c),
            )
            for i, c in enumerate(chunks)
        ]
        session.add_all(rows)
        if vectors is not None and signature is not None:
            session.flush()  # the chunks' ids
            pgvectors.write(
                session, tenant_id, kb_id, [(r.id, doc.doc_id) for r in rows], vectors, signature
            )
        read_notes = prepared.notes + _copies_note(session, tenant_id, kb_id, doc)
        session.execute(
            update(KbDocument)
            .where(KbDocument.id == doc.doc_id)
            .values(
                chunk_count=len(chunks),
                pages=max((c.page or 0 for c in chunks), default=0),
                title=about.title[:500],
                period=about.period[:200] or None,
                indexed_sha256=doc.sha256,
                **failure_values(None),
                **failure_values(None, UPDATE),
                notes=list(read_notes) or None,
                note_codes=note_codes.codes_of(read_notes),
                previous=None,
                updated_at=utcnow(),
            )
        )
    if replaced is not None:
        _drop_files(settings, [replaced])
    return True


def _copies_note(session: Session, tenant_id: str, kb_id: str, doc: _Claimed) -> list[str]:
    """A note naming the other documents of the knowledge base with the same bytes: searches
    show one copy of a chunk (``retrieve.distinct``), and an administrator may tidy them."""
    copies = session.scalars(
        select(KbDocument.filename).where(
            KbDocument.tenant_id == tenant_id,
            KbDocument.kb_id == kb_id,
            KbDocument.sha256 == doc.sha256,
            KbDocument.id != doc.doc_id,
        )
    ).all()
    if not copies:
        return []
    first, more = sorted(copies)[:3], max(0, len(copies) - 3)
    names = ", ".join(first) + (f" and {more} more" if more else "")
    said = f"the same file as {names} in this knowledge base; a search shows one copy"
    return [Note(said, note_codes.SAME_FILE_AS, names=first, more=more)]


def _embed_ahead(
    embedder: Embedder,
    prepared: _Prepared,
    name: str,
    done: int,
    total: int,
    report: Report,
) -> np.ndarray:
    """Embed a document's chunks now (into the cache too), while the next ones are parsed; a
    long document reports (and can be cancelled) between slices. The vectors, one per chunk,
    go into the database with the chunks where pgvector keeps them."""
    # exactly what sync_index embeds (header + text), so it finds every vector in the cache
    texts = [context.indexed_text(prepared.header(c), c.text) for c in prepared.chunks]
    parts = []
    for start in range(0, len(texts), EMBED_SLICE):
        if start:
            report(
                0.95 * done / total,
                f"document {done + 1} of {total}: {name}, {start} of {len(texts)} chunks embedded",
                ingest_lines.EMBEDDING,
                {
                    "done": done + 1,
                    "total": total,
                    "name": name,
                    "embedded": start,
                    "chunks": len(texts),
                },
            )
        parts.append(embedder.embed(texts[start : start + EMBED_SLICE]))
    if embedder.is_default:  # Chinese words' senses, for a Chinese question's ranking
        meanings_for(embedder).learn(texts)
    return np.vstack(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)


def parse_limits(settings: Settings) -> parse.Limits:
    """The parser's bounds from the settings (pages, and the PDF reader's memory, time, image
    size and OCR; its page limit is ``Limits.max_pages``)."""
    pdf = PdfLimits(
        memory_mb=settings.kb_pdf_memory_mb,
        timeout_s=settings.kb_pdf_timeout_s,
        max_image_pixels=settings.kb_pdf_max_image_pixels,
        ocr=settings.kb_ocr,
        ocr_languages=settings.kb_ocr_languages,
        ocr_page_timeout_s=settings.kb_ocr_page_timeout_s,
    )
    return parse.Limits(max_pages=settings.kb_max_pages, pdf=pdf)


@dataclass(frozen=True)
class Failure:
    """Why a document, or a new version of it, could not be indexed: the English reason for
    API clients and its code (``failure_codes``) for programs and the console."""

    reason: str
    code: str
    values: dict[str, Any] | None = None  # what the reason says in numbers (DocumentRejected)


UPDATE = "update_error"  # the column for a new version's failure (the document's: "error")


def failure_values(failure: Failure | None, column: str = "error") -> dict[str, Any]:
    """The columns that say why a document (``"error"``) or its newest upload (``UPDATE``)
    failed, each reason with its code and values: they are only ever written together, so a
    reason is never shown under another's code or numbers. None: it has not failed."""
    return {
        column: failure.reason[:2000] if failure else None,
        f"{column}_code": failure.code if failure else None,
        f"{column}_values": (failure.values or None) if failure else None,
    }


def set_failure(doc: KbDocument, failure: Failure | None, column: str = "error") -> None:
    """Set (or with None, clear) a document's failure or its newest upload's
    (``failure_values``)."""
    for name, value in failure_values(failure, column).items():
        setattr(doc, name, value)


_UNREADABLE = "The stored copy of this document could not be read; upload it again"


def _fail(
    db: Database,
    settings: Settings,
    doc_id: str,
    failure: Failure,
    sha256: str | None = None,
) -> str:
    """Settle a document whose newest upload could not be indexed (``_settle_failure``):
    ``failed``, ``kept`` (an earlier version stays in its place) or ``superseded`` (deleted,
    or a newer upload than ``sha256`` came meanwhile: its own job settles it)."""
    log.info("document %s failed: %s", doc_id, failure.reason[:200])
    with db.session() as session:
        doc = session.scalar(select(KbDocument).where(KbDocument.id == doc_id).with_for_update())
        if doc is None or (sha256 is not None and doc.sha256 != sha256):
            return "superseded"
        settled, dropped = _settle_failure(session, doc, failure)
    _drop_files(settings, dropped)
    return settled


def _settle_failure(session: Session, doc: KbDocument, failure: Failure) -> tuple[str, list[str]]:
    """A document whose newest upload could not be indexed: with an earlier version searched
    meanwhile, that version stays, ``ready`` with its chunks and file, and ``update_error``
    says why the new one was not taken (``kept``; the new one's file is to be dropped); with
    none, the document is ``failed`` with the reason and has no chunks."""
    if doc.previous is not None:
        dropped = [version_key(doc)] if version_key(doc) != document_key(doc) else []
        _restore(doc, doc.previous)
        kept = Failure(f"{_NOT_TAKEN}{failure.reason}", failure.code, failure.values)
        set_failure(doc, kept, UPDATE)
        doc.updated_at = utcnow()
        return "kept", dropped
    session.execute(delete(KbChunk).where(KbChunk.document_id == doc.id))
    doc.status, doc.notes, doc.note_codes, doc.chunk_count = "failed", None, None, 0
    set_failure(doc, failure)
    doc.indexed_sha256, doc.updated_at = None, utcnow()
    return "failed", []


_NOT_TAKEN = "The new version was not indexed, so the previous one is still searched and served: "


def sync_index(
    db: Database, settings: Settings, tenant_id: str, kb_id: str, local: bool = False
) -> dict[str, int]:
    """Make the KB's index hold exactly the chunks in the database: drop rows that are gone,
    add (and embed) rows that are new. Idempotent; one writer per KB at a time.

    Where pgvector keeps the vectors (``pgvectors.usable``), the database *is* the index:
    this embeds the chunks that have no vector of the configured embedder yet and bumps the
    KB's ``index_version``, which tells every instance to refresh its keyword index.

    Elsewhere the index is files in this data directory, and the ``index_version`` they match
    is written beside them (``DB_VERSION``). ``local``: only bring this instance's files up to
    the database (an instance on PostgreSQL without pgvector whose files are behind), without
    bumping the version."""
    lock_db = None if local else db
    with kb_lock(settings.data_dir, tenant_id, kb_id, lock_db):
        with db.session() as session:
            kb = session.get(KnowledgeBase, kb_id)
            if kb is None or kb.tenant_id != tenant_id:
                return {"chunks": 0, "embedded": 0}
            dense, version = kb.dense, kb.index_version
        in_db = pgvectors.column_dim(db.engine) is not None
        if in_db and pgvectors.usable(db.engine, embedder_for(settings).dim if dense else None):
            return _sync_in_db(db, settings, tenant_id, kb_id, dense)
        with db.session() as session:
            wanted = indexed.chunk_documents(session, tenant_id, kb_id)
        folder = index_dir(settings.data_dir, tenant_id, kb_id)
        embedder = embedder_for(settings) if dense else None
        signature = embedder.signature if embedder is not None else None
        current = KbIndex.load(folder)
        if current is not None and embedder is not None and current.dense:
            made_by = current.embedder or embedder.model_id  # unrecorded: float, this model
            if made_by != signature:  # never mix: every row is embedded again, once
                log.info("KB %s: re-embedding its index (%s → %s)", kb_id, made_by, signature)
                current = None
        if current is None:
            current = KbIndex.empty(dense, embedder.dim if embedder else 0, signature)
        have = {int(c) for c in current.ids}
        new_ids = [cid for cid in wanted if cid not in have]
        keep = have & wanted.keys()
        stale = current.tokens_version != TOKENS
        if stale:  # saved by an older tokenizer: cut its chunks again (its vectors stand)
            log.info("KB %s: re-tokenizing its index (tokens %s)", kb_id, current.tokens_version)
            with db.session() as session:
                kept = sorted(keep)
                texts_of = dict(zip(kept, indexed.indexed_texts(session, kept), strict=True))
            current = current.retokenized(texts_of, document_headers(db, tenant_id, kb_id))
        if not new_ids and keep == have and not stale:
            _record_version(folder, version)
            return {"chunks": len(current), "embedded": 0}
        texts: list[str] = []
        if new_ids:
            with db.session() as session:  # the header is indexed with the text
                texts = indexed.indexed_texts(session, new_ids)
        vectors = embedder.embed(texts) if embedder is not None and texts else None
        if embedder is not None and vectors is None:
            vectors = np.zeros((0, embedder.dim), dtype=np.float32)
        docs = {**dict(zip(current.ids.tolist(), current.docs, strict=True)), **wanted}
        index = current.updated(
            keep, new_ids, texts, vectors, docs, document_headers(db, tenant_id, kb_id), signature
        )
        index.save(folder)
        if not local:
            with db.session() as session:
                session.execute(
                    update(KnowledgeBase)
                    .where(KnowledgeBase.id == kb_id)
                    .values(index_version=KnowledgeBase.index_version + 1)
                )
                version = int(
                    session.scalar(
                        select(KnowledgeBase.index_version).where(KnowledgeBase.id == kb_id)
                    )
                    or 0
                )
        _record_version(folder, version)
        return {"chunks": len(index), "embedded": len(new_ids) if dense else 0}


VERSION_FILE = "DB_VERSION"


def _record_version(folder: Path, version: int | None) -> None:
    """Note which ``index_version`` of the database this folder's index matches."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{VERSION_FILE}.{os.getpid()}.tmp"
    tmp.write_text(str(version or 0))
    os.replace(tmp, folder / VERSION_FILE)


def recorded_version(folder: Path) -> int | None:
    """The ``index_version`` the index files in ``folder`` match (None: not recorded)."""
    try:
        return int((folder / VERSION_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _sync_in_db(
    db: Database, settings: Settings, tenant_id: str, kb_id: str, dense: bool
) -> dict[str, int]:
    """``sync_index`` on PostgreSQL with pgvector (under the KB's lock): vectors for chunks
    that lack one of this embedder (stored before pgvector, or by another model), then the
    version bump that invalidates every instance's cached keyword index."""
    embedded = 0
    if dense:
        embedder = embedder_for(settings)
        with db.session() as session:
            todo = pgvectors.missing(session, tenant_id, kb_id, embedder.signature)
        for start in range(0, len(todo), EMBED_SLICE):
            with db.session() as session:
                rows = session.execute(
                    select(KbChunk.id, KbChunk.document_id, KbChunk.text, KbChunk.context).where(
                        KbChunk.id.in_(todo[start : start + EMBED_SLICE])
                    )
                ).all()
            vectors = embedder.embed([context.indexed_text(head, t) for _, _, t, head in rows])
            with db.session() as session:
                pgvectors.write(
                    session,
                    tenant_id,
                    kb_id,
                    [(cid, doc) for cid, doc, _, _ in rows],
                    vectors,
                    embedder.signature,
                )
            embedded += len(rows)
    with db.session() as session:
        session.execute(
            update(KnowledgeBase)
            .where(KnowledgeBase.id == kb_id)
            .values(index_version=KnowledgeBase.index_version + 1)
        )
        chunks = session.scalar(
            select(func.count(KbChunk.id))
            .join(KbDocument, KbDocument.id == KbChunk.document_id)
            .where(
                KbChunk.tenant_id == tenant_id,
                KbChunk.kb_id == kb_id,
                KbDocument.status.in_(indexed.INDEXED),
            )
        )
    return {"chunks": int(chunks or 0), "embedded": embedded}


def document_headers(db: Database, tenant_id: str, kb_id: str) -> dict[str, str]:
    """Each indexed document's context (title, file name, period), indexed once per document."""
    with db.session() as session:
        return indexed.document_headers(session, tenant_id, kb_id)


def run_ingest_job(ctx: jobs.JobContext) -> dict[str, Any]:
    """The ``kb-ingest`` job handler: params ``{"kb_id", "document_ids"}``."""
    settings = Settings(data_dir=ctx.data_dir)
    kb_id, doc_ids = ctx.params["kb_id"], list(ctx.params.get("document_ids") or [])
    try:
        return ingest_documents(
            ctx.db, settings, ctx.tenant_id, kb_id, doc_ids, progress=ctx.progress
        )
    except jobs.JobCancelled:
        if ctx.cancel_requested():  # a person stopped it; after a shutdown the job resumes
            close_cancelled(ctx.db, settings, ctx.tenant_id, kb_id, doc_ids)
        raise


_CANCELLED = "Indexing was cancelled before this document was done; upload it again to index it"
_CANCELLED_FAILURE = Failure(_CANCELLED, failure_codes.INDEXING_CANCELLED)


def close_cancelled(
    db: Database, settings: Settings, tenant_id: str, kb_id: str, doc_ids: list[str]
) -> None:
    """After a cancel, what the job had stored goes into the index and turns ready, and what
    it had not reached fails now, saying so: left ``indexing``, every one of them failed a
    minute later as "stopped", the stored ones too. Nothing to do once the base is gone."""
    try:
        dropped: list[str] = []
        with db.session() as session:  # one transaction settles every document not reached
            waiting = session.scalars(
                select(KbDocument)
                .where(KbDocument.id.in_(doc_ids), KbDocument.status.in_(("queued", "indexing")))
                .order_by(KbDocument.id)  # rows locked in one order: no deadlock with a peer
                .with_for_update()
            ).all()
            stored = [d.id for d in waiting if d.indexed_sha256 == d.sha256]
            for doc in waiting:
                if doc.indexed_sha256 != doc.sha256:
                    log.info("document %s failed: %s", doc.id, _CANCELLED)
                    dropped += _settle_failure(session, doc, _CANCELLED_FAILURE)[1]
        _drop_files(settings, dropped)
        if stored:
            _sync_and_ready(db, settings, tenant_id, kb_id, stored)
    except Exception:  # the base deleted under it (its rows gone): nothing is left to close
        log.warning("cancelled ingestion of %s not closed", kb_id, exc_info=True)


def ingest_job_access(
    session: Session, principal: Principal, found: list[Job], need: str
) -> set[str]:
    """An ingestion job is its knowledge base's: seen by who may read it, cancelled by who may
    change its documents (its progress names the files)."""
    levels = bases.access_levels(
        session, principal, [str(job.params.get("kb_id")) for job in found if job.params]
    )
    return {
        job.id
        for job in found
        if bases.at_least(levels.get(str((job.params or {}).get("kb_id"))), need)
    }


jobs.register_handler(JOB_KIND, run_ingest_job, access=ingest_job_access)


def cancel_jobs_of(session: Session, tenant_id: str, kb_id: str) -> int:
    """Cancel the knowledge base's pending ingestion jobs: it is being deleted."""
    pending = session.scalars(
        select(Job).where(
            Job.tenant_id == tenant_id, Job.kind == JOB_KIND, Job.status.in_(jobs.PENDING)
        )
    )
    mine = [job for job in pending if (job.params or {}).get("kb_id") == kb_id]
    return jobs.cancel_pending(session, mine, "Its knowledge base was deleted")


# --- recovery: documents left waiting with no job -------------------------------------------

STUCK_AFTER_S = 60.0
_STOPPED = "Indexing stopped before this document was done (the job ended or was cancelled); "
_STOPPED += "upload it again to retry"
_STOPPED_FAILURE = Failure(_STOPPED, failure_codes.INDEXING_STOPPED)


def recover_stuck_documents(db: Database, older_than_s: float = STUCK_AFTER_S) -> dict[str, int]:
    """Make sure no document waits forever: one ``queued`` for over ``older_than_s`` that no
    job has named since is queued again in a fresh job; one that a finished job named and
    left ``queued`` or ``indexing`` (cancelled, given up) is marked ``failed`` with a reason,
    or, when an earlier version of it is searched meanwhile, keeps that one (``ready``, with
    the reason in ``update_error``).

    Runs in every job runner at start and then periodically. A document that a live job still
    names is left alone, as is one being indexed without a job (``aigc kb ingest``)."""
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    requeued, failed = 0, 0
    with db.session() as session:
        stuck = session.scalars(
            select(KbDocument).where(
                KbDocument.status.in_(("queued", "indexing")), KbDocument.updated_at < cutoff
            )
        ).all()
        if not stuck:
            return {"requeued": 0, "failed": 0}
        since = min(_aware(d.updated_at) for d in stuck)
        live: set[str] = set()
        ended: dict[str, list[Job]] = {}  # finished jobs that may have been meant for a doc
        for job in session.scalars(
            select(Job).where(
                Job.kind == JOB_KIND,
                Job.status.in_(("queued", "running"))
                | (Job.created_at >= since)
                | (Job.finished_at >= since),
            )
        ):
            for doc_id in _named(job.params):
                if job.status in ("queued", "running"):
                    live.add(doc_id)
                else:
                    ended.setdefault(doc_id, []).append(job)
        again: dict[tuple[str, str], list[str]] = {}
        for doc in stuck:
            if doc.id in live:
                continue
            if _left_behind(doc, ended.get(doc.id, [])):
                # an earlier version searched meanwhile stays; the new one's file is left for
                # the document's deletion (no store here), which removes every version
                _settle_failure(session, doc, _STOPPED_FAILURE)
                failed += 1
            elif doc.status == "queued":
                doc.updated_at = utcnow()
                again.setdefault((doc.tenant_id, doc.kb_id), []).append(doc.id)
                requeued += 1
        session.flush()
        for (tenant_id, kb_id), doc_ids in again.items():
            params = {"kb_id": kb_id, "document_ids": doc_ids, "recovered": True}
            session.add(jobs.queued_job(tenant_id, JOB_KIND, params))
    if requeued or failed:
        log.warning("stuck documents: %d queued again, %d failed", requeued, failed)
    return {"requeued": requeued, "failed": failed}


def _left_behind(doc: KbDocument, ended: list[Job]) -> bool:
    """Whether a finished job took charge of this document and ended without settling it:
    for ``queued``, a job submitted since it was queued; for ``indexing``, one that finished
    after the document last moved."""
    changed = _aware(doc.updated_at)
    if doc.status == "queued":
        return any(_aware(j.created_at) >= changed for j in ended)
    return any(j.finished_at is not None and _aware(j.finished_at) >= changed for j in ended)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive UTC; compare everything as aware UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


jobs.register_sweeper("kb-stuck-documents", recover_stuck_documents)


# --- after an upgrade: chunks whose vectors were in files ------------------------------------

_VECTORS_CHECKED: weakref.WeakSet[Engine] = weakref.WeakSet()


def queue_missing_vectors(db: Database) -> int:
    """Queue a sync (a ``kb-ingest`` job naming no document: it embeds every chunk that lacks
    a vector) for each dense knowledge base whose chunks have no row in ``kb_vectors`` and no
    pending job. Was: after upgrading a PostgreSQL install from a version that kept vectors in
    files, dense and hybrid search found none of the existing documents, without a word,
    until something new was ingested into each knowledge base.

    Once per process and database: the chunks concerned were stored before this version ran,
    and every later ingestion writes its vectors with its chunks."""
    if db.engine in _VECTORS_CHECKED or pgvectors.column_dim(db.engine) is None:
        return 0
    with db.session() as session:
        lacking = pgvectors.lacking(session)
        pending = {
            (job.params or {}).get("kb_id")
            for job in session.scalars(
                select(Job).where(Job.kind == JOB_KIND, Job.status.in_(jobs.PENDING))
            )
        }
        queued = [(tenant, kb) for tenant, kb in lacking if kb not in pending]
        for tenant_id, kb_id in queued:
            params = {"kb_id": kb_id, "document_ids": [], "vectors": True}
            session.add(jobs.queued_job(tenant_id, JOB_KIND, params))
    _VECTORS_CHECKED.add(db.engine)
    if queued:
        log.warning("knowledge bases with chunks but no vectors: %d queued to embed", len(queued))
    return len(queued)


jobs.register_sweeper("kb-missing-vectors", queue_missing_vectors)


def document_view(doc: KbDocument) -> dict[str, Any]:
    return {
        "id": doc.id,
        "object": "knowledge_base.document",
        "knowledge_base": doc.kb_id,
        "filename": doc.filename,
        "source": doc.source,
        "content_type": doc.content_type,
        "bytes": doc.bytes,
        "sha256": doc.sha256,
        "status": doc.status,
        "error": doc.error,
        "error_code": doc.error_code,  # failure_codes: the reason for programs; None if unnamed
        "error_values": doc.error_values,  # the numbers the reason says (failure_codes)
        # the newest upload could not be indexed: the previous version is searched and served
        "update_error": doc.update_error,
        "update_error_code": doc.update_error_code,  # failure_codes, as error_code
        "update_error_values": doc.update_error_values,
        "notes": doc.notes or [],
        # each note's code and values (note_codes), or None: for a client in another language
        "note_codes": doc.note_codes or [None] * len(doc.notes or []),
        "pages": doc.pages,
        "title": doc.title,
        "period": doc.period,
        "chunks": doc.chunk_count,
        "created_at": unix_time(doc.created_at),
        "updated_at": unix_time(doc.updated_at),
    }


def chunk_view(chunk: KbChunk) -> dict[str, Any]:
    return {
        "id": chunk.id,
        "object": "knowledge_base.chunk",
        "document": chunk.document_id,
        "ordinal": chunk.ordinal,
        "page": chunk.page,
        "headings": chunk.headings,
        "context": chunk.context,
        "tokens": chunk.tokens,
        "text": chunk.text,
        "meta": chunk.meta,
    }
