"""XML from uploaded files, parsed so that it cannot reach out or blow up: no entities
expanded (no "billion laughs", no external files), no network, lxml's default limits on depth
and node size (``huge_tree`` off), and a part of a zip package read only under a size cap.
Office 2003 XML, OFD and OpenDocument files are read through here."""

from __future__ import annotations

import zipfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxml.etree import _Element

MAX_PART = 50 * 1024 * 1024  # one XML part of a package; the whole zip is checked before


def parse(data: bytes) -> _Element:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    return etree.fromstring(data, parser)


def zip_part(archive: zipfile.ZipFile, name: str) -> _Element:
    """A package's XML part (``KeyError`` when it has none), refused over ``MAX_PART``."""
    info = archive.getinfo(name)
    if info.file_size > MAX_PART:
        raise ValueError(f"{name} is larger than {MAX_PART} bytes")
    return parse(archive.read(info))


def integer(value: object, default: int) -> int:
    """A whole number a file writes in an attribute (a start, an index, a span), or
    ``default`` where there is none or it is no number."""
    if value is None:
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        return default
