"""Running heads and feet (a filing's "Company | Form 10-K | 45", a manual's "3/55") are not
part of any page's text: a page number in a chunk matched any number a query held."""

from __future__ import annotations

from aigc.knowledge import parse
from aigc.knowledge.running_lines import running_shapes, without_running_lines


def _pages(n: int) -> list[str]:
    return [
        f"Table of Contents\nItem {i}. Results\n\nRevenue rose {i * 3} percent in the quarter.\n\n"
        f"Acme Corp. | 2023 Form 10-K | {i + 40}"
        for i in range(1, n + 1)
    ]


def test_lines_repeated_at_the_pages_edges_are_taken_off() -> None:
    pages = _pages(6)
    shapes = running_shapes([[ln for ln in p.splitlines() if ln.strip()] for p in pages])
    assert shapes == {"Table of Contents", "Acme Corp. | # Form #-K | #", "Item #. Results"}
    cleaned, removed = without_running_lines(pages)
    assert cleaned[0] == pages[0]  # the first page keeps its lines: a cover's title
    assert cleaned[3].strip() == "Revenue rose 12 percent in the quarter."
    assert removed == 15


def test_the_same_words_inside_a_page_stay() -> None:
    body = "Table of Contents\n\nSee the Table of Contents above.\nTable of Contents\n\nEnd."
    pages = ["Cover", *[f"Table of Contents\n\npage {i} text\n\n{i}" for i in range(5)], body]
    cleaned, _ = without_running_lines(pages)
    assert cleaned[-1].split("\n") == [
        "",
        "See the Table of Contents above.",
        "Table of Contents",
        "",
        "End.",
    ]
    # too few pages, or a line on too few of them: nothing is running
    assert without_running_lines(pages[:3]) == (pages[:3], 0)
    assert running_shapes([["a", "x"], ["b", "x"], ["c", "y"], ["d", "y"], ["e", "z"]]) == set()


def test_a_manuals_running_title_and_page_numbers_are_not_in_its_chunks() -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(False)
    pdf.set_font("Helvetica", size=11)
    for number in range(1, 7):
        pdf.add_page()
        pdf.cell(0, 8, "Acme Handbook", new_x="LMARGIN", new_y="NEXT")
        pdf.multi_cell(0, 8, f"Rule {number}: employees file expenses within {number * 7} days.")
        pdf.set_y(-20)
        pdf.cell(0, 8, f"{number}/6")
    blocks = parse.parse_document(bytes(pdf.output()), "pdf").blocks
    text = [b.text for b in blocks]
    assert text[0] == "Acme Handbook"  # the cover's title stays: the document is titled by it
    assert text.count("Acme Handbook") == 1
    assert [b.page for b in blocks if "/6" in b.text] == [1]
    assert [b.page for b in blocks if b.text.startswith("Rule 3:")] == [3]
