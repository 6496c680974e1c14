"""Knowledge pages: create a KB, upload (two good files, two bad ones), watch the statuses,
search, open the cited chunk, check that a member without a grant sees nothing, then grant
them read access and get a cited answer in chat from the uploaded document."""

from __future__ import annotations

import io
import re
import secrets
import zipfile
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.console.conftest import add_user, shot
from tests.e2e.server import Org, Server
from tests.engine.stub_openai import StubServer

GUIDE = b"""# Returns policy

Customers may return a zebra-striped umbrella within 30 days of purchase.
Bring the receipt to any shop; the refund goes to the original card.

# Shipping

Parcels leave the warehouse every weekday at noon.
"""


LEAVE_BIG5 = (
    "員工到職滿一年後，每年享有十五天帶薪年假。年假須提前兩週在人事系統中申請；"
    "未休完的年假可以順延至次年三月底。"
).encode("big5")


def _row(page, filename: str):
    return page.get_by_test_id("doc-row").filter(has_text=filename)


@pytest.fixture(scope="module")
def citing(server: Server) -> Iterator[str]:
    """An upstream chat model (the stub, on loopback) whose answer cites source [1]."""
    with StubServer() as stub:
        yield stub.register(server, model="cite-1")


def test_admin_builds_a_knowledge_base_and_a_member_cannot_see_it(
    new_page, server: Server, console_org: Org, citing: str
) -> None:
    admin = add_user(server, console_org, "admin")
    member = add_user(server, console_org, "member")
    name = f"Handbook {secrets.token_hex(3)}"

    page = new_page(admin, path="/knowledge")
    page.get_by_text("New knowledge base").click()
    page.get_by_test_id("kb-name").fill(name)
    page.get_by_test_id("kb-visibility").click()
    page.get_by_role("option", name="Only administrators and me").click()
    page.get_by_test_id("kb-create").click()
    page.wait_for_url(re.compile(r"/knowledge/kb_[0-9a-z]+$"))
    kb_id = page.url.rsplit("/", 1)[-1]
    expect(page.get_by_test_id("kb-title")).to_have_text(name)

    page.get_by_test_id("kb-upload").locator("input[type=file]").set_input_files(
        [
            {"name": "guide.md", "mimeType": "text/markdown", "buffer": GUIDE},
            {"name": "scan.pdf", "mimeType": "application/pdf", "buffer": b"not really a pdf"},
            {"name": "tool.exe", "mimeType": "application/octet-stream", "buffer": b"MZ\x90"},
            {"name": "leave-tw.txt", "mimeType": "text/plain", "buffer": LEAVE_BIG5},
        ]
    )
    uploads = page.get_by_test_id("upload-row")
    # Refused at upload: the reason comes from the API's answer for that file alone.
    expect(uploads.filter(has_text="tool.exe").get_by_test_id("upload-error")).to_contain_text(
        "Unsupported file type"
    )
    # Accepted, then processed by the ingestion job: ready, or failed with the parser's reason.
    expect(_row(page, "guide.md").get_by_test_id("status")).to_have_attribute(
        "data-status", "ready", timeout=60_000
    )
    expect(_row(page, "scan.pdf").get_by_test_id("status")).to_have_attribute(
        "data-status", "failed", timeout=60_000
    )
    expect(_row(page, "scan.pdf").get_by_test_id("doc-error")).to_contain_text("PDF")
    # A Taiwan office's Big5 text: read, and the document says how.
    expect(_row(page, "leave-tw.txt").get_by_test_id("status")).to_have_attribute(
        "data-status", "ready", timeout=60_000
    )
    expect(_row(page, "leave-tw.txt").get_by_test_id("doc-notes")).to_contain_text("read as big5")
    expect(uploads.filter(has_text="guide.md").get_by_test_id("status")).to_have_attribute(
        "data-status", "ready"
    )
    shot(page, "knowledge")

    # Delete the failed document (asked first).
    _row(page, "scan.pdf").get_by_test_id("doc-delete").click()
    page.get_by_test_id("confirm-yes").click()
    expect(_row(page, "scan.pdf")).to_have_count(0)

    # Retrieval test: the returns chunk ranks first, with its score, linked to the viewer.
    page.get_by_test_id("tab-search").click()
    page.get_by_test_id("search-query").fill("zebra umbrella refund")
    page.get_by_test_id("search-run").click()
    first = page.get_by_test_id("search-hit").first
    expect(first).to_contain_text("zebra-striped umbrella")
    expect(first.get_by_test_id("hit-score")).to_contain_text(re.compile(r"\d\.\d{4}"))
    first.get_by_test_id("hit-open").click()
    page.wait_for_url(re.compile(rf"/knowledge/{kb_id}/documents/doc_\w+\?chunk=\d+"))
    chosen = page.locator('[data-testid="chunk"][data-highlighted="true"]')
    expect(chosen).to_have_count(1)
    expect(chosen).to_contain_text("zebra-striped umbrella")
    expect(page.get_by_test_id("chunk")).to_have_count(2)
    shot(page, "knowledge-chunks")

    # A member without a grant: not listed, and the page answers "not found" politely.
    other = new_page(member, path="/knowledge")
    expect(other.get_by_test_id("kb-item").filter(has_text=name)).to_have_count(0)
    other.goto(f"/knowledge/{kb_id}")
    expect(other.get_by_test_id("kb-missing")).to_be_visible()
    other.goto(page.url)  # the chunk viewer too
    expect(other.get_by_test_id("kb-missing")).to_be_visible()

    # Grant the member read access in the access editor: now the KB is listed for them.
    page.goto(f"/knowledge/{kb_id}")
    page.get_by_test_id("tab-access").click()
    page.get_by_test_id("grant-kind").click()
    page.get_by_role("option", name="User").click()
    page.get_by_test_id("grant-subject").click()
    page.get_by_role("option", name=member.username).click()
    page.get_by_test_id("grant-add").click()
    page.get_by_test_id("access-save").click()
    expect(page.get_by_text("Access saved.")).to_be_visible()
    other.goto("/knowledge")
    expect(other.get_by_test_id("kb-item").filter(has_text=name)).to_have_count(1)
    other.goto(f"/knowledge/{kb_id}")
    expect(other.get_by_test_id("kb-delete")).to_have_count(0)  # read only: no write controls

    # The member asks in chat with this knowledge base on: the answer cites the uploaded file,
    # and the citation opens the chunk it came from.
    other.goto("/chat")
    other.get_by_test_id("chat-model").click()
    # (an upstream chat model that cites [1]: a template model cannot read sources)
    other.get_by_role("option", name=citing, exact=True).click()
    other.get_by_test_id("chat-kb-toggle").click()
    other.get_by_test_id("chat-kb-select").get_by_role("combobox").wait_for()  # now enabled
    other.get_by_test_id("chat-kb-select").click()
    other.get_by_role("option", name=name, exact=True).click()
    other.keyboard.press("Escape")
    other.get_by_test_id("chat-input").fill("How long can I return a zebra-striped umbrella?")
    other.get_by_test_id("chat-send").click()
    citation = other.get_by_test_id("chat-citation").first
    expect(citation).to_contain_text("guide.md", timeout=30_000)
    shot(other, "chat-cited")
    citation.click()
    expect(other.get_by_test_id("chat-chunk-text")).to_contain_text("zebra-striped umbrella")

    # Delete the whole knowledge base.
    page.get_by_test_id("tab-documents").click()
    page.get_by_test_id("kb-delete").click()
    page.get_by_test_id("confirm-yes").click()
    page.wait_for_url(re.compile(r"/knowledge$"))
    expect(page.get_by_test_id("kb-item").filter(has_text=name)).to_have_count(0)


