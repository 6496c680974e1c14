"""Chunks that know where they come from (issue 18): title, period, section path and page are
found in real-shaped documents, indexed with each chunk, and carried by search hits and
citations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aigc.knowledge import context, parse
from aigc.knowledge.grounding import citations, relevant_hits
from aigc.knowledge.index import KbIndex, tokenize
from aigc.knowledge.retrieve import CONTEXT_WEIGHT, Filters, search, term_weights
from tests.knowledge.conftest import Sandbox

BODY = (
    "Net sales increased 4% compared with the prior year period, driven by demand for "
    "industrial widgets in North America. Gross margin was 31.2% of net sales."
)


def filing_pdf(company: str, period: str, body: str = BODY) -> bytes:
    """A three-page quarterly report shaped like an SEC 10-Q: cover page, then sections."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)

    def para(text: str) -> None:
        pdf.multi_cell(0, 6, text)
        pdf.ln(6)

    pdf.add_page()
    for text in (
        "UNITED STATES\nSECURITIES AND EXCHANGE COMMISSION\nWashington, D.C. 20549",
        "FORM 10-Q",
        f"QUARTERLY REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES EXCHANGE ACT OF "
        f"1934\nFor the quarterly period ended {period}",
        f"{company}\n(Exact name of registrant as specified in its charter)",
    ):
        para(text)
    pdf.add_page()
    para("PART I. FINANCIAL INFORMATION")
    para("Item 2. Management's Discussion and Analysis of Financial Condition")
    para(body)
    pdf.add_page()
    para("Item 4. Controls and Procedures")
    para("The disclosure controls were effective as of the end of the period.")
    return bytes(pdf.output())


ZH_REPORT = """# 华东电气股份有限公司{quarter}报告

截至{date}，本报告期内公司经营情况如下。

## 第三章 经营情况讨论与分析

### 一、主营业务

公司主营业务收入同比增长百分之十二，主要来自储能设备的销售。

### （二）研发投入

研发投入占营业收入的百分之六。
"""

ZH_PLAIN = """华东电气股份有限公司2023年第二季度报告

第一章 公司简介

公司成立于二〇〇八年，总部位于杭州。

第三章 经营情况讨论与分析

一、主营业务

公司主营业务收入同比增长百分之十二。

（二）研发投入

研发投入占营业收入的百分之六。
"""


def test_an_sec_filing_pdf_gives_title_period_sections_and_pages() -> None:
    blocks = parse.parse_document(filing_pdf("ACME WIDGETS, INC.", "June 30, 2023"), "pdf").blocks
    about = context.document_context(blocks, "acme-q2.pdf")
    assert about.title == "ACME WIDGETS, INC. Form 10-Q"
    assert about.period == "For the quarterly period ended June 30, 2023"
    assert about.terms == ["2023q2"]
    sections = context.assign_sections(blocks)
    body = next(b for b in sections if "Net sales increased" in b.text)
    assert body.page == 2
    assert body.headings == [
        "PART I. FINANCIAL INFORMATION",
        "Item 2. Management's Discussion and Analysis of Financial Condition",
    ]
    last = next(b for b in sections if "controls were effective" in b.text)
    assert last.page == 3
    assert last.headings == ["PART I. FINANCIAL INFORMATION", "Item 4. Controls and Procedures"]
    head = context.header(about, last.headings)
    assert "ACME WIDGETS" in head and "acme-q2.pdf" in head and "June 30, 2023" in head
    assert "Item 4. Controls and Procedures" in head


