"""A code the question names (an employee number, a document number) finds the chunk that
holds it first. Found by probing a live server: hybrid search put four other employees' rows
ahead of the one asked about, and a spreadsheet titled 2024 ahead of the document holding
BX-2024-0456, while keyword search alone ranked the record first."""

from __future__ import annotations

import pytest

from aigc.knowledge.identifiers import identifiers
from aigc.knowledge.retrieve import search

from .conftest import Sandbox

LEAVE = (
    "部门,姓名,工号,年假天数\n研发部,张伟,HC-0012,15\n市场部,李娜,HC-0078,10\n"
    "财务部,王芳,HC-0031,12\n行政部,刘洋,HC-0105,5\n"
)
BUDGET = (
    "2024年度部门预算表\n\n部门,2024年预算,2024年已用\n研发部,500万,320万\n市场部,200万,150万\n"
)
TRAVEL = (
    "# 差旅费报销办法\n\n报销单须写明审批编号，审批编号示例：BX-2024-0456。"
    "审批通过后五个工作日内付款。\n"
)


def test_codes_are_letters_with_digits_or_joined_numbers_and_not_periods() -> None:
    assert identifiers("工号HC-0105有几天年假？") == ["hc-0105"]
    assert identifiers("ＢＸ－２０２４－０４５６ 的进度") == ["bx-2024-0456"]  # full-width
    assert identifiers("订单20240456的状态") == ["20240456"]
    assert identifiers("Q2 2023 revenue in FY2023, up 12% on 1.5 million units") == []
    assert identifiers("As of FY2023Q1, why did PepsiCo raise its guidance?") == []
    assert identifiers("第2999节课程") == []


@pytest.mark.parametrize("mode", ["hybrid", "keyword"])
def test_the_chunk_holding_the_code_asked_for_comes_first(sandbox: Sandbox, mode: str) -> None:
    ledger = sandbox.kb(sandbox.admin_a, "工号测试")  # the probe's: the ledger alone
    sandbox.ingest(sandbox.admin_a, ledger, {"年假台账.csv": LEAVE.encode("gbk")})
    rules = sandbox.kb(sandbox.admin_a, "制度")
    sandbox.ingest(
        sandbox.admin_a,
        rules,
        {"部门预算.csv": BUDGET.encode(), "差旅费报销办法.md": TRAVEL.encode()},
    )
    with sandbox.db.session() as s:
        leave = search(
            s, sandbox.settings, sandbox.admin_a, [ledger], "工号HC-0105有几天年假？", mode=mode
        )
        travel = search(s, sandbox.settings, sandbox.admin_a, [rules], "BX-2024-0456", mode=mode)
    assert "HC-0105" in leave[0].text and "刘洋" in leave[0].text
    assert travel[0].filename == "差旅费报销办法.md"
    for hits in (leave, travel):  # the order the scores say
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
