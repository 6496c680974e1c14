"""Uploading PDFs to a live server: an owner-password PDF (empty user password, as most
protected filings are) is indexed; one that needs a password to open fails with that reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import Server, make_org, new_admin_key
from tests.knowledge.pdfs import locked_pdf


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("pdfs") / "data", new_admin_key()).start()
    yield server
    server.stop()


def test_owner_password_pdf_ingests_and_user_password_pdf_is_refused_with_the_reason(
    srv: Server, tmp_path: Path
) -> None:
    org = make_org(srv, "Filings")
    key = org.admin_key
    kb = srv.api("POST", "/api/kb", key=key, json={"name": "filings", "dense": False}).json()["id"]
    files = [
        (
            "files",
            ("annual.pdf", locked_pdf("Revenue grew 12 percent in 2022.", ""), "application/pdf"),
        ),
        ("files", ("secret.pdf", locked_pdf("Board minutes.", "open-sesame"), "application/pdf")),
    ]
    uploaded = srv.api("POST", f"/api/kb/{kb}/documents", key=key, files=files)
    assert uploaded.status_code == 200, uploaded.text
    job = srv.wait_job(key, uploaded.json()["job"]["id"], timeout=180)
    assert job["status"] == "succeeded", job
    docs = {
        d["filename"]: d for d in srv.api("GET", f"/api/kb/{kb}/documents", key=key).json()["data"]
    }
    assert docs["annual.pdf"]["status"] == "ready" and docs["annual.pdf"]["chunks"] == 1
    assert docs["secret.pdf"]["status"] == "failed"
    assert "needs a password to open" in docs["secret.pdf"]["error"]
    hits = srv.api(
        "POST", f"/api/kb/{kb}/search", key=key, json={"query": "revenue growth 2022"}
    ).json()["data"]
    assert hits and hits[0]["filename"] == "annual.pdf" and hits[0]["page"] == 1