def test_chinese_markdown_and_plain_text_give_title_period_and_sections() -> None:
    md = ZH_REPORT.format(quarter="2023年第二季度", date="2023年6月30日").encode()
    blocks = parse.parse_document(md, "md").blocks
    about = context.document_context(blocks, "report.md")
    assert about.title == "华东电气股份有限公司2023年第二季度报告"
    assert about.period == "2023年第二季度"
    assert about.terms == ["2023q2"]  # from the title's quarter and 截至…6月30日 alike

    plain = context.assign_sections(parse.parse_document(ZH_PLAIN.encode(), "txt").blocks)
    revenue = next(b for b in plain if "主营业务收入" in b.text)
    assert revenue.headings == ["第三章 经营情况讨论与分析", "一、主营业务"]
    research = next(b for b in plain if "研发投入占" in b.text)
    assert research.headings == ["第三章 经营情况讨论与分析", "一、主营业务", "（二）研发投入"]
    intro = next(b for b in plain if "二〇〇八年" in b.text)
    assert intro.headings == ["第一章 公司简介"]


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("What were net sales in Q2 2023?", ["2023q2"]),
        ("second quarter of fiscal 2024 results", ["2024q2", "fy2024"]),
        ("For the three months ended September 30, 2022", ["2022q3"]),
        ("For the fiscal year ended December 31, 2022", ["fy2022"]),
        ("Is 3M capital-intensive based on FY2022 data?", ["fy2022"]),
        ("2023年第二季度营业收入是多少？", ["2023q2"]),
        ("截至2023年9月30日的现金", ["2023q3"]),
        ("公司2022年度报告", ["fy2022"]),
        # how Chinese reports and questions also say it
        ("2023年二季度营收", ["2023q2"]),
        ("2023年Q2营收", ["2023q2"]),
        ("二〇二三年第二季度报告", ["2023q2"]),
        ("2024年三季报", ["2024q3"]),
        ("2023年前三季度累计", ["2023q3"]),
        ("2023年中报", ["2023h1"]),
        ("2023年1-6月", ["2023h1"]),
        ("2022年年报", ["fy2022"]),
        ("2023年12月31日", []),
        ("2022 Fourth-Quarter reported sales", ["2022q4"]),
        ("How many employees are there?", []),
    ],
)
def test_periods_in_any_wording_give_the_same_terms(text: str, terms: list[str]) -> None:
    assert context.period_terms(text) == terms


def test_table_of_contents_lines_and_sentences_are_not_headings() -> None:
    assert context.section_level("Item 7. Management's Discussion and Analysis 25") is None
    assert context.section_level("一、公司应当依法纳税。") is None
    assert context.section_level("Item 7. Management's Discussion and Analysis") == 2
    assert context.section_level("第二节 财务报告") == 3


def _top(sandbox: Sandbox, kb: str, query: str, mode: str, holding: str = "") -> str:
    """The file name of the best hit (among hits whose text holds ``holding``)."""
    with sandbox.db.session() as s:
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], query, top_k=10, mode=mode)
    hits = [h for h in hits if holding in h.text]
    assert hits, query
    return hits[0].filename


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_a_query_naming_period_or_company_finds_the_right_of_two_near_identical_filings(
    sandbox: Sandbox, mode: str
) -> None:
    """The same body text in two filings: only the context tells them apart. The wanted one
    is ingested second, so a tie (no context indexed) would put the other first."""
    kb = sandbox.kb(sandbox.admin_a, "filings", dense=mode == "hybrid")
    sandbox.ingest(
        sandbox.admin_a,
        kb,
        {
            "report-a.pdf": filing_pdf("ACME WIDGETS, INC.", "March 31, 2023"),
            "report-b.pdf": filing_pdf("ACME WIDGETS, INC.", "June 30, 2023"),
        },
    )
    assert _top(sandbox, kb, "What was the gross margin in Q2 2023?", mode) == "report-b.pdf"
    assert _top(sandbox, kb, "gross margin first quarter 2023", mode) == "report-a.pdf"
    other = sandbox.kb(sandbox.admin_a, "companies", dense=mode == "hybrid")
    sandbox.ingest(
        sandbox.admin_a,
        other,
        {
            "x.pdf": filing_pdf("GLOBEX CORPORATION", "June 30, 2023"),
            "y.pdf": filing_pdf("INITECH HOLDINGS", "June 30, 2023"),
        },
    )
    assert _top(sandbox, other, "Initech gross margin", mode) == "y.pdf"


def test_a_dense_only_search_uses_the_context_too(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "dense", dense=True)
    sandbox.ingest(
        sandbox.admin_a,
        kb,
        {
            "x.pdf": filing_pdf("GLOBEX CORPORATION", "June 30, 2023"),
            "y.pdf": filing_pdf("INITECH SOFTWARE HOLDINGS", "June 30, 2023"),
        },
    )
    assert _top(sandbox, kb, "Initech Software net sales growth", "dense") == "y.pdf"


