"""Training text: where it comes from, how it is cleaned, how it is split.

Every text family trains from the same list of documents. A document is one .txt/.md file, or
one record of a .jsonl/.json file (``{"text": ...}``, or the ``content``/``paragraphs`` lists of
the chinese-poetry corpus). Data comes from files a tenant uploaded (``/v1/files``) or, for the
CLI and the platform admin only, from a server path under the import roots. A folder is read
through ``infra.paths.files_under``: a link inside it that leads out of it is skipped, and the
job's result lists what was skipped and why.
"""

from __future__ import annotations

import json
import logging
import random
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from aigc.access import Principal
from aigc.errors import InvalidRequest, PermissionDenied, refused, refused_value
from aigc.infra import files, text_encoding
from aigc.infra.paths import check_import_path, files_under, open_inside

TEXT_SUFFIXES = {".txt", ".md", ".text", ".markdown"}
JSON_SUFFIXES = {".jsonl", ".json", ".ndjson"}
TEXT_FIELDS = ("text", "content", "paragraphs")
log = logging.getLogger("aigc.models")
MAX_SKIPPED_SHOWN = 100  # in a job's result; the log has them all

_SPACES = re.compile(r"[^\S\n\t]+")  # horizontal whitespace except tabs


def clean_text(text: str) -> str:
    """NFC, no control characters (\\n and \\t kept), runs of spaces collapsed, lines kept."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    )
    text = _SPACES.sub(" ", text)
    # Line by line: a regex for trailing blanks rescans long blank runs once per start (quadratic).
    return "\n".join(line.rstrip(" \t") for line in text.split("\n")).strip(" ")


def pydoc_texts() -> list[str]:
    """The English that ships with every CPython, the help topics of ``pydoc``, as written
    (callers clean them): the default models' corpus and the tests' small one, no download."""
    from pydoc_data.topics import topics

    return [topics[name] for name in sorted(topics)]


def read_texts(paths: Sequence[Path], skipped: list[str] | None = None) -> list[str]:
    """The cleaned, non-empty documents in ``paths`` (files or folders, read recursively).

    Files in a folder that are really elsewhere are not read; ``skipped`` (when given) receives
    "name: reason" for each (the first ``MAX_SKIPPED_SHOWN``), names relative to their folder.
    """
    docs: list[str] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for child, reason in files_under(path):
                if reason is not None:
                    log.warning("training data: skipped %s in %s: %s", child, path, reason)
                    if skipped is not None and len(skipped) < MAX_SKIPPED_SHOWN:
                        skipped.append(f"{child.as_posix()}: {reason}")
                    continue
                if child.name.startswith("."):
                    continue
                if child.suffix.lower() in TEXT_SUFFIXES | JSON_SUFFIXES:
                    docs.extend(_read_file(child, path))
        elif path.is_file():
            docs.extend(_read_file(path))
        else:
            raise refused_value(
                "data_not_found", "No such file or folder: {name}", param="data", name=path.name
            )
    cleaned = [clean_text(d) for d in docs]
    return [d for d in cleaned if d.strip()]


def _read_file(path: Path, folder: Path | None = None) -> list[str]:
    """The documents of one file; a file from a folder walk is opened inside that folder."""
    try:
        if folder is None:
            raw = path.read_bytes()
        else:
            with open_inside(path, folder) as fh:
                raw = fh.read()
    except OSError as exc:
        raise refused_value(
            "data_unreadable",
            "Cannot read {name}: {reason}",
            param="data",
            name=path.name,
            reason=str(exc.strerror),
        ) from None
    try:  # UTF-8, or what a Chinese or Windows editor saved (GB18030, Big5, UTF-16 …)
        text = text_encoding.decode(raw).text
    except text_encoding.UndecodableText:
        raise refused_value(
            "data_not_text", "{name} is not a text file", param="data", name=path.name
        ) from None
    if "\x00" in text[:8192]:
        raise refused_value(
            "data_not_text", "{name} is not a text file", param="data", name=path.name
        )
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return [text]
    if suffix in JSON_SUFFIXES or text.lstrip()[:1] in ("{", "["):
        try:
            return list(_json_documents(text))
        except ValueError as exc:
            if suffix in JSON_SUFFIXES:
                raise refused_value(
                    "data_json_invalid",
                    "{name}: {reason}",
                    param="data",
                    name=path.name,
                    reason=str(exc),
                ) from None
    if suffix and suffix not in JSON_SUFFIXES:
        # Uploads are stored under their id, without a suffix, and sniffed; named files must say.
        raise refused_value(
            "data_kind_unknown",
            "Unknown kind of file: {name} (use .txt, .md, .jsonl or .json)",
            param="data",
            name=path.name,
        )
    return [text]


def _json_documents(text: str) -> Iterator[str]:
    """Documents of a JSON array/object, or of JSON Lines (one object per line)."""
    stripped = text.strip()
    try:
        values: list[Any] = [json.loads(stripped)]
    except json.JSONDecodeError:
        values = []
        for number, line in enumerate(stripped.splitlines(), 1):
            if line.strip():
                try:
                    values.append(json.loads(line))
                except json.JSONDecodeError:
                    raise ValueError(f"line {number} is not valid JSON") from None
    for value in values:
        for record in value if isinstance(value, list) else [value]:
            doc = _record_text(record)
            if doc is None:
                raise ValueError(
                    "each record needs a 'text' (or 'content' / 'paragraphs') string or list"
                )
            yield doc


def _record_text(record: Any) -> str | None:
    if isinstance(record, str):
        return record
    if not isinstance(record, dict):
        return None
    for key in TEXT_FIELDS:
        value = record.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return "\n".join(value)
    return None


def split_train_val(
    docs: list[str], val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[str], list[str]]:
    """A deterministic split: a seeded shuffle of documents; one document is cut at a line.

    With a single document (a book, tiny-shakespeare) the last ``val_fraction`` of it validates,
    cut at the line break nearest that point, as nanoGPT splits its text.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise refused_value(
            "fraction_range", "val_fraction must be in [0, 1)", param="val_fraction"
        )
    if not docs or val_fraction == 0.0:
        return list(docs), []
    if len(docs) == 1:
        text = docs[0]
        cut = int(len(text) * (1.0 - val_fraction))
        newline = text.rfind("\n", 0, cut)
        if newline > 0:
            cut = newline + 1
        head, tail = text[:cut], text[cut:]
        return [head], ([tail] if tail.strip() else [])
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    n_val = min(len(docs) - 1, max(1, round(len(docs) * val_fraction)))
    val_ids = set(order[:n_val])
    train = [d for i, d in enumerate(docs) if i not in val_ids]
    val = [d for i, d in enumerate(docs) if i in val_ids]
    return train, val


