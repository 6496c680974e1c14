"""Prompt-injection and jailbreak detection, English and Chinese.

Two signals, the larger wins: hand-written rules for the phrasings attacks share ("ignore the
previous instructions", "you are DAN", "忽略之前的指令"), and a character n-gram linear
classifier trained here (``train_guard.py``; artifacts ``injection.npz`` for requests and
``injection_doc.npz`` for documents beside this file, rebuilt from ``../shared/data``). Without
the artifacts the rules work alone.

``score(text)`` is for user input; ``score_document(text)`` for retrieved chunks (indirect
injection), where an instruction addressed to the assistant inside a document is the signal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from aigc.guard import textclf

ARTIFACT = Path(__file__).with_name("injection.npz")
DOCUMENT_ARTIFACT = Path(__file__).with_name("injection_doc.npz")

_RULES: list[tuple[re.Pattern[str], float]] = [
    (
        re.compile(
            r"\b(?:ignore|disregard|forget|override|bypass|skip)\b.{0,40}?\b(?:previous|prior|"
            r"above|earlier|preceding|all|any|your|the|system)\b.{0,30}?\b(?:instructions?|"
            r"prompts?|rules|directions|guidelines|messages?|context|restrictions)\b",
            re.I | re.S,
        ),
        0.95,
    ),
    (re.compile(r"\b(?:DAN|do anything now|developer mode|jailbr[eo]ak|STAN|DUDE)\b", re.I), 0.9),
    (
        re.compile(
            r"\b(?:without|no|free (?:from|of)|ignore)\b.{0,20}\b(?:restrictions|filters?|"
            r"censorship|limitations|ethic(?:s|al guidelines)|content polic(?:y|ies)|moral)",
            re.I,
        ),
        0.85,
    ),
    (
        re.compile(
            r"\b(?:reveal|print|show|repeat|output|leak)\b.{0,30}\b(?:system prompt|initial "
            r"(?:prompt|instructions)|hidden (?:prompt|instructions))",
            re.I,
        ),
        0.9,
    ),
    (re.compile(r"\b(?:new|updated|real) instructions?\s*:", re.I), 0.85),
    (re.compile(r"\byou are (?:now|no longer)\b", re.I), 0.7),
    (
        re.compile(r"\b(?:pretend|act|roleplay|role-play)\b.{0,20}\b(?:as|to be|you are)\b", re.I),
        0.6,
    ),
    (
        re.compile(
            r"(?:忽略|无视|忘记|忘掉|跳过|不要理会).{0,12}(?:之前|以上|前面|上述|先前|所有|系统)"
            r".{0,8}(?:指令|指示|规则|提示|要求|设定|限制)"
        ),
        0.95,
    ),
    (
        re.compile(
            r"(?:开发者模式|越狱|不受(?:任何)?(?:限制|约束)|没有任何限制|解除(?:所有)?限制)"
        ),
        0.9,
    ),
    (
        re.compile(r"(?:输出|显示|告诉我|泄露|打印).{0,10}(?:系统提示|系统指令|提示词|初始指令)"),
        0.9,
    ),
    (re.compile(r"(?:你现在是|从现在开始你是|假装你是|扮演)"), 0.6),
    (re.compile(r"(?:新的指令|新指令)\s*[:：]"), 0.85),
]
# Inside a document, a segment that addresses the assistant (or its answer) with a task.
_DOCUMENT_RULES: list[tuple[re.Pattern[str], float]] = [
    (
        re.compile(
            r"\b(?:AI|assistant|chatbot|language model|LLM)\b.{0,40}\b(?:must|should|"
            r"will|needs? to)\b",
            re.I,
        ),
        0.6,
    ),
    (re.compile(r"(?:助手|人工智能|AI|模型).{0,10}(?:必须|应该|需要|请)"), 0.6),
]
_SEGMENT_RULES: list[tuple[re.Pattern[str], float]] = [
    (
        re.compile(
            r"^(?:please\s+)?(?:write|compose|draft|provide|explain|describe|summari[sz]e|"
            r"translate|analy[sz]e|list|suggest|generate|create|tell me|give me|show me|calculate|"
            r"determine|classify|rewrite|recommend|compare|predict|outline|identify|evaluate|"
            r"discuss|convert|help me|answer|respond|reply|output|print|say|include|insert|append|"
            r"mention|encourage|instruct|encrypt|encode|decode|apply|render|reverse|replace|"
            r"express|integrate|use|shift)\b",
            re.I,
        ),
        0.9,
    ),
    (
        re.compile(r"\byour (?:answer|reply|response|output|message|replies|responses)\b", re.I),
        0.95,
    ),
    (
        re.compile(
            r"^(?:what|how|who|why|when|where|which|is|are|can|could|should|does|do)\b"
            r"[^.!]*\?\s*$",
            re.I,
        ),
        0.75,
    ),
    (re.compile(r"^(?:请|帮我|给我|写|翻译|总结|列出|解释|描述|生成|输出|回答|回复)"), 0.9),
    (re.compile(r"你的(?:回答|回复|答案|输出)"), 0.95),
]


@dataclass(frozen=True)
class InjectionScore:
    score: float
    rule: float
    model: float | None


def _rule_score(text: str, rules: list[tuple[re.Pattern[str], float]]) -> float:
    return max((weight for pattern, weight in rules if pattern.search(text)), default=0.0)


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


def segments(document: str, max_segments: int = 200) -> list[str]:
    """Lines of a document, long lines cut into sentences: the units an instruction hides in."""
    out: list[str] = []
    for line in document.split("\n"):
        line = line.strip()
        if not line:
            continue
        parts = _SENTENCE_END.split(line) if len(line) > 200 else [line]
        out.extend(p for p in parts if len(p) > 3)
    return out[:max_segments]


def score_detail(text: str, document: bool = False) -> InjectionScore:
    rules = _RULES + _DOCUMENT_RULES if document else _RULES
    rule = _rule_score(text, rules)
    if document:
        parts = segments(text)
        rule = max([rule] + [_rule_score(p, _SEGMENT_RULES) for p in parts])
        classifier = textclf.load(DOCUMENT_ARTIFACT)
        model = float(classifier.scores(parts).max()) if classifier is not None and parts else None
    else:
        classifier = textclf.load(ARTIFACT)
        model = classifier.score(text[:4000]) if classifier is not None else None
    return InjectionScore(max(rule, model or 0.0), rule, model)


def score(text: str) -> float:
    """0–1: how likely ``text`` tries to override the assistant's instructions."""
    return score_detail(text).score


def score_document(text: str) -> float:
    """0–1 for a retrieved chunk: instructions hidden in a document (indirect injection)."""
    return score_detail(text, document=True).score
