"""Plain-text files engineers keep beside their documents: configuration, logs, SQL, source
code, tab-separated exports. They were refused as an unsupported file type."""

from __future__ import annotations

import pytest

from aigc.knowledge.parse import DocumentRejected, detect_format, parse
from aigc.knowledge.retrieve import search

from .conftest import Sandbox


def test_config_logs_sql_and_code_are_read_as_text(sandbox: Sandbox) -> None:
    files = {
        "deploy.yaml": "replicas: 3\n# 生产环境副本数不得少于三个\nimage: registry.local/api:2.4\n",
        "schema.sql": "-- 订单表\nCREATE TABLE orders (id BIGINT PRIMARY KEY, amount DECIMAL);\n",
        "gateway.log": "2024-05-01 10:00:01 ERROR upstream timeout after 30s (ticket OPS-4411)\n",
        "retry.py": 'def backoff(attempt: int) -> float:\n    """指数退避，最多等待 60 秒。"""\n'
        "    return min(60.0, 2.0**attempt)\n",
        "加班记录.tsv": "姓名\t日期\t时长\n张三\t2024-05-01\t3\n",
    }
    kb = sandbox.kb(sandbox.admin_a, "engineering", dense=False)
    result = sandbox.ingest(
        sandbox.admin_a, kb, {name: text.encode("utf-8") for name, text in files.items()}
    )
    assert result["indexed"] == len(files), result
    found = {}
    with sandbox.db.session() as s:
        for question in (
            "生产环境副本数",
            "订单表",
            "upstream timeout OPS-4411",
            "指数退避",
            "张三加班",
        ):
            found[question] = search(s, sandbox.settings, sandbox.admin_a, [kb], question)[0]
    assert {q: hit.filename for q, hit in found.items()} == {
        "生产环境副本数": "deploy.yaml",
        "订单表": "schema.sql",
        "upstream timeout OPS-4411": "gateway.log",
        "指数退避": "retry.py",
        "张三加班": "加班记录.tsv",
    }
    assert "    return min(60.0, 2.0**attempt)" in found["指数退避"].text  # indentation kept
    assert found["张三加班"].text == "姓名: 张三; 日期: 2024-05-01; 时长: 3"  # a table, by row


def test_binary_files_are_still_refused() -> None:
    with pytest.raises(DocumentRejected, match=r"Unsupported file type '\.exe'"):
        detect_format("setup.exe")
    assert detect_format("Makefile.dockerfile") == "txt"
    with pytest.raises(DocumentRejected):
        parse(b"\x00\x01\x02\xff" * 64, detect_format("core.log"))