@dataclass(frozen=True)
class CorpusStats:
    """What a training run saw (reported with the model)."""

    documents: int
    characters: int
    lines: int
    train_documents: int
    val_documents: int
    train_characters: int
    val_characters: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def corpus_stats(train: Sequence[str], val: Sequence[str]) -> CorpusStats:
    everything = [*train, *val]
    return CorpusStats(
        documents=len(everything),
        characters=sum(len(d) for d in everything),
        lines=sum(d.count("\n") + 1 for d in everything),
        train_documents=len(train),
        val_documents=len(val),
        train_characters=sum(len(d) for d in train),
        val_characters=sum(len(d) for d in val),
    )


def resolve_training_data(
    session: Session,
    principal: Principal | None,
    *,
    file_ids: list[str] | None,
    data_path: str | None,
    data_dir: Path,
    import_roots: list[Path],
) -> tuple[list[str], list[Path]]:
    """The files to train on: the caller's own uploads (their blob-store keys, which the job
    fetches on whichever instance runs it), or a server path (CLI / platform admin).

    ``principal`` None is the local CLI. Another tenant's file id is "not found".
    """
    if not file_ids and not data_path:
        raise InvalidRequest(
            "Give the training data: file_ids (uploaded files) or a data path",
            param="file_ids",
            code="missing_required_parameter",
        )
    keys: list[str] = []
    paths: list[Path] = []
    for file_id in file_ids or []:
        if principal is None:
            raise refused_value(
                "files_need_tenant",
                "Uploaded files belong to a tenant: train through the API",
                param="file_ids",
            )
        record = files.get_file(session, principal, file_id)
        keys.append(files.file_key(record))
    if data_path:
        if principal is not None and not principal.platform_admin:
            raise refused(
                PermissionDenied,
                "server_path_platform_only",
                "Only the platform admin may train on a server path; upload the data instead",
                param="data_path",
            )
        path = check_import_path(data_path, import_roots)
        if not path.exists():
            raise refused_value(
                "data_not_found",
                "No such file or folder: {name}",
                param="data_path",
                name=str(data_path),
            )
        paths.append(path)
    return keys, paths
