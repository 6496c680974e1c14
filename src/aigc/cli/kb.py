"""`aigc kb`: knowledge bases (create, ingest files with progress, search)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from aigc.cli.common import TenantOpt, err, operator, out, session, tenant_id
from aigc.config import Settings
from aigc.errors import APIError

kb_app = typer.Typer(help="Knowledge bases: create, ingest files, search", no_args_is_help=True)


@kb_app.command("create")
def kb_create(
    name: str,
    tenant: TenantOpt = None,
    keyword_only: Annotated[bool, typer.Option(help="BM25 only: no embeddings")] = False,
) -> None:
    """Create a knowledge base (readable by every role, writable by members and above)."""
    from aigc.knowledge import bases

    with session() as s:
        kb = bases.create_kb(s, operator(tenant_id(s, tenant)), name, dense=not keyword_only)
        out.print(f"created {kb.id} ({kb.name})")


@kb_app.command("ingest")
def kb_ingest(
    kb_id: str,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders under the import roots")],
    tenant: TenantOpt = None,
) -> None:
    """Add files (folders recursively) and index the new or changed ones, with progress.

    A file in a folder is named by its path in that folder (2023年/报销制度.txt), a file given
    by itself by its name. A second file of a name this run has already taken (two folders
    holding the same path) is skipped and said so, as is what is really elsewhere (a link
    leading out of a folder).
    """
    from rich.markup import escape
    from rich.progress import Progress

    from aigc.infra.db import Database
    from aigc.infra.paths import check_import_path, files_under, open_inside
    from aigc.knowledge.ingest import add_document, check_new_name, ingest_documents

    settings = Settings()
    files: list[tuple[Path, Path, str]] = []  # (real file, the folder it must stay in, name)
    changed, unchanged, skipped = [], 0, 0
    with session() as s:  # API errors (a path outside the import roots…) become messages
        for path in paths:
            root = check_import_path(path, settings.import_roots)
            if not root.is_dir():
                files.append((root, root.parent, root.name))
                continue
            for found, reason in files_under(root):
                if reason is None:
                    files.append((found, root, document_name(found, root)))
                else:
                    skipped += 1
                    err.print(f"[yellow]skipped[/yellow] {escape(str(path / found))}: {reason}")
        who = operator(tenant_id(s, tenant))
        taken: set[str] = set()
        for file, folder, name in files:
            try:
                name = check_new_name(name, taken, "run", folders=True)
                with open_inside(file, folder) as fh:
                    added = add_document(
                        s,
                        settings,
                        who,
                        kb_id,
                        name,
                        iter(lambda: fh.read(1 << 20), b""),
                        folders=True,
                    )
            except (APIError, OSError) as exc:
                reason = exc.message if isinstance(exc, APIError) else exc.strerror
                err.print(f"[yellow]skipped[/yellow] {escape(str(file))}: {reason}")
                skipped += 1
                continue
            taken.add(name)
            if added.changed:
                changed.append(added.document.id)
            else:
                unchanged += 1
    db = Database(settings.db_url)
    try:
        if err.is_terminal:
            with Progress(console=err) as bar:
                task = bar.add_task("indexing", total=1.0)
                result = ingest_documents(
                    db,
                    settings,
                    who.tenant_id,
                    kb_id,
                    changed,
                    progress=lambda f, m, *_: bar.update(task, completed=f, description=m),
                )
        else:  # a log or a pipe: a bar would show nothing until the end, so a line per step
            result = ingest_documents(
                db, settings, who.tenant_id, kb_id, changed, progress=progress_line
            )
    finally:
        db.dispose()
    out.print(
        f"{result['indexed']} indexed, {result['failed']} failed, {unchanged} unchanged, "
        f"{skipped} skipped; {result['chunks']} chunks in the index"
    )


def document_name(file: Path, folder: Path) -> str:
    """A file's document name: its path within the folder it was found in (whose files the
    walk yields by their real paths), so files of one name in two subfolders stay two."""
    return file.relative_to(os.path.realpath(folder)).as_posix()


def progress_line(fraction: float, message: str, *_named: object) -> None:
    """One progress line, flushed at once (``aigc kb ingest … > log`` shows each file)."""
    from rich.markup import escape

    err.print(f"{fraction:4.0%} {escape(message)}", soft_wrap=True)
    err.file.flush()


@kb_app.command("export-model")
def kb_export_model() -> None:
    """Export the embedding model to ONNX now (otherwise done at the first text embedded).

    Reads only the local model directory; the export is kept under the data directory
    (``AIGC_KB_ONNX_DIR``) and reused by every process that shares it."""
    from aigc.knowledge.ingest import embedder_for

    embedder = embedder_for(Settings())
    if embedder.backend == "torch":
        out.print("the embedding backend is torch: nothing to export")
        return
    embedder.onnx()
    out.print(f"{embedder.signature} ready ({embedder.backend}, {embedder.dim} dimensions)")


@kb_app.command("search")
def kb_search(
    kb_id: str,
    query: str,
    top_k: Annotated[int, typer.Option(help="How many chunks")] = 5,
    tenant: TenantOpt = None,
) -> None:
    """Search a knowledge base (hybrid) and print the best chunks with their scores."""
    from aigc.knowledge.retrieve import search

    with session() as s:
        hits = search(s, Settings(), operator(tenant_id(s, tenant)), [kb_id], query, top_k)
        table = Table("score", "document", "page", "from", "text")
        for h in hits:
            about = " · ".join(p for p in (h.title, h.period, " › ".join(h.headings)) if p)
            table.add_row(f"{h.score:.3f}", h.filename, str(h.page or ""), about, h.text[:120])
        out.print(table)