def test_chinese_period_query_finds_the_right_quarter(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "zh", dense=False)
    sandbox.ingest(
        sandbox.admin_a,
        kb,
        {
            "q3.md": ZH_REPORT.format(quarter="2023年第三季度", date="2023年9月30日").encode(),
            "q2.md": ZH_REPORT.format(quarter="2023年第二季度", date="2023年6月30日").encode(),
            "q1.md": ZH_REPORT.format(quarter="2023年第一季度", date="2023年3月31日").encode(),
        },
    )
    # The passage on revenue is the same in all three: only its context names the quarter.
    question = "2023年第二季度主营业务收入增长多少？"
    assert _top(sandbox, kb, question, "keyword", holding="主营业务收入同比") == "q2.md"
    assert (
        _top(sandbox, kb, "Q3 2023 主营业务收入", "keyword", holding="主营业务收入同比") == "q3.md"
    )
    for question, quarter in (
        ("2023年二季度主营业务收入增长多少？", "q2.md"),
        ("2023年Q1主营业务收入", "q1.md"),
        ("公司2023年三季报的主营业务收入", "q3.md"),
    ):
        assert _top(sandbox, kb, question, "keyword", holding="主营业务收入同比") == quarter


def test_hits_and_citations_carry_title_period_section_and_page(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "cite", dense=False)
    sandbox.ingest(
        sandbox.admin_a, kb, {"acme.pdf": filing_pdf("ACME WIDGETS, INC.", "June 30, 2023")}
    )
    with sandbox.db.session() as s:
        hits = search(
            s,
            sandbox.settings,
            sandbox.admin_a,
            [kb],
            "disclosure controls effective",
            top_k=1,
            filters=Filters(filenames=["acme.pdf"]),
        )
    hit = hits[0]
    assert hit.text.startswith("Item 4.")  # the header is indexed, not part of the text
    assert "ACME WIDGETS" not in hit.text
    view = hit.view()
    assert view["title"] == "ACME WIDGETS, INC. Form 10-Q"
    assert view["period"] == "For the quarterly period ended June 30, 2023"
    assert view["page"] == 3 and view["ocr"] is False
    assert view["headings"][-1] == "Item 4. Controls and Procedures"
    cited = citations(hits)[0]
    assert cited["title"] == "ACME WIDGETS, INC. Form 10-Q" and cited["page"] == 3
    assert cited["period"] == "For the quarterly period ended June 30, 2023"
    assert cited["headings"][-1] == "Item 4. Controls and Procedures"


def test_document_contexts_survive_saving_and_favour_the_named_document(tmp_path: Path) -> None:
    """Per-document context BM25: the company every chunk of one filing names is rare among
    documents, so it lifts that document's chunks above a chunk that merely mentions it."""
    texts = ["Globex sells widgets and gadgets.", "Revenue of widgets rose.", "Widgets sold well."]
    index = KbIndex(
        np.arange(3),
        ["d_globex", "d_initech", "d_initech"],
        [tokenize(t) for t in texts],
        None,
        contexts={"d_globex": tokenize("GLOBEX CORP Form 10-K"), "d_initech": tokenize("INITECH")},
    )
    index.save(tmp_path)
    loaded = KbIndex.load(tmp_path)
    assert loaded is not None and loaded.contexts == index.contexts
    assert loaded.context_scores("initech widgets").tolist()[0] == 0.0
    assert loaded.context_scores("initech widgets")[1] > 0
    plain, boosted = (
        loaded.keyword_scores("Initech widgets"),
        loaded.keyword_scores("Initech widgets", context_weight=CONTEXT_WEIGHT),
    )
    assert int(np.argmax(boosted)) in (1, 2) and boosted[1] > plain[1]
    rebuilt = loaded.updated(
        {0, 1, 2}, [], [], None, {0: "d_globex", 1: "d_initech", 2: "d_initech"}
    )
    assert rebuilt.contexts == index.contexts  # kept when the documents' contexts are not given


def test_cli_search_shows_where_each_hit_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from aigc.cli import app

    imports = tmp_path / "imports"
    imports.mkdir()
    report = ZH_REPORT.format(quarter="2023年第二季度", date="2023年6月30日")
    (imports / "report.md").write_text(report, encoding="utf-8")
    monkeypatch.setenv("AIGC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AIGC_IMPORT_ROOTS", str(imports))
    monkeypatch.setenv("COLUMNS", "400")  # one table row per line
    runner = CliRunner()
    created = runner.invoke(app, ["kb", "create", "reports", "--keyword-only"])
    assert created.exit_code == 0, created.output
    kb = created.output.split()[1]
    assert runner.invoke(app, ["kb", "ingest", kb, str(imports)]).exit_code == 0
    found = runner.invoke(app, ["kb", "search", kb, "研发投入占比", "--top-k", "1"])
    assert found.exit_code == 0, found.output
    assert "华东电气股份有限公司2023年第二季度报告" in found.output
    assert "（二）研发投入" in found.output and "report.md" in found.output