def test_a_new_version_that_could_not_be_read_is_shown_beside_the_kept_one(
    new_page, server: Server, console_org: Org
) -> None:
    """A re-upload that cannot be indexed keeps the previous version (searched and served);
    the document's row says so, in the page's language."""
    admin = add_user(server, console_org, "admin")
    key = console_org.admin_key
    kb = server.api("POST", "/api/kb", key=key, json={"name": "版本", "dense": False}).json()
    for content in (GUIDE, bytes(range(256)) * 4):  # a good version, then an unreadable one
        sent = server.api(
            "POST",
            f"/api/kb/{kb['id']}/documents",
            key=key,
            files=[("files", ("guide.txt", content, "text/plain"))],
        )
        assert sent.status_code == 200, sent.text
        server.wait_job(key, sent.json()["job"]["id"])
    for lang, lead in (("en", "The last upload was not used"), ("zh", "最近上传的新版本未被采用")):
        page = new_page(admin, lang=lang, path=f"/knowledge/{kb['id']}")
        row = _row(page, "guide.txt")
        expect(row.get_by_test_id("status")).to_have_attribute("data-status", "ready")
        expect(row.get_by_test_id("doc-update-error")).to_contain_text(lead)


def test_the_upload_button_is_named_and_refusals_are_chinese(
    new_page, server: Server, console_org: Org
) -> None:
    """QUploader's "+" was an unnamed icon (a screen reader said "add box"); the page's own
    header names it, and it still opens the file chooser. A refused file is told in Chinese."""
    admin = add_user(server, console_org, "admin")
    kb = server.api(
        "POST", "/api/kb", key=console_org.admin_key, json={"name": "入职资料", "dense": False}
    ).json()
    page = new_page(admin, lang="zh-CN", path=f"/knowledge/{kb['id']}")
    pick = page.get_by_role("button", name="选择要上传的文件")
    expect(pick).to_be_visible()
    with page.expect_file_chooser() as chosen:
        pick.click()
    chosen.value.set_files(
        [
            {
                "name": "入职须知.txt",
                "mimeType": "text/plain",
                "buffer": "第一天请到前台领取工牌。".encode(),
            },
            {"name": "安装程序.exe", "mimeType": "application/octet-stream", "buffer": b"MZ\x90"},
            {"name": "报告.pages", "mimeType": "application/octet-stream", "buffer": b"PK\x03"},
            {"name": "空白.txt", "mimeType": "text/plain", "buffer": " \n\u3000\n".encode()},
        ]
    )
    # Each refusal names the rule that refused the file (all were "不支持此文件类型。" or the
    # API's English before).
    rows = page.get_by_test_id("upload-row")
    expect(rows.filter(has_text="安装程序.exe").get_by_test_id("upload-error")).to_have_text(
        "不支持「.exe」类型的文件。"
    )
    expect(rows.filter(has_text="报告.pages").get_by_test_id("upload-error")).to_have_text(
        "无法读取「.pages」格式：请用原软件“另存为”或“导出”为 .docx 格式后再上传。"
    )
    expect(rows.filter(has_text="空白.txt").get_by_test_id("upload-error")).to_have_text(
        "文件中只有空白，没有可索引的文字。"
    )
    expect(_row(page, "入职须知.txt")).to_have_count(1)
    # The ingestion job's own line, in Chinese from its code ("done" in English before, and
    # not shown at all).
    expect(page.get_by_test_id("ingest-line")).to_have_text("完成", timeout=60_000)
    expect(page.get_by_role("button", name="清除已上传文件列表")).to_be_visible()

    # Searching with an empty box did nothing at all: now it says what is missing.
    page.get_by_test_id("tab-search").click()
    page.get_by_test_id("search-run").click()
    expect(page.locator(".q-notification", has_text="请先输入问题或关键词。")).to_be_visible()
    expect(page.get_by_test_id("search-query")).to_be_focused()


