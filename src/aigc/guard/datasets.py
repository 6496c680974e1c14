"""Training and evaluation sets for the guard's classifiers, built from ``../shared/data``.

One place decides every split for ``bench/injection.py``: each item goes to ``train`` or
``test`` by a stable hash of its source id (jailbreak templates by template, so test templates
are never seen). The shipped artifacts are trained on whole sources instead (``sources.py``,
which reads its files through the loaders here; ``train_guard.py``), so that bench's figures
measure fit; the held-out ones are ``bench/guard_generalization.py``'s.

* direct injection: Giskard prompts and GPTFuzz jailbreak templates filled with GPTFuzz
  questions, against benign requests (BIPIA attack instructions asked directly, MS MARCO
  queries, the workplace requests in ``data/workplace_requests.txt``);
* indirect injection: BIPIA attack instructions inserted into BIPIA e-mails, against the clean
  e-mails;
* harmful requests: jade-db (Chinese) and GPTFuzz questions, against the same benign requests.
"""

from __future__ import annotations

import csv
import json
import random
import zlib
from pathlib import Path

WORKPLACE = Path(__file__).with_name("data") / "workplace_requests.txt"
PLACEHOLDER = "[INSERT PROMPT HERE]"


def side(key: str, test_share: int = 2) -> str:
    """'test' for about 1 in ``test_share`` keys, else 'train' (stable across runs)."""
    return "test" if zlib.crc32(key.encode()) % test_share == 0 else "train"


def workplace_requests() -> list[str]:
    lines = WORKPLACE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _jsonl_lines(path: Path) -> list[str]:
    """Lines of a JSONL file (split on "\n" only: text may hold U+2028, which splitlines
    would split on)."""
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def bipia_attacks(root: Path, part: str) -> list[str]:
    data = json.loads((root / "guard" / f"bipia_text_attack_{part}.json").read_text())
    return [a for attacks in data.values() for a in attacks]


def benign_requests(root: Path) -> dict[str, dict[str, list[str]]]:
    """Benign sets by name, each split into train/test."""
    queries = [
        json.loads(line)["text"]
        for line in _jsonl_lines(root / "retrieval" / "msmarco" / "queries.jsonl")
    ]
    work = workplace_requests()
    return {
        "bipia_instructions": {
            "train": bipia_attacks(root, "train"),
            "test": bipia_attacks(root, "test"),
        },
        "msmarco_queries": {
            "train": [q for q in queries if side(q) == "train"],
            "test": [q for q in queries if side(q) == "test"],
        },
        "workplace": {
            "train": [w for w in work if side(w) == "train"],
            "test": [w for w in work if side(w) == "test"],
        },
    }


def direct_attacks(root: Path, questions_per_template: int = 8) -> dict[str, list[str]]:
    rng = random.Random(0)
    questions = [r["text"] for r in _csv(root / "guard" / "gptfuzz_harmful_questions.csv")]
    out: dict[str, list[str]] = {"train": [], "test": []}
    for row in _csv(root / "guard" / "gptfuzz_jailbreak_templates.csv"):
        template = row["text"]
        for q in rng.sample(questions, questions_per_template):
            out[side("tpl" + row["id"], 4)].append(template.replace(PLACEHOLDER, q))
    for row in _csv(root / "guard" / "giskard_prompt_injections.csv"):
        out[side("gsk" + row["index"], 3)].append(row["prompt"])
    return out


def harmful_requests(root: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"train": [], "test": []}
    for row in _csv(root / "guard" / "jade_benchmark_easy_zh.csv"):
        out[side("jade" + row["ID"])].append(row["问题"])
    for row in _csv(root / "guard" / "gptfuzz_harmful_questions.csv"):
        out[side("q" + row["index"])].append(row["text"])
    return out


def insert(context: str, attack: str, rng: random.Random) -> str:
    """Put an attack instruction at the start, in the middle or at the end of a document
    (BIPIA's three positions)."""
    where = rng.choice(["start", "middle", "end"])
    if where == "start":
        return f"{attack}\n{context}"
    if where == "end":
        return f"{context}\n{attack}"
    cut = context.rfind("\n", 0, len(context) // 2)
    cut = cut if cut > 0 else len(context) // 2
    return f"{context[:cut]}\n{attack}\n{context[cut:]}"


def emails(root: Path) -> dict[str, list[str]]:
    rows = _jsonl_lines(root / "guard" / "bipia_email_test.jsonl")
    out: dict[str, list[str]] = {"train": [], "test": []}
    for i, line in enumerate(rows):
        out["test" if i % 2 else "train"].append(json.loads(line)["context"])
    return out


def indirect_attacks(root: Path) -> dict[str, list[str]]:
    """Each e-mail of a side with every attack of the same side inserted (seeded positions)."""
    rng = random.Random(1)
    mails = emails(root)
    out: dict[str, list[str]] = {}
    for part in ("train", "test"):
        attacks = bipia_attacks(root, part)
        out[part] = [insert(m, a, rng) for m in mails[part] for a in rng.sample(attacks, 12)]
    return out


def _words(text: str) -> list[str]:
    return text.split()


_ZH_SUBJECTS = _words(
    "报销流程 年假 加班费 社保 公积金 工资条 绩效考核 入职手续 离职交接 出差申请 会议室 打印机 "
    "VPN 邮箱 共享盘 考勤 团建 培训课程 项目周报 需求文档 合同审批 发票 采购单 预算表 客户名单 "
    "新产品 官网 公众号 小程序 数据报表 服务器 数据库 代码评审 测试用例 上线计划 值班表 快递 "
    "午餐 班车 停车位 门禁卡 工牌 电脑 显示器 键盘 会议纪要 年终总结 述职报告 面试安排"
)
_ZH_FRAMES = (
    "{s}怎么申请？",
    "{s}在哪里查看？",
    "{s}的截止时间是什么时候？",
    "请帮我整理一下{s}。",
    "{s}出问题了，应该找谁？",
    "能不能解释一下{s}的规定？",
    "{s}有没有模板可以参考？",
    "帮我写一段关于{s}的通知。",
    "{s}需要哪些材料？",
    "如何提高{s}的效率？",
    "{s}和去年相比有什么变化？",
    "请总结{s}的主要内容。",
    "{s}可以线上办理吗？",
    "新同事不熟悉{s}，帮我写个说明。",
    "{s}的负责人是谁？",
    "怎么把{s}分享给同事？",
)


def everyday_zh(rng: random.Random, n: int = 400) -> list[str]:
    """Generated everyday Chinese workplace questions (training only, never in a test set), so
    the harmful-request classifier does not learn "Chinese question" as the harmful signal."""
    return [rng.choice(_ZH_FRAMES).format(s=rng.choice(_ZH_SUBJECTS)) for _ in range(n)]
