"""Where a chunk comes from: its document's title and period, its section path and page.

A passage such as "Net sales increased 4%" is the same words in two quarterly reports of one
company; what tells them apart is outside the passage: the document's title ("Best Buy Co.,
Inc. Form 10-Q"), the period it covers ("quarterly period ended July 29, 2023") and the
section it sits in ("Item 2. Management's Discussion"). This module finds them:

- the title: the first heading of a structured document, the registrant of an SEC cover
  page ("… (Exact name of registrant as specified in its charter)") with the form, else the
  first short line of the first page, else the file name;
- the period, as the document states it near its start (English and Chinese forms: "for the
  quarterly period ended June 30, 2023", "fiscal year ended …", "Q2 2023", "2023年第二季度",
  "截至2023年6月30日"), with canonical terms ("2023q2", "fy2022") that a query naming the
  same period in another form also yields (``period_terms``);
- section headings in text without markup (PDF, plain text): "PART II", "Item 7.",
  "Note 5.", "第三章", "第二节", "一、", "（二）", as a heading path per block.

The header built from them (``header``) is indexed with each chunk, for BM25 and for the
vectors, and shown in citations; it is not part of the chunk's text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath

from aigc.infra.canonical_text import canonical
from aigc.knowledge.parse import Block, Bookmark, HeadingPath

# --- periods -------------------------------------------------------------------------------

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        )
    )
}
_MONTH = r"(january|february|march|april|may|june|july|august|september|october|november|december)"
_ORDINAL = {"first": 1, "second": 2, "third": 3, "fourth": 4, "1st": 1, "2nd": 2, "3rd": 3}
_ORDINAL |= {"4th": 4}
_ZH_NUM = {"一": 1, "二": 2, "三": 3, "四": 4, "1": 1, "2": 2, "3": 3, "4": 4}
_ZH_DIGIT = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0}
_ALNUM_EDGE_L = r"(?<![A-Za-z0-9])"
_ALNUM_EDGE_R = r"(?![A-Za-z0-9])"

# A statement of the period a whole document covers, as cover pages and releases word it.
_STATEMENTS = [
    re.compile(
        r"(?:for the\s+)?(quarterly period|fiscal year|fiscal quarter|quarter|year|"
        r"(?:three|six|nine|twelve|thirteen|twenty-six|thirty-nine|fifty-two|fifty-three)"
        r"[- ](?:months|weeks))\s+ended\s+" + _MONTH + r"\s+(\d{1,2}),?\s+(\d{4})",
        re.IGNORECASE,
    ),
    re.compile(
        r"(first|second|third|fourth)[- ]quarter(?:\s+(?:of\s+)?(?:fiscal\s+(?:year\s+)?)?"
        r"|\s+and\s+full[- ]year\s+(?:fiscal\s+)?)(\d{4})",
        re.IGNORECASE,
    ),
    re.compile(
        _ALNUM_EDGE_L + r"(?:Q([1-4])\s*(?:of\s+)?(?:FY\s*)?'?(\d{4}|\d{2})|(\d{4})\s*Q([1-4]))"
        r"" + _ALNUM_EDGE_R
    ),
    re.compile(
        r"date of report[^:]{0,60}:\s*" + _MONTH + r"\s+(\d{1,2}),?\s+(\d{4})", re.IGNORECASE
    ),
    re.compile(r"(\d{4})\s*年\s*(?:第\s*([一二三四1-4])\s*季度|([上下])半年|(半年度|年度))"),
    re.compile(r"截至\s*(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日"),
    re.compile(r"(?:full[- ]year\s+)?fiscal\s+(?:year\s+)?(\d{4})", re.IGNORECASE),
    re.compile(r"full[- ]year\s+(\d{4})", re.IGNORECASE),
    re.compile(r"(\d{4})\s+(first|second|third|fourth)[- ]quarter", re.IGNORECASE),
    # How Chinese reports and questions also name a period: 2023年二季度 (no 第), 2023年Q2,
    # 一季报 / 三季报 / 中报 / 半年报 / 年报, 前三季度 (the third-quarter report's nine months),
    # 1-6月, and a year in Chinese numerals (二〇二三年, only before 年).
    re.compile(
        r"(?:(?P<year>\d{4})\s*年?|(?P<zh_year>[〇零一二三四五六七八九]{4})\s*年)\s*(?:"
        r"第?\s*(?P<quarter>[一二三四1-4])\s*季(?:度|报)|[Qq](?P<q>[1-4])(?![0-9])"
        r"|(?P<half>中报|半年报)|(?P<annual>年报)|(?P<nine>前三季度)"
        r"|1\s*[-–—~至到]\s*(?P<through>3|6|9|12)\s*月)"
    ),
]

# What a query may call a period (besides the statements above).
_QUERY_FORMS = [
    re.compile(
        _ALNUM_EDGE_L + r"(?:FY|fiscal(?:\s+year)?)\s*'?(\d{4}|\d{2})" + _ALNUM_EDGE_R, re.I
    ),
    re.compile(r"(\d{4})\s*(?:财年|财政年度|年度)"),
]


def _year(text: str) -> int:
    year = int(text)
    return year + 2000 if year < 100 else year


def _quarter_of(month: int, day: int) -> int | None:
    """The calendar quarter a period ending on this date closes (a few days' slack either
    side of a quarter's end, as 52/53-week fiscal calendars have); None in mid-quarter."""
    if month in (3, 6, 9, 12) and day >= 24:
        return month // 3
    if month in (1, 4, 7, 10) and day <= 7:
        return (month - 1) // 3 or 4
    return None


def _terms_of(match: re.Match[str], pattern: int) -> list[str]:
    """Canonical period terms ("2023q2", "fy2022", "2023h1") of one matched statement."""
    g = match.groups()
    if pattern == 0:  # … ended June 30, 2023
        kind, month, day, year = g[0].lower(), _MONTHS[g[1].lower()], int(g[2]), int(g[3])
        quarter = _quarter_of(month, day)
        if quarter == 4 and month == 1:
            year -= 1
        if kind.startswith(("quarterly", "quarter", "three", "thirteen", "fiscal quarter")):
            return [f"{year}q{quarter}"] if quarter else []
        if kind.startswith(("six", "twenty-six")):
            return [f"{year}h1"] if quarter == 2 else []
        if kind.startswith(("year", "fiscal year", "twelve", "fifty")):
            return [f"fy{year}"]
        return []
    if pattern == 1:  # second quarter (of fiscal) 2023
        return [f"{g[1]}q{_ORDINAL[g[0].lower()]}"]
    if pattern == 2:  # Q2 2023, Q4 FY22, 2023Q2
        if g[0]:
            return [f"{_year(g[1])}q{g[0]}"]
        return [f"{g[2]}q{g[3]}"]
    if pattern == 3:  # an 8-K's date of report
        return []
    if pattern == 4:  # 2023年第二季度, 2023年上半年, 2023年年度
        if g[1]:
            return [f"{g[0]}q{_ZH_NUM[g[1]]}"]
        if g[2]:
            return [f"{g[0]}h{1 if g[2] == '上' else 2}"]
        return [f"{g[0]}h1"] if g[3] == "半年度" else [f"fy{g[0]}"]
    if pattern in (6, 7):  # fiscal 2023, full year 2022
        return [f"fy{g[0]}"]
    if pattern == 8:  # 2022 Fourth-Quarter
        return [f"{g[0]}q{_ORDINAL[g[1].lower()]}"]
    if pattern == 9:  # 2023年二季度, 2023年Q2, 三季报, 中报, 年报, 前三季度, 1-6月, 二〇二三年…
        named = match.groupdict()
        y = named["year"] or "".join(str(_ZH_DIGIT[c]) for c in named["zh_year"])
        if named["quarter"] or named["q"]:
            return [f"{y}q{_ZH_NUM[named['quarter'] or named['q']]}"]
        if named["half"]:
            return [f"{y}h1"]
        if named["annual"]:
            return [f"fy{y}"]
        if named["nine"]:
            return [f"{y}q3"]
        through = int(named["through"])  # January to March, June, September, December
        return [{3: f"{y}q1", 6: f"{y}h1", 9: f"{y}q3", 12: f"fy{y}"}[through]]
    if pattern == 5:  # 截至2023年6月30日
        quarter = _quarter_of(int(g[1]), int(g[2]))
        return [f"{g[0]}q{quarter}"] if quarter else []
    return []


def period_terms(text: str) -> list[str]:
    """Canonical terms of every period named in ``text`` (a query or a document header), so
    "Q2 2023", "second quarter 2023", "quarter ended June 30, 2023" and "2023年第二季度" all
    yield "2023q2", and "FY2022", "fiscal 2022", "2022年度" yield "fy2022"."""
    terms: list[str] = []
    for n, pattern in enumerate(_STATEMENTS):
        for match in pattern.finditer(text):
            terms.extend(_terms_of(match, n))
    for pattern in _QUERY_FORMS:
        for match in pattern.finditer(text):
            terms.append(f"fy{_year(match.group(1))}")
    return list(dict.fromkeys(terms))


def canonical_periods(text: str) -> str:
    """``text`` with each period it names replaced by its canonical terms ("Q2 of FY2024" →
    "2024q2"), for judging relevance: a question's "Q2" is found in no document, but its
    quarter is in the context of the documents that cover it."""
    spans: list[tuple[int, int, list[str]]] = []
    for n, pattern in enumerate(_STATEMENTS):
        spans += [(m.start(), m.end(), _terms_of(m, n)) for m in pattern.finditer(text)]
    for pattern in _QUERY_FORMS:
        spans += [(m.start(), m.end(), [f"fy{_year(m.group(1))}"]) for m in pattern.finditer(text)]
    out, at = [], 0
    for start, end, terms in sorted(spans, key=lambda s: (s[0], -s[1])):
        if start >= at and terms:  # the leftmost, longest of overlapping mentions
            out += [text[at:start], " ".join(terms)]
            at = end
    return "".join(out) + text[at:]


def with_period_terms(query: str) -> str:
    """The query with the canonical terms of the periods it names appended (for BM25)."""
    terms = period_terms(query)
    return f"{query} {' '.join(terms)}" if terms else query


def stated_period(blocks: list[Block], first_pages: int = 2, first_blocks: int = 60) -> str:
    """The first period statement near the document's start, as written ("" when none)."""
    start = blocks[0].page if blocks and blocks[0].page is not None else None
    for i, block in enumerate(blocks):
        if i >= first_blocks or (
            start is not None and block.page is not None and block.page >= start + first_pages
        ):
            break
        text = " ".join(block.text.split())
        found = [m for p in _STATEMENTS if (m := p.search(text))]
        if found:
            best = min(found, key=lambda m: m.start())
            return best.group(0).strip()
    return ""


# --- titles --------------------------------------------------------------------------------

_REGISTRANT = re.compile(r"\(\s*exact name of registrant", re.IGNORECASE)
_FORM = re.compile(r"\bFORM\s+(10-K|10-Q|8-K|20-F|6-K|S-1)\b", re.IGNORECASE)
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?\d+(?:\s*/\s*\d+)?$|^-\s*\d+\s*-$", re.IGNORECASE)
_HAS_LETTER = re.compile(r"[A-Za-z\u3400-\u9fff]")
_COMMISSION_FILE = re.compile(r"^commission file number", re.IGNORECASE)
# Lines atop a cover or a release that name no document: skipped when looking for a title.
_NOT_A_TITLE = re.compile(
    r"united states|securities and exchange commission|washington|^table of contents$"
    r"|^for immediate release|^exhibit \d|^(?:news|press) release$|^page \d+ of \d+$|^form \S+$"
    r"|^" + _MONTH + r"\s+\d{1,2},?\s+\d{4}$",
    re.IGNORECASE,
)


def _lines(blocks: list[Block]) -> list[str]:
    return [line.strip() for b in blocks for line in b.text.splitlines() if line.strip()]


# A Chinese official document (公文, GB/T 9704) opens with its issuer's mark ("北京市人民政府
# 文件"), a secrecy or urgency mark, its number ("京政发〔2023〕12号") and a signer, then its
# title ("…关于印发《…》的通知"), which may wrap onto a second line. Its number is how people
# name it; the title carries it as an SEC filing's carries its form.
_ISSUER_MARK = re.compile(  # an organisation's name, then 文件 ("配置文件" is no issuer)
    r"^[\u3400-\u9fff（）()、A-Za-z0-9]{1,40}(?:政府|委员会|办公厅|办公室|部|局|厅|委|院|公司|集团"
    r"|中心|协会|学会|大学|学院|学校|银行|党委|党组|支部|处|所|会|社|署|站)(?:文件|简报|公报)$"
)
_DOCUMENT_NUMBER = re.compile(
    r"^[\u3400-\u9fffA-Za-z]{1,16}\s*[〔［\[（(]\s*(?:19|20)\d{2}\s*[〕］\])）]\s*第?\s*\d{1,5}\s*号"
    r"(?=$|签发人)"  # an upward report puts its signer on the number's line
)
_OFFICIAL_MARKS = re.compile(
    r"^(?:签发人|签 发 人)[:：]|^[★☆\s]*(?:绝密|机密|秘密|特急|加急|特提|平急)(?:[★☆\s]*\S{0,8})?$"
)
_DOCUMENT_KIND = re.compile(
    r"(?:通知|决定|意见|办法|规定|报告|请示|批复|函|公告|通告|通报|纪要|方案|规划|细则|条例|命令|议案)$"
)


def _official_title(lines: list[str]) -> str | None:
    """The title of a Chinese official document, with its number, or None for another kind
    of document (no issuer's mark or document number among its first lines)."""
    number, rest = None, []
    for i, line in enumerate(lines[:8]):
        squeezed = re.sub(r"\s+", "", line)
        if found := _DOCUMENT_NUMBER.match(squeezed):
            number = found.group()
        elif not (_ISSUER_MARK.match(squeezed) or _OFFICIAL_MARKS.search(line)):
            rest = lines[i:]
            break
    marked = number or any(_ISSUER_MARK.match(re.sub(r"\s+", "", ln)) for ln in lines[:3])
    if not marked or not rest or _is_sentence(rest[0]) or not _HAS_LETTER.search(rest[0]):
        return None
    title = rest[0]
    if len(rest) > 1 and not _DOCUMENT_KIND.search(title) and _DOCUMENT_KIND.search(rest[1]):
        title += rest[1]  # a long title wraps: "…关于印发《…》" / "的通知"
    return f"{title}（{number}）" if number else title


def _cover_lines(blocks: list[Block]) -> list[str]:
    """The lines of the document's first two pages (of its first 80 blocks)."""
    first = blocks[0].page if blocks and blocks[0].page is not None else None
    cover = [b for b in blocks[:80] if first is None or b.page is None or b.page <= first + 1]
    return _lines(cover)


def document_title(blocks: list[Block], filename: str) -> str:
    """What the document calls itself (see the module's docstring for the order tried)."""
    lines = _cover_lines(blocks)
    official = _official_title(lines)
    return official[:200] if official else _title(blocks, lines, filename)


def _title(blocks: list[Block], lines: list[str], filename: str) -> str:
    """The title of a document that is no Chinese official one."""
    for block in blocks[:20]:  # a structured document's first heading
        if block.boundary and block.headings and block.text.strip() == block.headings[-1]:
            return block.headings[0][:200]
    for i, line in enumerate(lines):
        if _REGISTRANT.search(line):
            before = line[: _REGISTRANT.search(line).start()].strip()  # type: ignore[union-attr]
            name = before or (lines[i - 1] if i else "")
            name = name.split("|")[0].strip()
            if name and _HAS_LETTER.search(name):
                return _with_form(name, lines)
    for i, line in enumerate(lines[:-1]):  # covers without that note: the line after the
        if _COMMISSION_FILE.match(line) and _FORM.search(" ".join(lines)):  # file number
            name = lines[i + 1].split("|")[0].strip()
            if _HAS_LETTER.search(name) and len(name) <= 120:
                return _with_form(name, lines)
    if blocks and ("row" in blocks[0].meta or "id" in blocks[0].meta):
        return PurePosixPath(filename).stem  # CSV rows and JSON records: data, not a title
    for line in lines[:15]:
        cells = [c.strip(" •·*–-") for c in line.split("|")]  # a bullet is not a title
        line = next((c for c in cells if _HAS_LETTER.search(c)), "")
        if _is_sentence(line):
            break  # the text has begun: a title comes before it
        if (
            3 <= len(line) <= 120
            and _HAS_LETTER.search(line)
            and not _PAGE_NUMBER.match(line)
            and not _NOT_A_TITLE.search(line)
        ):
            return line
    return PurePosixPath(filename).stem


_CJK = re.compile(r"[\u3400-\u9fff]")
_CLAUSE_END = re.compile(r"[。！？；!?;]$")


def _is_sentence(line: str) -> bool:
    """A line of running text rather than a name: it ends as a sentence does (。！？;, or a
    full stop after six words or more), or is Chinese longer than a title is (40 characters).
    A plain-text handbook whose first line is "Employees receive fifteen days of paid leave…"
    is not called that: every chunk would carry the sentence in its context."""
    if _CLAUSE_END.search(line):
        return True
    if line.endswith(".") and len(line.split()) >= 6:
        return True
    return len(_CJK.findall(line)) > 40


def _with_form(name: str, lines: list[str]) -> str:
    form = next((m.group(1).upper() for ln in lines if (m := _FORM.search(ln))), "")
    return f"{name} Form {form}" if form else name


# --- sections in text without markup -------------------------------------------------------

_CN = "一二三四五六七八九十百零〇两"
_SECTION_FORMS = [
    (re.compile(r"^PART\s+[IVX]+\b", re.IGNORECASE), 1),
    (re.compile(r"^ITEM\s+\d{1,2}[A-C]?\s*[.:]", re.IGNORECASE), 2),
    (re.compile(r"^NOTE\s+\d{1,2}\s*[.:—–-]\s*\S", re.IGNORECASE), 3),
    (re.compile(rf"^第[{_CN}\d]+[编篇部]"), 1),
    (re.compile(rf"^第[{_CN}\d]+章"), 2),
    (re.compile(rf"^第[{_CN}\d]+节"), 3),
    (re.compile(rf"^[{_CN}]+、\s*\S"), 4),
    (re.compile(rf"^[（(][{_CN}]+[）)]\s*\S"), 5),
]
# A table of contents line ends with its page number: not a heading where it stands.
_TOC_LINE = re.compile(r"(?:\.{2,}|…+|\s)\s*\d{1,3}$")


def section_level(line: str) -> int | None:
    """The level of a heading line ("PART II" 1, "Item 7." 2, "第三章" 2, "（二）" 5), or None."""
    line = line.strip()
    cjk = len(re.findall(r"[\u3400-\u9fff]", line))
    if not line or len(line) > (40 if cjk > len(line) / 3 else 100) or _TOC_LINE.search(line):
        return None
    if line.endswith(("。", "；", ";")):  # a sentence, not a heading
        return None
    for pattern, level in _SECTION_FORMS:
        if pattern.match(line):
            return level
    return None


def heading_text(line: str) -> str:
    """A heading line as shown: table cells joined ("Item 1A. | Risk Factors"), a lone
    "Page" column of a contents page dropped, at most 80 characters."""
    cells = [c.strip() for c in line.split("|") if c.strip()]
    if len(cells) > 1 and cells[-1].lower() == "page":
        cells.pop()
    return " ".join(" ".join(cells).split())[:80]


def assign_sections(blocks: list[Block], outline: Sequence[Bookmark] = ()) -> list[Block]:
    """Blocks of a document without markup, each with the heading path it sits under.

    A PDF with bookmarks (``outline``, two or more: what a Word document's headings become when
    it is saved as PDF) has its sections from them (``sections_from_outline``); otherwise:

    A line that is a heading opens its section and starts a new block (so a new chunk, even
    when the PDF's paragraph ran on into it). A document whose markup has sections of its own
    (Markdown, HTML, DOCX headings) is returned unchanged; one whose markup marks its title
    alone (a Word file with a Title style and bold, unstyled 第一章 lines, a Markdown file
    with one ``#`` line) gets the sections its lines show, under that title."""
    if len(outline) >= 2:  # one bookmark is the document's title, not its sections
        return sections_from_outline(blocks, outline)
    marked = {tuple(b.headings) for b in blocks if b.headings}
    if len(marked) > 1 or any(len(path) > 1 for path in marked):
        return blocks
    path: list[tuple[int, str]] = []
    out: list[Block] = []
    for block in blocks:
        segments: list[tuple[int | None, list[str]]] = [(None, [])]  # (heading level, lines)
        for line in block.text.splitlines():
            level = section_level(line)
            if level is not None:
                segments.append((level, []))
            segments[-1][1].append(line)
        for level, lines in segments:
            if level is not None:
                while path and path[-1][0] >= level:
                    path.pop()
                path.append((level, heading_text(lines[0])))
            if lines:
                out.append(
                    replace(
                        block,
                        text="\n".join(lines),
                        headings=block.headings + [title for _, title in path],
                        boundary=block.boundary or level is not None,
                    )
                )
    return out


def _squeezed(text: str) -> str:
    """A title or a line as compared: no spaces, lower case, full-width forms and brackets
    as ASCII (a bookmark says "(四) OOP规约" where the page has "（四）OOP 规约")."""
    return re.sub(r"\s+", "", canonical(text).lower()).replace("（", "(").replace("）", ")")


def sections_from_outline(blocks: list[Block], outline: Sequence[Bookmark]) -> list[Block]:
    """Blocks of a PDF with the heading path of its bookmarks. A bookmark opens its section at
    the line of its page that starts with its title (a new block, so a new chunk, from there);
    one whose title is not in its page's text (drawn as an image, reworded) opens at the start
    of its page. Lines elsewhere that look like headings (a contents page lists every title)
    open nothing: the bookmarks are the document's own account of its sections."""
    marks_on: dict[int, list[Bookmark]] = {}
    for mark in outline:
        marks_on.setdefault(mark.page, []).append(mark)
    lines_on: dict[int, list[str]] = {}
    for block in blocks:
        lines_on.setdefault(block.page or 0, []).extend(
            _squeezed(line) for line in block.text.splitlines()
        )
    path = HeadingPath()
    opened_pages: set[int] = set()
    title_of = {id(mark): _squeezed(mark.title) for mark in outline}  # compared, not shown
    waiting: list[Bookmark] = []  # this page's bookmarks found in its text, in order
    out: list[Block] = []
    for block in blocks:
        page = block.page or 0
        if page not in opened_pages:
            for earlier in sorted(p for p in marks_on if p <= page and p not in opened_pages):
                opened_pages.add(earlier)
                lines = lines_on.get(earlier, [])
                for mark in marks_on[earlier]:
                    title = title_of[id(mark)]
                    if earlier == page and any(line.startswith(title) for line in lines):
                        waiting.append(mark)
                    else:  # not in its page's text, or on a page without text
                        path.open(mark.level + 1, mark.title)
        segments: list[tuple[Bookmark | None, list[str]]] = [(None, [])]
        for line in block.text.splitlines():
            if waiting and _squeezed(line).startswith(title_of[id(waiting[0])]):
                segments.append((waiting.pop(0), []))
            segments[-1][1].append(line)
        for opening, lines in segments:
            if opening is not None:
                path.open(opening.level + 1, opening.title)
            if lines:
                out.append(
                    replace(
                        block,
                        text="\n".join(lines),
                        headings=list(path.titles),
                        boundary=block.boundary or opening is not None,
                    )
                )
    return out


# --- the context and its header ------------------------------------------------------------


@dataclass
class DocContext:
    """What a document says about itself, for every chunk of it."""

    filename: str
    title: str
    period: str = ""
    terms: list[str] = field(default_factory=list)  # canonical period terms ("2023q2")

    @classmethod
    def of(cls, filename: str, title: str | None, period: str | None) -> DocContext:
        """The context from what is stored of a document (its name, title and period)."""
        title, period = title or PurePosixPath(filename).stem, period or ""
        stem = PurePosixPath(filename).stem.replace("_", " ")
        return cls(filename, title, period, period_terms(" ".join((period, title, stem))))


def document_context(blocks: list[Block], filename: str) -> DocContext:
    """The title and period of a parsed document (its blocks in reading order). The files
    inside it (an archive's, an e-mail's attachments) have their own (``file_contexts``): an
    archive of three filings is not titled as its first one, nor dated by its period."""
    own = [b for b in blocks if "file" not in b.meta]
    if not own:
        return DocContext.of(filename, None, None)
    lines = _cover_lines(own)
    official = _official_title(lines)
    title = official[:200] if official else _title(own, lines, filename)
    in_title = [m for p in _STATEMENTS if (m := p.search(title))]
    period = in_title[0].group(0) if in_title else stated_period(own)
    if not period and official:
        period = _written_on(own)
    return DocContext.of(filename, title, period)


# An official document's date of writing (成文日期): a line of its own under the issuer's
# signature, in digits or in Chinese numerals (二〇二三年五月十二日).
_WRITTEN_ON = re.compile(
    r"^(?:(?:19|20)\d{2}年\d{1,2}月\d{1,2}日|[〇零一二三四五六七八九]{4}年[一二三四五六七八九十]{1,2}月"
    r"[一二三四五六七八九十]{1,3}日)$"
)


def _written_on(blocks: list[Block]) -> str:
    """The first line of an official document that is a date and nothing else ("" if none)."""
    for block in blocks[:200]:
        for line in block.text.splitlines():
            if _WRITTEN_ON.match(re.sub(r"\s+", "", line)):
                return line.strip()
    return ""


def file_contexts(blocks: list[Block]) -> dict[str, DocContext]:
    """The context of each file read inside the document (``Block.meta["file"]``): its own
    title, period and name, found in its blocks as if it had been uploaded alone."""
    files: dict[str, list[Block]] = {}
    for block in blocks:
        if "file" in block.meta:
            files.setdefault(block.meta["file"], []).append(block)
    out = {}
    for path, found in files.items():
        outer = len(found[0].headings)  # the block naming the file: the headings it is under
        inner = [  # as read alone: not under the file's name, not inside another file
            replace(b, headings=b.headings[outer:], meta=_without_file(b.meta)) for b in found[1:]
        ]
        out[path] = document_context(inner, PurePosixPath(path).name) if inner else None
    return {path: ctx for path, ctx in out.items() if ctx is not None}


def _without_file(meta: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in meta.items() if k != "file"}


def chunk_context(
    document: DocContext, files: dict[str, DocContext], meta: dict[str, str]
) -> DocContext:
    """The context that heads a chunk: its file's where it is from a file inside the
    document, else the document's."""
    return files.get(meta.get("file", ""), document)


MAX_HEADER_CHARS = 300


def title_names_file(title: str, filename: str) -> bool:
    """Whether a title already says the file's name (its stem): then one of them is enough."""
    return PurePosixPath(filename).stem.lower() in title.lower()


def document_header(ctx: DocContext) -> str:
    """The document's part of a chunk's header: title, file name, period and its terms. Also
    indexed once per document, so a query naming the company or the quarter can favour the
    document whose context matches (``KbIndex.context_scores``)."""
    parts = [ctx.title]
    if not title_names_file(ctx.title, ctx.filename):
        parts.append(ctx.filename)
    if ctx.period:
        parts.append(ctx.period)
    if ctx.terms:
        parts.append(" ".join(ctx.terms))
    return " | ".join(p for p in parts if p)


def header(ctx: DocContext, headings: list[str]) -> str:
    """One line naming the chunk's document, period and section: indexed with the chunk (BM25
    and vectors), shown in citations. The page is not in it: a page number in the index would
    match any number a query holds."""
    parts = [document_header(ctx)]
    if not title_names_file(ctx.title, ctx.filename):  # the file's name is shown: not twice
        headings = [h for h in headings if h != ctx.filename]  # (a file in an archive's path)
    if headings:
        parts.append(" › ".join(headings))
    return " | ".join(p for p in parts if p)[:MAX_HEADER_CHARS]


def indexed_text(context: str | None, text: str) -> str:
    """What BM25 and the embedder see for a chunk: its header, then its text."""
    return f"{context}\n{text}" if context else text