def test_grounding_judges_relevance_with_the_chunks_context(sandbox: Sandbox) -> None:
    """A question naming the company and quarter is about the passage of that filing, though
    its text names neither: the context counts as what the chunk is about."""
    kb = sandbox.kb(sandbox.admin_a, "ground", dense=False)
    sandbox.ingest(
        sandbox.admin_a,
        kb,
        {
            "x.pdf": filing_pdf("GLOBEX CORPORATION", "March 31, 2023"),
            "y.pdf": filing_pdf("INITECH HOLDINGS", "June 30, 2023"),
        },
    )
    question = "Initech Holdings Q2 2023 gross margin"
    with sandbox.db.session() as s:
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], question, top_k=3)
    weights = term_weights(sandbox.settings, "t_a", [kb])
    kept = relevant_hits(hits, question, weights)
    assert kept and kept[0].filename == "y.pdf" and "Gross margin" in kept[0].text
    # Only the document and its quarter named: what the passages are about is their context.
    question = "What does Initech Holdings report for Q2 2023?"
    with sandbox.db.session() as s:
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], question, top_k=3)
    kept = relevant_hits(hits, question, weights)
    assert kept and {h.filename for h in kept} == {"y.pdf"}
    assert any("INITECH" not in h.text.upper() for h in kept)  # not only the cover page


def test_a_first_line_that_is_a_sentence_or_a_data_row_is_no_title() -> None:
    """A plain-text file that opens with running text, and a CSV, are called by their file
    name: the first sentence (or row) as the title was indexed with every chunk."""

    def title(text: str, fmt: str, name: str) -> str:
        return context.document_title(parse.parse(text.encode(), fmt), name)

    leave = "員工到職滿一年後，每年享有十五天帶薪年假。\n\n年假須提前兩週在人事系統中申請。"
    assert title(leave, "txt", "員工手冊.txt") == "員工手冊"
    english = "Employees receive fifteen days of paid leave every year.\n\nAsk HR."
    assert title(english, "txt", "leave.txt") == "leave"
    assert title("部门,假别,天数\n人事部,带薪年假,十天\n", "csv", "假期表.csv") == "假期表"
    assert (
        title("员工手册\n\n员工到职满一年后，每年享有十五天带薪年假。", "txt", "a.txt")
        == "员工手册"
    )
    report = "Quarterly Report Q2 2023\n\nSales rose."
    assert title(report, "txt", "r.txt") == "Quarterly Report Q2 2023"


NOTICE = """北京市人民政府文件

京政发〔2023〕12号

北京市人民政府关于印发《北京市差旅费
管理办法》的通知

各区人民政府，市政府各委、办、局：
现将《北京市差旅费管理办法》印发给你们，请认真贯彻执行。

北京市人民政府
2023年5月12日
"""


def test_an_official_documents_title_is_its_title_with_its_number() -> None:
    """A 公文 was titled by its issuer's mark, "北京市人民政府文件", on every chunk and
    citation; its number, how people name it, was in no header."""
    title = "北京市人民政府关于印发《北京市差旅费管理办法》的通知（京政发〔2023〕12号）"
    blocks = parse.parse_document(NOTICE.encode(), "txt").blocks
    found = context.document_context(blocks, "通知.txt")
    assert (found.title, found.period) == (title, "2023年5月12日")  # dated when written
    import io

    import docx

    word = docx.Document()
    word.add_paragraph("XX科技有限公司文件")
    word.add_paragraph("XX科〔2024〕3号      签发人：张三")
    word.add_paragraph("关于调整2024年度年假安排的通知", style="Title")
    word.add_paragraph("各部门：年假安排调整如下。")
    out = io.BytesIO()
    word.save(out)
    blocks = parse.parse_document(out.getvalue(), "docx").blocks
    assert context.document_context(blocks, "年假.docx").title == (
        "关于调整2024年度年假安排的通知（XX科〔2024〕3号）"
    )
    # a first line ending in 文件 that names no issuer is no official document's mark
    blocks = parse.parse_document("Nginx配置文件\n\n字段说明如下：".encode(), "txt").blocks
    assert context.document_context(blocks, "nginx.txt").title == "Nginx配置文件"


def test_an_official_document_is_found_and_cited_by_its_number(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "notices", dense=False)
    files = {"通知.txt": NOTICE.encode(), "其他.txt": "会议纪要\n\n讨论了年度预算。".encode()}
    assert sandbox.ingest(sandbox.admin_a, kb, files)["indexed"] == 2
    with sandbox.db.session() as s:
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], "京政发〔2023〕12号")
    assert hits[0].filename == "通知.txt" and "京政发〔2023〕12号" in (hits[0].title or "")