def test_why_a_document_failed_is_told_in_chinese_and_the_api_keeps_its_words(
    new_page, server: Server, console_org: Org
) -> None:
    """The API's reason is English for API clients; it now carries a code, and the Chinese
    page says the reason in Chinese ("无法使用：The PDF is corrupt …" before)."""
    admin = add_user(server, console_org, "admin")
    kb = server.api(
        "POST", "/api/kb", key=console_org.admin_key, json={"name": "扫描件", "dense": False}
    ).json()
    uploaded = server.api(
        "POST",
        f"/api/kb/{kb['id']}/documents",
        key=console_org.admin_key,
        files=[("files", ("合同.pdf", b"not really a pdf", "application/pdf"))],
    )
    assert uploaded.status_code in (200, 201, 202), uploaded.text
    server.wait_job(console_org.admin_key, uploaded.json()["job"]["id"], timeout=120)
    docs = server.api("GET", f"/api/kb/{kb['id']}/documents", key=console_org.admin_key)
    (doc,) = docs.json()["data"]
    assert doc["status"] == "failed"
    assert doc["error"].startswith("The PDF is corrupt or not a PDF")  # unchanged for clients
    assert doc["error_code"] == "pdf_corrupt"

    page = new_page(admin, lang="zh-CN", path=f"/knowledge/{kb['id']}")
    expect(_row(page, "合同.pdf").get_by_test_id("doc-error")).to_have_text(
        "无法使用：PDF 文件已损坏，或不是 PDF 文件。"
    )
    page = new_page(admin, lang="en", path=f"/knowledge/{kb['id']}")
    expect(_row(page, "合同.pdf").get_by_test_id("doc-error")).to_have_text(
        "Could not be used: " + doc["error"]
    )


