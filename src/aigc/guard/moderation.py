"""Moderation: scores per category for a text, English and Chinese, in OpenAI's shape.

Categories are OpenAI's (so the SDK's typed fields work) plus ours: ``pii`` (personal data or
secrets found) and ``prompt_injection``. Scores come from word rules per category (English and
Chinese) and from a character n-gram classifier of harmful requests trained here
(``harmful.npz``, rebuilt by ``train_guard.py`` from jade-db and GPTFuzz questions against
benign requests). The classifier's score lifts the category its words point to, or ``illicit``
when no category word is present. Without the artifact the rules work alone.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aigc.guard import injection, pii, textclf

ARTIFACT = Path(__file__).with_name("harmful.npz")
OPENAI_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
CATEGORIES = (*OPENAI_CATEGORIES, "pii", "prompt_injection")
THRESHOLD = 0.5

_WORDS: dict[str, str] = {
    "harassment": r"\b(?:idiot|stupid|loser|worthless|shut up|bully|humiliate|harass)\w*|"
    r"傻逼|蠢货|废物|滚蛋|去死|骚扰|辱骂|羞辱|人肉",
    "hate": r"\b(?:racist|racial slur|inferior race|ethnic cleansing|nazi|white power|"
    r"hate (?:speech|group))\w*|种族歧视|劣等民族|种族清洗|仇恨|歧视(?:黑人|女性|外地人)",
    "illicit": r"\b(?:drugs?|cocaine|heroin|meth(?:amphetamine)?|launder(?:ing)?|counterfeit|"
    r"hack(?:ing|er)?|malware|ransomware|phishing|steal|theft|fraud|scam|smuggl\w*|"
    r"explosives?|bomb|weapon|firearm|gun|poison|illegal(?:ly)?|crack (?:a|the) password|"
    r"evade (?:taxes|police)|bribe)\b|毒品|冰毒|海洛因|大麻|洗钱|假币|伪造|黑客|木马|病毒|钓鱼|"
    r"诈骗|盗窃|偷|走私|炸药|炸弹|枪支|武器|毒药|下毒|违法|非法|逃税|行贿|赌博|翻墙|破解",
    "self-harm": r"\b(?:suicide|kill myself|self[- ]harm|cut myself|end my life|overdose)\b|"
    r"自杀|自残|轻生|割腕|结束(?:自己的)?生命|不想活",
    "sexual": r"\b(?:porn\w*|sex(?:ual)?|nude|naked|erotic|explicit)\b|"
    r"色情|裸照|性交|淫秽|黄色(?:视频|网站)",
    "violence": r"\b(?:kill|murder|attack|assault|torture|shoot|stab|massacre|terroris[mt])\w*|"
    r"杀人|谋杀|杀死|袭击|殴打|酷刑|枪击|砍人|恐怖(?:袭击|主义)|暴力",
}
_COMPILED = {name: re.compile(pattern, re.I) for name, pattern in _WORDS.items()}
_PARENT = {
    "harassment/threatening": "harassment",
    "hate/threatening": "hate",
    "illicit/violent": "illicit",
    "self-harm/intent": "self-harm",
    "self-harm/instructions": "self-harm",
    "sexual/minors": "sexual",
    "violence/graphic": "violence",
}


def category_scores(text: str) -> dict[str, float]:
    """0–1 per category."""
    scores = dict.fromkeys(CATEGORIES, 0.0)
    hits = [name for name, pattern in _COMPILED.items() if pattern.search(text)]
    for name in hits:
        scores[name] = 0.4  # a word alone is weak evidence ("how to kill a process")
    classifier = textclf.load(ARTIFACT)
    if classifier is not None:
        harmful = classifier.score(text[:4000])
        for name in hits or ["illicit"]:
            scores[name] = max(scores[name], harmful)
    for child, parent in _PARENT.items():
        scores[child] = round(scores[parent] * 0.5, 4)
    scores["pii"] = 1.0 if pii.detect(text[:20000], pii.SAFE_ENTITIES) else 0.0
    scores["prompt_injection"] = injection.score(text)
    return {k: round(float(v), 4) for k, v in scores.items()}


def moderate(text: str, threshold: float = THRESHOLD) -> dict[str, Any]:
    """One entry of OpenAI's ``results`` list."""
    scores = category_scores(text)
    categories = {name: score >= threshold for name, score in scores.items()}
    return {
        "flagged": any(categories.values()),
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": {name: ["text"] for name in CATEGORIES},
    }


def harmful_score(text: str) -> float:
    """The largest score over OpenAI's categories (what a policy's threshold is compared to)."""
    scores = category_scores(text)
    return max(scores[name] for name in OPENAI_CATEGORIES)
