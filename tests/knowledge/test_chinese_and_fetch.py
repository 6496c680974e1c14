"""Chinese chunking and keyword retrieval; URL ingestion refusing internal addresses."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from aigc.knowledge import index
from aigc.knowledge.chunk import chunk_blocks, split_sentences, token_counter
from aigc.knowledge.fetch import FetchRefused, fetch
from aigc.knowledge.grounding import relevant_hits
from aigc.knowledge.index import TOKENS
from aigc.knowledge.ingest import index_dir
from aigc.knowledge.parse import Block, detect_format, parse_document
from aigc.knowledge.retrieve import search, term_weights

from .conftest import Sandbox

HANDBOOK_ZH = """# 员工手册

## 休假制度

员工入职满一年后，每年享有十五天带薪年假。年假须提前两周在人事系统中申请；未休完的年假可以顺延至次年三月底。病假须提供二级以上医院出具的诊断证明！

## 报销制度

差旅期间的餐费每天最多报销一百五十元。出租车费用须附上发票；超过五百元的支出需要部门经理审批。报销单应在费用发生后三十天内提交？

## 信息安全

所有笔记本电脑必须开启全盘加密。离开座位时请锁定屏幕；公司禁止使用个人网盘存储客户资料。
"""


def test_chinese_is_chunked_at_sentence_ends() -> None:
    sentences = split_sentences("年假须提前申请。病假须提供证明！可以顺延吗？可以；但须审批。")
    assert sentences == [
        "年假须提前申请。",
        "病假须提供证明！",
        "可以顺延吗？",
        "可以；",
        "但须审批。",
    ]
    text = HANDBOOK_ZH.split("## 报销制度")[0].split("## 休假制度")[1].strip()
    chunks = chunk_blocks([Block(text, headings=["员工手册", "休假制度"])], token_counter(), 40, 10)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.text[-1] in "。！？；", chunk.text  # never cut inside a sentence
        assert " " not in chunk.text  # no spaces inserted between Chinese sentences
        assert chunk.headings == ["员工手册", "休假制度"] and chunk.tokens <= 40


def test_a_chinese_question_finds_the_right_chunk_by_keywords(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "手册", dense=False)
    sandbox.ingest(sandbox.admin_a, kb, {"员工手册.md": HANDBOOK_ZH.encode()})
    expectations = {
        "出差的餐费每天能报销多少钱？": ("报销制度", "一百五十元"),
        "没休完的年假可以顺延吗": ("休假制度", "顺延"),
        "笔记本电脑需要加密吗": ("信息安全", "全盘加密"),
    }
    with sandbox.db.session() as s:
        for question, (section, phrase) in expectations.items():
            hits = search(s, sandbox.settings, sandbox.admin_a, [kb], question, mode="keyword")
            assert hits[0].headings[-1] == section and phrase in hits[0].text, question


HANDBOOK_TW = """# 員工手冊

## 休假制度

員工到職滿一年後，每年享有十五天帶薪年假。年假須提前兩週在人事系統中申請；未休完的年假可以順延至次年三月底。

## 報銷制度