def test_a_bad_word_file_and_a_bad_new_version_are_told_in_chinese(
    new_page, server: Server, console_org: Org
) -> None:
    """Found in review: a .docx whose bytes were b"garbage" showed "无法使用：The DOCX file is
    corrupt (not a valid zip container)", and a new version that could not be indexed showed
    the API's English after "最近上传的新版本未被采用：" (neither reason had a code)."""
    admin = add_user(server, console_org, "admin")
    kb = server.api(
        "POST", "/api/kb", key=console_org.admin_key, json={"name": "合同库", "dense": False}
    ).json()

    def upload(name: str, data: bytes) -> None:
        uploaded = server.api(
            "POST",
            f"/api/kb/{kb['id']}/documents",
            key=console_org.admin_key,
            files=[("files", (name, data, "application/octet-stream"))],
        )
        assert uploaded.status_code in (200, 201, 202), uploaded.text
        server.wait_job(console_org.admin_key, uploaded.json()["job"]["id"], timeout=120)

    upload("采购合同.docx", b"garbage")
    upload("考勤.txt", "员工每天九点前打卡。".encode())
    upload("考勤.txt", bytes(range(256)) * 4)  # a new version that cannot be read
    docs = server.api("GET", f"/api/kb/{kb['id']}/documents", key=console_org.admin_key)
    by_name = {d["filename"]: d for d in docs.json()["data"]}
    assert by_name["采购合同.docx"]["error_code"] == "zip_corrupt"
    assert by_name["考勤.txt"]["update_error_code"] == "text_undecodable"

    page = new_page(admin, lang="zh-CN", path=f"/knowledge/{kb['id']}")
    expect(_row(page, "采购合同.docx").get_by_test_id("doc-error")).to_have_text(
        "无法使用：文件已损坏（不是有效的 zip 容器）。"
    )
    expect(_row(page, "考勤.txt").get_by_test_id("doc-update-error")).to_have_text(
        "最近上传的新版本未被采用：无法识别该文本的编码，请另存为 UTF-8 后重新上传。"
    )
    page = new_page(admin, lang="en", path=f"/knowledge/{kb['id']}")
    expect(_row(page, "考勤.txt").get_by_test_id("doc-update-error")).to_have_text(
        "The last upload was not used: " + by_name["考勤.txt"]["update_error"]
    )


