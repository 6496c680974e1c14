"""Over HTTP: the KB search endpoint and the document and chunk listings say which document,
period, section and page a passage comes from (issue 18). Driven against a live server."""

from __future__ import annotations

from tests.e2e.server import Org, Server
from tests.knowledge.test_api import wait_job
from tests.knowledge.test_context import ZH_REPORT, filing_pdf


def test_search_and_listings_carry_title_period_section_and_page(
    server: Server, org_a: Org
) -> None:
    key = org_a.admin_key
    kb = server.api("POST", "/api/kb", key=key, json={"name": "ctx", "dense": False}).json()["id"]
    files = [
        (
            "files",
            ("acme-a.pdf", filing_pdf("ACME WIDGETS, INC.", "March 31, 2023"), "application/pdf"),
        ),
        (
            "files",
            ("acme-b.pdf", filing_pdf("ACME WIDGETS, INC.", "June 30, 2023"), "application/pdf"),
        ),
        (
            "files",
            (
                "华东电气.md",
                ZH_REPORT.format(quarter="2023年第二季度", date="2023年6月30日").encode(),
                "text/markdown",
            ),
        ),
    ]
    body = server.api("POST", f"/api/kb/{kb}/documents", key=key, files=files).json()
    wait_job(server, key, body["job"])

    res = server.api(
        "POST",
        f"/api/kb/{kb}/search",
        key=key,
        json={"query": "Were disclosure controls effective in Q2 2023?", "top_k": 3},
    )
    assert res.status_code == 200, res.text
    top = res.json()["data"][0]
    assert top["filename"] == "acme-b.pdf"
    assert top["title"] == "ACME WIDGETS, INC. Form 10-Q"
    assert top["period"] == "For the quarterly period ended June 30, 2023"
    assert top["page"] == 3 and top["headings"][-1] == "Item 4. Controls and Procedures"
    assert "ACME" not in top["text"]  # the context is beside the text, not in it

    zh = server.api(
        "POST", f"/api/kb/{kb}/search", key=key, json={"query": "第二季度研发投入占比", "top_k": 1}
    ).json()["data"][0]
    assert zh["title"] == "华东电气股份有限公司2023年第二季度报告"
    assert zh["period"] == "2023年第二季度"
    assert zh["headings"][-1] == "（二）研发投入"

    docs = server.api("GET", f"/api/kb/{kb}/documents", key=key).json()["data"]
    by_name = {d["filename"]: d for d in docs}
    assert by_name["acme-a.pdf"]["period"] == "For the quarterly period ended March 31, 2023"
    chunks = server.api(
        "GET", f"/api/kb/{kb}/documents/{by_name['acme-b.pdf']['id']}/chunks", key=key
    ).json()["data"]
    assert any("Item 2." in (c["context"] or "") for c in chunks)