差旅期間的餐費每天最多報銷一百五十元。計程車費用須附上發票；超過五百元的支出需要部門經理審批。
"""


def test_simplified_and_traditional_chinese_find_each_other(sandbox: Sandbox) -> None:
    """A Taiwan office's handbook (traditional characters) answers a mainland colleague's
    question (simplified), and the other way round: to the index, the relevance check and
    word meanings both scripts are one (``infra.canonical_text``). Before, 带薪年假 and 帶薪年假
    shared only the characters 年 and 假."""
    kb = sandbox.kb(sandbox.admin_a, "手冊", dense=False)
    sandbox.ingest(sandbox.admin_a, kb, {"員工手冊-台灣.md": HANDBOOK_TW.encode()})
    zh = sandbox.kb(sandbox.admin_a, "手册", dense=False)
    sandbox.ingest(sandbox.admin_a, zh, {"员工手册.md": HANDBOOK_ZH.encode()})
    asked = {
        (kb, "没休完的带薪年假可以顺延吗"): ("休假制度", "順延至次年三月底"),
        (kb, "出差的餐费每天能报销多少钱？"): ("報銷制度", "一百五十元"),
        (zh, "沒休完的帶薪年假可以順延嗎"): ("休假制度", "顺延至次年三月底"),
        (zh, "筆記型電腦需要加密嗎"): ("信息安全", "全盘加密"),
    }
    with sandbox.db.session() as s:
        for (base, question), (section, phrase) in asked.items():
            hits = search(s, sandbox.settings, sandbox.admin_a, [base], question, mode="keyword")
            assert hits[0].headings[-1] == section and phrase in hits[0].text, question
            weights = term_weights(sandbox.settings, "t_a", [base], s)
            relevant = relevant_hits(hits, question, weights)
            assert relevant and relevant[0].chunk_id == hits[0].chunk_id, question


def test_full_width_letters_and_digits_are_found_as_typed_in_ascii(sandbox: Sandbox) -> None:
    """Chinese documents often hold full-width letters and digits (ＶＰＮ, 第１０条): they
    were no words at all to the index (only [a-z0-9] counts), so "VPN" found nothing."""
    kb = sandbox.kb(sandbox.admin_a, "IT", dense=False)
    notice = (
        "# 远程办公须知\n\n在家办公须先连接公司ＶＰＮ，客户端为ＧｌｏｂａｌＰｒｏｔｅｃｔ。\n\n"
        "# 会议室\n\n三楼会议室可容纳２０人，须在ＯＡ系统预约。\n"
    )
    sandbox.ingest(sandbox.admin_a, kb, {"须知.md": notice.encode()})
    with sandbox.db.session() as s:
        for question, phrase in (
            ("How do I connect to the VPN with GlobalProtect?", "ＧｌｏｂａｌＰｒｏｔｅｃｔ"),
            ("OA 系统 预约 会议室 20人", "２０人"),
        ):
            hits = search(s, sandbox.settings, sandbox.admin_a, [kb], question, mode="keyword")
            assert hits and phrase in hits[0].text, question


def test_a_chinese_word_broken_across_lines_is_found_whole(sandbox: Sandbox) -> None:
    """A PDF (or a hard-wrapped text) breaks Chinese lines anywhere, inside words: jieba cut
    "个人信\\n息" into 个人 / 信 / 息, so 个人信息 and 信息 were not in the index, and a
    passage that merely shares their characters ranked first."""
    assert "个人信息" in index.tokenize("收集个人信\n息的规则")
    assert "个人信息" in index.chinese_words("收集个人信\n息的规则")
    kb = sandbox.kb(sandbox.admin_a, "制度", dense=False)
    files = {
        "网络安全.txt": "网络运营者收集、使用个人信\n息，应当遵循合法、正当、必要的原则。",
        "信用卡.txt": "个人信用的利息",
    }
    sandbox.ingest(sandbox.admin_a, kb, {name: text.encode() for name, text in files.items()})
    with sandbox.db.session() as s:
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], "个人信息", mode="keyword")
    assert hits[0].filename == "网络安全.txt"


def test_an_index_cut_before_simplified_characters_is_cut_again(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index saved by the tokenizer before it (traditional words kept as they were, no
    "tokens" in meta.json) is re-tokenized from its chunks at the first search."""
    kb = sandbox.kb(sandbox.admin_a, "手冊", dense=False)
    with monkeypatch.context() as before:  # ingested as the old tokenizer cut it
        before.setattr(index, "canonical", lambda text: text)
        sandbox.ingest(sandbox.admin_a, kb, {"員工手冊-台灣.md": HANDBOOK_TW.encode()})
    folder = index_dir(sandbox.settings.data_dir, "t_a", kb)
    version = folder / (folder / "CURRENT").read_text().strip()
    meta = json.loads((version / "meta.json").read_text())
    (version / "meta.json").write_text(json.dumps({"embedder": meta["embedder"]}))
    assert "带薪" not in (version / "tokens.jsonl").read_text()
    with sandbox.db.session() as s:
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], "带薪年假 顺延", mode="keyword")
    assert hits and "順延至次年三月底" in hits[0].text
    current = folder / (folder / "CURRENT").read_text().strip()
    assert json.loads((current / "meta.json").read_text())["tokens"] == TOKENS
    assert "带薪" in (current / "tokens.jsonl").read_text()


# --- URL ingestion and SSRF ----------------------------------------------------------------


