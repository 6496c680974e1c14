"""The knowledge tables. Every row carries ``tenant_id``; chunks also carry their KB id so the
search can filter by tenant and readable KBs in the same query that fetches them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aigc.infra.db import Base
from aigc.infra.schema import utcnow


class KnowledgeBase(Base):
    __tablename__ = "knowledge_bases"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_kb_tenant_name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # False: keyword (BM25) search only, no embedding cost at ingestion.
    dense: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Bumped by every index rebuild; a process holding an older index in memory reloads it.
    index_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class KbAccess(Base):
    """One grant: a role (and above), a group or a user may read, or read and write, a KB."""

    __tablename__ = "kb_access"
    __table_args__ = (
        UniqueConstraint("kb_id", "subject_type", "subject", name="uq_kb_access_subject"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    kb_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True
    )
    subject_type: Mapped[str] = mapped_column(String(10))  # role | group | user
    subject: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(10))  # read | write


class KbDocument(Base):
    __tablename__ = "kb_documents"
    __table_args__ = (UniqueConstraint("kb_id", "filename", name="uq_kb_documents_name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    kb_id: Mapped[str] = mapped_column(
        ForeignKey("knowledge_bases.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(Text, default="")  # "upload" or the URL fetched
    content_type: Mapped[str] = mapped_column(String(20), default="")
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    # The hash of the content that the chunks were made from: equal to sha256 once indexed.
    indexed_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(40), nullable=True)  # failure_codes
    # The numbers and names the reason says (a PDF's pages and the limit), for its code's words.
    error_values: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # What a person should know about how it was read (pages left unread without OCR, an
    # encoding other than UTF-8), from its last ingestion; None before any.
    notes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    # Each note's code and values (knowledge/note_codes.py), or None for one without a code.
    note_codes: Mapped[list[dict[str, Any] | None] | None] = mapped_column(JSON, nullable=True)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    # What the document says it is and covers (knowledge/context.py), for citations.
    title: Mapped[str | None] = mapped_column(String(500), nullable=True)
    period: Mapped[str | None] = mapped_column(String(200), nullable=True)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    # The stored file's name in the KB's documents/ folder, named by id and content hash so a
    # new version is stored beside the one still searched; None: documents/<id>, as stored
    # before versions were kept.
    stored_as: Mapped[str | None] = mapped_column(String(120), nullable=True)
    # While a newer upload is indexed, the version that is still searched and downloaded: its
    # sha256, bytes, content_type, source and stored_as (None: no such version).
    previous: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Why the newest upload could not be indexed while an earlier version was kept in its place.
    update_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    update_error_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    update_error_values: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class KbChunk(Base):
    """A passage of a document with what a citation needs: document, page, heading path, and
    the context header (title, file name, period, section) indexed with its text."""

    __tablename__ = "kb_chunks"
    # AUTOINCREMENT on SQLite too: a re-indexed document's new chunks must never reuse the ids
    # of deleted ones, or an index could mistake new text for a chunk it already holds.
    __table_args__ = (
        Index("ix_kb_chunks_kb_doc", "kb_id", "document_id"),
        # A chunk is stored once: two instances storing one document serialise on this.
        Index("uq_kb_chunks_doc_ordinal", "document_id", "ordinal", unique=True),
        {"sqlite_autoincrement": True},
    )
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    kb_id: Mapped[str] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="CASCADE"))
    document_id: Mapped[str] = mapped_column(ForeignKey("kb_documents.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    page: Mapped[int | None] = mapped_column(Integer, nullable=True)
    headings: Mapped[list[str]] = mapped_column(JSON, default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    context: Mapped[str | None] = mapped_column(Text, nullable=True)