def test_how_a_document_was_read_is_told_in_chinese(
    new_page, server: Server, console_org: Org
) -> None:
    """Found in review: the notes under a document ("年假.txt: read as big5 text …; files not
    read: tool.exe") were the API's English after "读取说明：" on a Chinese page."""
    admin = add_user(server, console_org, "admin")
    kb = server.api(
        "POST", "/api/kb", key=console_org.admin_key, json={"name": "人事制度", "dense": False}
    ).json()
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("年假.txt", LEAVE_BIG5)
        archive.writestr("tool.exe", b"MZ\x90")
    uploaded = server.api(
        "POST",
        f"/api/kb/{kb['id']}/documents",
        key=console_org.admin_key,
        files=[("files", ("制度.zip", packed.getvalue(), "application/zip"))],
    )
    assert uploaded.status_code in (200, 201, 202), uploaded.text
    server.wait_job(console_org.admin_key, uploaded.json()["job"]["id"], timeout=120)
    (doc,) = server.api("GET", f"/api/kb/{kb['id']}/documents", key=console_org.admin_key).json()[
        "data"
    ]
    assert doc["notes"] == [  # unchanged for API clients
        "年假.txt: read as big5 text (the file is not UTF-8)",
        "files not read: tool.exe",
    ]
    assert [n["code"] for n in doc["note_codes"]] == ["in_file", "files_not_read"]

    page = new_page(admin, lang="zh-CN", path=f"/knowledge/{kb['id']}")
    expect(_row(page, "制度.zip").get_by_test_id("doc-notes")).to_have_text(
        "读取说明：年假.txt：按 big5 编码读取（该文件不是 UTF-8）；未读取的文件：tool.exe"
    )
    page = new_page(admin, lang="en", path=f"/knowledge/{kb['id']}")
    expect(_row(page, "制度.zip").get_by_test_id("doc-notes")).to_have_text(
        "How it was read: " + "; ".join(doc["notes"])
    )


def test_a_failure_reason_keeps_its_numbers_in_chinese(
    new_page, server: Server, console_org: Org
) -> None:
    """Found in review: a JSONL file with a bad line showed "该 JSONL 文件中有一行不是有效的
    JSON。" while the English named the line; the line's number is now kept with the code."""
    admin = add_user(server, console_org, "admin")
    kb = server.api(
        "POST", "/api/kb", key=console_org.admin_key, json={"name": "问答集", "dense": False}
    ).json()
    uploaded = server.api(
        "POST",
        f"/api/kb/{kb['id']}/documents",
        key=console_org.admin_key,
        files=[("files", ("问答.jsonl", b'{"q": 1}\n{"q": 2}\n{oops\n', "application/x-ndjson"))],
    )
    assert uploaded.status_code in (200, 201, 202), uploaded.text
    server.wait_job(console_org.admin_key, uploaded.json()["job"]["id"], timeout=120)
    (doc,) = server.api("GET", f"/api/kb/{kb['id']}/documents", key=console_org.admin_key).json()[
        "data"
    ]
    assert doc["error"].startswith("Line 3 is not valid JSON")  # the API's words, unchanged
    assert (doc["error_code"], doc["error_values"]) == ("jsonl_invalid_line", {"line": 3})

    page = new_page(admin, lang="zh-CN", path=f"/knowledge/{kb['id']}")
    expect(_row(page, "问答.jsonl").get_by_test_id("doc-error")).to_have_text(
        "无法使用：该 JSONL 文件的第 3 行不是有效的 JSON。"
    )