# Pages whose server declares their encoding: too short for detection to tell, and the first
# with a stale <meta charset> that the HTTP header outranks (as in browsers).
_PAGES = {
    "/notice.html": (
        '<meta charset="utf-8"><h1>請假須知</h1><p>公司簡介</p>'.encode("big5"),
        "text/html; charset=big5",
    ),
    "/notice.txt": ("就業規則".encode("shift_jis"), "text/plain; charset=Shift_JIS"),
    "/utf8.txt": ("带薪年假".encode(), "text/plain; charset=gbk"),  # a wrong label
}
# What report systems serve as Excel: an HTML table named .xls, and a download without a name.
_SHEETS = {
    "/export/report.xls": (
        "<table><tr><th>城市</th><th>住宿</th></tr><tr><td>北京</td><td>600</td></tr></table>",
        "application/vnd.ms-excel",
    ),
    "/download": ("城市\t住宿\n上海\t650\n", "text/tab-separated-values; charset=utf-8"),
}


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        targets = {
            "/to-loopback": "http://127.0.0.1:{port}/doc.html",
            "/to-private": "http://10.1.2.3/doc.html",
            "/to-metadata": "http://169.254.169.254/latest/meta-data/",
            "/to-localhost-name": "http://localhost:{port}/doc.html",
        }
        if self.path in targets:
            self.send_response(302)
            self.send_header("Location", targets[self.path].format(port=self.server.server_port))
            self.end_headers()
            return
        if self.path in _SHEETS:
            text, content_type = _SHEETS[self.path]
            body = text.encode()
        else:
            body, content_type = _PAGES.get(
                self.path,
                (b"<h1>Policy</h1><p>Internal document.</p>", "text/html; charset=utf-8"),
            )
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def web() -> Iterator[str]:
    """A web server on 127.0.0.2, the one address the tests allow, redirecting elsewhere."""
    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.2:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://10.0.0.1/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:9/x",
        "http://[::1]:9/x",
        "file:///etc/passwd",
        "http://[x]/",  # urlsplit raises ValueError, also when the refusal names the URL
    ],
)
def test_internal_urls_are_refused_before_connecting(url: str) -> None:
    with pytest.raises(FetchRefused, match="Refused to fetch"):
        fetch(url, max_bytes=10_000, timeout_s=5)


def test_allowed_network_is_fetched_but_redirects_inside_are_refused(web: str) -> None:
    allow = ["127.0.0.2/32"]
    page = fetch(f"{web}/doc.html", max_bytes=10_000, timeout_s=5, allow_networks=allow)
    assert page.filename == "doc.html" and b"Internal document" in page.data
    for path, address in [
        ("/to-loopback", "127.0.0.1"),
        ("/to-private", "10.1.2.3"),
        ("/to-metadata", "169.254.169.254"),
        ("/to-localhost-name", "localhost"),
    ]:
        with pytest.raises(FetchRefused, match=r"not public|does not resolve") as refused:
            fetch(f"{web}{path}", max_bytes=10_000, timeout_s=5, allow_networks=allow)
        assert address in str(refused.value)
    with pytest.raises(FetchRefused, match="not public"):
        fetch(f"{web}/doc.html", max_bytes=10_000, timeout_s=5)  # not allowed by default
    with pytest.raises(FetchRefused, match="limit"):
        fetch(f"{web}/doc.html", max_bytes=10, timeout_s=5, allow_networks=allow)


def test_fetched_text_is_read_in_the_encoding_its_server_declared(web: str) -> None:
    """The HTTP charset was dropped: a short Big5 page came out as half-width katakana."""
    allow = ["127.0.0.2/32"]
    texts = {}
    for path in _PAGES:
        page = fetch(f"{web}{path}", max_bytes=10_000, timeout_s=5, allow_networks=allow)
        parsed = parse_document(page.data, detect_format(page.filename))
        texts[path] = [b.text for b in parsed.blocks]
        assert parsed.notes == []  # declared (or UTF-8): nothing guessed to warn about
    assert texts == {
        "/notice.html": ["請假須知", "公司簡介"],
        "/notice.txt": ["就業規則"],
        "/utf8.txt": ["带薪年假"],
    }


def test_spreadsheets_a_report_system_serves_are_fetched_and_read(
    web: str, sandbox: Sandbox
) -> None:
    """A report URL ending .xls (served as Excel, an HTML table inside), and a download served
    as tab-separated values with no name: refused as an unsupported content type before."""
    allow = ["127.0.0.2/32"]
    named = {}
    for path in _SHEETS:
        page = fetch(f"{web}{path}", max_bytes=10_000, timeout_s=5, allow_networks=allow)
        named[path] = page.filename
        kb = sandbox.kb(sandbox.admin_a, f"sheets{len(named)}", dense=False)
        assert sandbox.ingest(sandbox.admin_a, kb, {page.filename: page.data})["indexed"] == 1
        with sandbox.db.session() as s:
            hit = search(s, sandbox.settings, sandbox.admin_a, [kb], "住宿")[0]
        assert hit.text in ("城市: 北京; 住宿: 600", "城市: 上海; 住宿: 650")
    assert named == {"/export/report.xls": "report.xls", "/download": "download.tsv"}
