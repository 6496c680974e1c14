"""The labels Word draws before numbered paragraphs: 第一条, 1.2, (a), ①.

Automatic numbering is not text in a .docx: a paragraph names a list and a level
(``w:numPr``, on the paragraph or on its style, as heading styles numbered 第一章 do), and
``numbering.xml`` says how that level is counted and drawn (``w:numFmt`` chineseCounting,
``w:lvlText`` "第%1条"). Without the labels, a policy whose articles Word numbers reads as
unnumbered paragraphs: "第十二条" finds nothing, and chapters typed as 第一章 cannot be told
from body text. Counting follows Word: one counter per level of an abstract list, shared by
the lists that use it, restarted by a list's ``w:startOverride``; a level restarts after a
higher one is used (unless ``w:lvlRestart`` says otherwise).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aigc.knowledge.number_formats import format_number
from aigc.knowledge.safe_xml import integer

if TYPE_CHECKING:
    from docx.document import Document
    from lxml.etree import _Element

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_LEVELS = 9


def _attr(element: _Element | None, name: str = "val") -> str | None:
    return None if element is None else element.get(f"{{{_W}}}{name}")


def _child(element: _Element | None, path: str) -> _Element | None:
    if element is None:
        return None
    found = element.find(path.replace("w:", f"{{{_W}}}"))
    return found


@dataclass
class Level:
    """How one level of a list is counted and drawn."""

    start: int = 1
    fmt: str = "decimal"
    text: str = ""
    suffix: str = "tab"  # what follows the label: tab, space or nothing
    restart: int | None = None  # w:lvlRestart: restart after this (1-based) level; 0 never
    legal: bool = False  # w:isLgl: every level's number drawn in Arabic digits
    style: str | None = None  # the paragraph style this level belongs to


@dataclass
class _List:
    abstract: str
    overrides: dict[int, int] = field(default_factory=dict)  # level → w:startOverride
    used: bool = False


class Numbering:
    """A document's lists, and their counters as the document is read in order."""

    def __init__(self, document: Document) -> None:
        from docx.opc.constants import RELATIONSHIP_TYPE as RT

        self.abstracts: dict[str, list[Level]] = {}
        self.lists: dict[str, _List] = {}
        self.counters: dict[str, list[int | None]] = {}
        self.styles: dict[str, _Element] = {}
        part = next(
            (
                rel.target_part
                for rel in document.part.rels.values()
                if rel.reltype == RT.NUMBERING and not rel.is_external
            ),
            None,
        )
        if part is None:
            return
        root = part.element
        links: dict[str, str] = {}  # abstract list → the list style it takes its levels from
        for abstract in root.iterfind(f"{{{_W}}}abstractNum"):
            link = _attr(_child(abstract, "w:numStyleLink"))
            if link:
                links[_attr(abstract, "abstractNumId") or ""] = link
            levels = [Level() for _ in range(_LEVELS)]
            for lvl in abstract.iterfind(f"{{{_W}}}lvl"):
                index = integer(_attr(lvl, "ilvl"), -1)
                if 0 <= index < _LEVELS:
                    levels[index] = _level(lvl)
            self.abstracts[_attr(abstract, "abstractNumId") or ""] = levels
        for num in root.iterfind(f"{{{_W}}}num"):
            entry = _List(_attr(_child(num, "w:abstractNumId")) or "")
            for override in num.iterfind(f"{{{_W}}}lvlOverride"):
                start = _attr(_child(override, "w:startOverride"))
                if start is not None:
                    entry.overrides[integer(_attr(override, "ilvl"), 0)] = integer(start, 1)
            self.lists[_attr(num, "numId") or ""] = entry
        for style in document.styles.element.iterfind(f"{{{_W}}}style"):
            self.styles[_attr(style, "styleId") or ""] = style
        # A list defined by a list style (Word's multilevel "1 / 1.1 / 1.1.1" styles) names the
        # style, whose numbering names the list that holds the levels and the counters.
        for entry in self.lists.values():
            style = self.styles.get(links.get(entry.abstract, ""))
            target = self.lists.get(_attr(_child(style, "w:pPr/w:numPr/w:numId")) or "")
            if target is not None and target.abstract in self.abstracts:
                entry.abstract = target.abstract

    def label(self, p: _Element) -> str:
        """The label Word draws before paragraph ``p`` (with what follows it: a space for a
        tab or space), counting it; "" for an unnumbered paragraph or a bullet."""
        found = self._num_pr(p)
        if found is None:
            return ""
        num_id, level = found
        entry = self.lists.get(num_id)
        levels = self.abstracts.get(entry.abstract) if entry else None
        if entry is None or levels is None or not 0 <= level < _LEVELS:
            return ""
        counters = self.counters.setdefault(entry.abstract, [None] * _LEVELS)
        if not entry.used:  # a list that restarts where it begins
            entry.used = True
            for index, start in entry.overrides.items():
                if 0 <= index < _LEVELS:
                    counters[index] = start - 1
        current = counters[level]
        counters[level] = levels[level].start if current is None else current + 1
        for deeper in range(level + 1, _LEVELS):
            restart = levels[deeper].restart
            if restart != 0 and (restart is None or level < restart):
                counters[deeper] = None
        drawn = levels[level]
        if drawn.fmt in ("bullet", "none") or not drawn.text:
            return ""

        def number(match: re.Match[str]) -> str:
            index = int(match.group(1)) - 1
            if not 0 <= index < _LEVELS:
                return ""
            value = counters[index]
            if value is None:
                value = levels[index].start
            return format_number(value, "decimal" if drawn.legal else levels[index].fmt)

        label = re.sub(r"%([1-9])", number, drawn.text)
        return label + ("" if drawn.suffix == "nothing" else " ")

    def _num_pr(self, p: _Element) -> tuple[str, int] | None:
        """The list and level of a paragraph: its own w:numPr, else its style's (a style's
        level is the one that names the style, else the first)."""
        own = _child(p, "w:pPr/w:numPr")
        if own is not None:
            num_id = _attr(_child(own, "w:numId"))
            if num_id is None or num_id == "0":  # numId 0: numbering taken off
                return None
            level = _attr(_child(own, "w:ilvl"))
            if level is not None:
                return num_id, integer(level, 0)
            return num_id, self._style_level(num_id, _attr(_child(p, "w:pPr/w:pStyle")))
        style_id = _attr(_child(p, "w:pPr/w:pStyle"))
        seen: set[str] = set()
        while style_id and style_id not in seen:
            seen.add(style_id)
            style = self.styles.get(style_id)
            if style is None:
                return None
            num_pr = _child(style, "w:pPr/w:numPr")
            if num_pr is not None:
                num_id = _attr(_child(num_pr, "w:numId"))
                if num_id is None or num_id == "0":
                    return None
                level = _attr(_child(num_pr, "w:ilvl"))
                if level is not None:
                    return num_id, integer(level, 0)
                return num_id, self._style_level(num_id, style_id)
            style_id = _attr(_child(style, "w:basedOn"))
        return None

    def _style_level(self, num_id: str, style_id: str | None) -> int:
        entry = self.lists.get(num_id)
        levels = self.abstracts.get(entry.abstract, []) if entry else []
        return next((i for i, lv in enumerate(levels) if style_id and lv.style == style_id), 0)


def _level(lvl: _Element) -> Level:
    restart = _attr(_child(lvl, "w:lvlRestart"))
    legal = _child(lvl, "w:isLgl")
    return Level(
        start=integer(_attr(_child(lvl, "w:start")), 1),
        fmt=_attr(_child(lvl, "w:numFmt")) or "decimal",
        text=_attr(_child(lvl, "w:lvlText")) or "",
        suffix=_attr(_child(lvl, "w:suff")) or "tab",
        restart=None if restart is None else integer(restart, 0),
        legal=legal is not None and _attr(legal) not in ("0", "false"),
        style=_attr(_child(lvl, "w:pStyle")),
    )