def test_a_viewer_sees_who_has_access_without_ids_or_other_peoples_names(
    new_page, server: Server, console_org: Org
) -> None:
    """Found in review: a viewer's access tab listed grants as ``user_…`` ids (user names
    are for administrators only, so the page could not name them). A member's own grant now
    reads "you", anyone else's "a member"; group grants keep the group's name (every member
    may list groups); an administrator still sees the usernames."""
    admin = add_user(server, console_org, "admin")
    viewer = add_user(server, console_org, "viewer")
    colleague = add_user(server, console_org, "member")
    group = server.api("POST", "/api/groups", key=console_org.admin_key, json={"name": "财务部"})
    assert group.status_code in (200, 201), group.text
    kb = server.api(
        "POST", "/api/kb", key=console_org.admin_key, json={"name": "报销", "dense": False}
    ).json()
    grants = [
        {"user": viewer.id, "access": "read"},
        {"user": colleague.id, "access": "write"},
        {"group": group.json()["id"], "access": "read"},
    ]
    changed = server.api(
        "PATCH", f"/api/kb/{kb['id']}", key=console_org.admin_key, json={"access": grants}
    )
    assert changed.status_code == 200, changed.text

    page = new_page(viewer, lang="zh-CN", path=f"/knowledge/{kb['id']}")
    page.get_by_test_id("tab-access").click()
    rows = page.get_by_test_id("grant-row")
    expect(rows).to_have_count(3)
    texts = rows.all_inner_texts()
    assert any("您本人" in t for t in texts), texts
    assert any("组织中的一位成员" in t for t in texts), texts
    assert any("财务部" in t for t in texts), texts
    assert not any("user_" in t or colleague.username in t for t in texts), texts

    page = new_page(admin, lang="zh-CN", path=f"/knowledge/{kb['id']}")
    page.get_by_test_id("tab-access").click()
    expect(page.get_by_test_id("grant-row").filter(has_text=colleague.username)).to_have_count(1)


def test_a_manager_who_is_not_an_admin_grants_access_by_username(
    new_page, server: Server, console_org: Org
) -> None:
    """A member who manages a KB could only type a ``user_…`` id to grant a colleague access,
    and may not list the organization's people to find it. They type the colleague's exact
    username now; the page and the API show them that person only."""
    manager = add_user(server, console_org, "member")
    colleague = add_user(server, console_org, "member")
    bystander = add_user(server, console_org, "member")
    kb = server.api(
        "POST", "/api/kb", key=console_org.admin_key, json={"name": "差旅手册", "dense": False}
    ).json()
    changed = server.api(
        "PATCH",
        f"/api/kb/{kb['id']}",
        key=console_org.admin_key,
        json={"access": [{"user": manager.id, "access": "manage"}]},
    )
    assert changed.status_code == 200, changed.text

    page = new_page(manager, lang="zh-CN", path=f"/knowledge/{kb['id']}")
    page.get_by_test_id("tab-access").click()
    page.get_by_test_id("grant-kind").click()
    page.get_by_role("option", name="用户", exact=True).click()
    field = page.get_by_test_id("grant-username")
    field.fill(colleague.username[:-1])  # not a prefix search: only the exact name is found
    page.get_by_test_id("grant-add").click()
    expect(
        page.get_by_text(f"您的组织中没有用户名为 {colleague.username[:-1]} 的人")
    ).to_be_visible()
    field.fill(colleague.username)
    page.get_by_test_id("grant-add").click()
    expect(page.get_by_test_id("grant-row").filter(has_text=colleague.username)).to_have_count(1)
    page.get_by_test_id("access-save").click()
    expect(page.get_by_text("访问权限已保存。")).to_be_visible()
    html = page.content()
    assert bystander.username not in html and bystander.id not in html

    # The grant holds: the colleague now sees the KB.
    access = server.api("GET", f"/api/kb/{kb['id']}", key=console_org.admin_key).json()["access"]
    assert {"user": colleague.id, "access": "read"} in access
    other = new_page(colleague, path="/knowledge")
    expect(other.get_by_test_id("kb-item").filter(has_text="差旅手册")).to_have_count(1)

    # The API the page asks: a person named exactly, with their id and username and no more;
    # for a manager only (the colleague reads the KB but may not change who else does).
    people = f"/api/kb/{kb['id']}/people"
    as_manager, as_colleague = (_session(p) for p in (page, other))
    found = server.api("GET", f"{people}?username={bystander.username}", key=as_manager)
    assert found.json() == {
        "object": "knowledge_base.person",
        "id": bystander.id,
        "username": bystander.username,
    }
    prefix = server.api("GET", f"{people}?username={bystander.username[:-1]}", key=as_manager)
    assert prefix.status_code == 404 and prefix.json()["error"]["param"] == "username"
    refused = server.api("GET", f"{people}?username={manager.username}", key=as_colleague)
    assert refused.status_code == 403, refused.text


def _session(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "aigc_session")
