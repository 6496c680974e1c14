"""PDF bookmarks as sections: what a Word document's headings become when it is saved as PDF.
Before, a PDF's sections came only from lines that look like headings (PART II, 第三章), so a
manual's appendices ran on under its last chapter and headings of other forms were missed."""

from __future__ import annotations

from aigc.knowledge import context, parse
from aigc.knowledge.parse import Block, Bookmark
from aigc.knowledge.retrieve import search

from .conftest import Sandbox


def bookmarked_pdf() -> bytes:
    """A handbook as Word saves it: a contents page, then two chapters with a section each,
    the second chapter starting halfway down a page."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)

    def line(text: str) -> None:
        pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")

    pdf.add_page()
    for entry in ("Contents", "Leave ... 2", "Annual leave ... 2", "Expenses ... 2"):
        line(entry)
    pdf.add_page()
    pdf.start_section("Leave", level=0)
    line("Leave")
    pdf.start_section("Annual leave", level=1)
    line("Annual leave")
    line("Employees receive fifteen days of paid leave each year.")
    pdf.start_section("Expenses", level=0)
    line("Expenses")
    line("Hotel costs are reimbursed up to 150 USD a night.")
    return bytes(pdf.output())


def test_a_pdfs_bookmarks_are_read_and_become_its_sections() -> None:
    parsed = parse.parse_document(bookmarked_pdf(), "pdf")
    assert parsed.outline == [
        Bookmark(0, "Leave", 2),
        Bookmark(1, "Annual leave", 2),
        Bookmark(0, "Expenses", 2),
    ]
    sections = context.assign_sections(parsed.blocks, parsed.outline)
    where = {b.text.splitlines()[-1]: b.headings for b in sections}
    assert where["Employees receive fifteen days of paid leave each year."] == [
        "Leave",
        "Annual leave",
    ]
    # the second chapter starts halfway down the page: a new block (and chunk) from its title
    assert where["Hotel costs are reimbursed up to 150 USD a night."] == ["Expenses"]
    assert any(b.text.startswith("Expenses") and b.boundary for b in sections)
    # the contents page lists every title and opens none of them
    assert all(b.headings == [] for b in sections if b.page == 1)


def test_bookmarks_not_found_in_the_text_open_at_their_page() -> None:
    blocks = [
        Block("目录\n一、总则 1\n附录：错误码 9", page=1),
        Block("第一条 为规范管理，制定本办法。", page=2),
        Block("错误码 A0001 表示用户端错误。", page=9),
    ]
    outline = [Bookmark(0, "一、总则", 2), Bookmark(0, "附录：错误码列表", 9)]
    where = {b.text: b.headings for b in context.assign_sections(blocks, outline)}
    assert where["目录\n一、总则 1\n附录：错误码 9"] == []
    assert where["第一条 为规范管理，制定本办法。"] == ["一、总则"]
    assert where["错误码 A0001 表示用户端错误。"] == ["附录：错误码列表"]


def test_a_single_bookmark_is_a_title_not_sections() -> None:
    """An earnings release with one bookmark (its headline) kept the headings its lines show;
    as a section it put the headline before every chunk and cost a document hit."""
    blocks = [Block("PART I\nItem 1. Business\nWe make widgets.", page=1)]
    outline = [Bookmark(0, "Widgets Inc. Announces Record Results", 1)]
    assert context.assign_sections(blocks, outline) == context.assign_sections(blocks)


def test_ingested_chunks_carry_the_bookmarks_section(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "handbook", dense=False)
    assert sandbox.ingest(sandbox.admin_a, kb, {"handbook.pdf": bookmarked_pdf()})["indexed"] == 1
    with sandbox.db.session() as s:
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], "hotel costs per night")
    assert hits[0].headings == ["Expenses"] and hits[0].page == 2
