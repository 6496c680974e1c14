"""An ingestion job's progress lines are said in Chinese on a Chinese page, from the code and
values the ingestion reports beside each English line ("document 1 of 2: 年假.txt indexed,
1 chunks; read as big5 text …" before)."""

from __future__ import annotations

import json
from typing import Any

from aigc.console import i18n
from aigc.console.i18n import Translator
from aigc.console.pages.knowledge_lines import ingest_line
from aigc.knowledge import ingest_lines
from aigc.knowledge.ingest import ingest_documents

from .conftest import Sandbox

ZH, EN = Translator("zh-CN"), Translator("en")
LEAVE_BIG5 = "員工到職滿一年後，每年享有十五天帶薪年假，須提前兩週申請。".encode("big5")


def test_each_documents_line_is_said_in_chinese(sandbox: Sandbox) -> None:
    kb = sandbox.kb(sandbox.admin_a, "制度", dense=False)
    files = {"年假.txt": LEAVE_BIG5, "问答.jsonl": b'{"q": 1}\n{"q": 2}\n{oops\n'}
    changed = sandbox.add(sandbox.admin_a, kb, files)
    jobs: list[dict[str, Any]] = []

    def report(fraction: float, message: str, code: str | None = None, values: Any = None) -> None:
        job = {"message": message, "message_code": code, "message_values": values}
        jobs.append(json.loads(json.dumps(job)))  # as GET /api/jobs/{id} returns it

    ingest_documents(sandbox.db, sandbox.settings, "t_a", kb, changed, progress=report)
    said = {ingest_line(ZH, job) for job in jobs}
    assert (
        "第 1/2 个文档：年假.txt 已建立索引，共 1 个片段；按 big5 编码读取（该文件不是 UTF-8）"
        in said
    )
    assert "第 2/2 个文档：问答.jsonl 处理失败：该 JSONL 文件的第 3 行不是有效的 JSON。" in said
    assert {"正在更新索引", "完成"} <= said
    assert [ingest_line(EN, job) for job in jobs] == [job["message"] for job in jobs]


def test_every_line_has_words_in_every_language() -> None:
    for code in ingest_lines.CODES:
        for lang in i18n.LANGUAGES:
            assert f"kb.line.{code}" in i18n.TABLE[lang], (code, lang)


def test_a_line_without_a_known_code_is_shown_as_written() -> None:
    assert ingest_line(ZH, {"message": "document 1 of 3"}) == "document 1 of 3"
    failed = {"reason": "no_such_reason", "done": 1, "total": 1, "name": "a"}
    job = {"message": "x", "message_code": ingest_lines.FAILED, "message_values": failed}
    assert ingest_line(ZH, job) == "x"
