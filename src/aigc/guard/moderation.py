"""Moderation: scores per category for a text, English and Chinese, in OpenAI's shape.

Categories are OpenAI's (so the SDK's typed fields work) plus ours: ``pii`` (personal data or
secrets found) and ``prompt_injection``. Scores come from word rules per category (English and
Chinese) and from a character n-gram classifier of harmful requests trained here
(``harmful.npz``, rebuilt by ``train_guard.py`` from jade-db and GPTFuzz questions against
benign requests). The classifier's score lifts the category its words point to, or ``illicit``
when no category word is present. Without the artifact the rules work alone. ``harassment``
also takes the probability of offensive English (``offensive.py``: alt-profanity-check's model
of insults, slurs and obscenity, trained on labelled comments): what a text says to or about
someone, which a classifier of harmful *requests* does not see.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

from aigc.guard import decodings, injection, offensive, pii, statements, textclf, windows
from aigc.infra.canonical_text import canonical
from aigc.infra.regex_gate import Gated, gated

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
THRESHOLD = 0.9  # about 2% false positives on held-out benign requests (bench/injection.py)

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
    "self-harm": r"\b(?:suicid\w*|(?:kill|killing|cut|cutting|hurt|hurting) myself|"
    r"self[- ]?harm\w*|(?:end|ending) my (?:own )?life|overdos\w*)\b|"
    r"自杀|自残|轻生|割腕|结束(?:自己的)?生命|不想活",
    "sexual": r"\b(?:porn\w*|sex(?:ual(?:ly)?|y)?|nudes?|naked|erotic\w*|explicit)\b|"
    r"色情|裸照|性交|淫秽|黄色(?:视频|网站)",
    "violence": r"\b(?:kill|murder|attack|assault|torture|shoot|stab|massacre|terroris[mt])\w*|"
    r"杀人|谋杀|杀死|袭击|殴打|酷刑|枪击|砍人|恐怖(?:袭击|主义)|暴力",
}
_COMPILED = {name: gated(pattern, re.I) for name, pattern in _WORDS.items()}
# Explicit requests for the means of serious harm: strong evidence on their own, so they are
# written to be precise. The object follows the verb directly (a determiner or "pipe", "nail"
# between them at most), so a bath bomb, a water gun or one's prescription drugs are not
# weapons; killing needs a person as its object and a wording that asks for it or states the
# will to ("how can I", "I want to", 怎么, 我想), so "the deadline will kill him", "can a fall
# kill someone?" and 伤害他人的感情 are not threats. A response that restates such a request
# as it complies ("Here is how to make a bomb", 以下是制作炸弹的步骤) matches too.
_ASKS_EN = (
    r"\b(?:how (?:do|can|could|would|should) (?:i|we|you|one)|how to|(?:best |quickest |easiest "
    r"|quick |easy )?ways? to|steps? to|teach me(?: how)? to|help me|tips (?:to|for|on)|can i|"
    r"should i|(?:i|we) (?:want|plan|need|intend|have) to|(?:i'?m|i am|we'?re|we are) going to|"
    r"i'?ll|i will|(?:someone|somebody|we|they|you|people) (?:should|must|ought to|need to))\b"
)
_ASKS_ZH = (
    r"(?:怎么|怎样|如何|教我|帮我|我想|我要|想要|打算|准备|计划|可以|能不能|能否|才能|"
    r"有什么方法|有什么办法|哪里|在哪)"
)
_PEOPLE_EN = (
    r"(?:people|persons?|someone|somebody|him|her|them|humans|(?:my|his|her|our) (?:wife|husband|"
    r"boyfriend|girlfriend|partner|ex|boss|neighbou?rs?|friends?|mother|father|mom|dad|parents|"
    r"brother|sister|son|daughter|child|kids|teacher|classmates?|co-?workers?|colleagues?|"
    r"roommate|family))\b"
)
_PEOPLE_ZH = (
    r"(?:我的?|我们的?)?(?:一个人|别人|他人|他们|她们|他|她|老板|邻居|同事|老婆|老公|妻子|丈夫|"
    r"父母|孩子|同学|最多的人|很多人|人)"
)
_INTENT: list[tuple[str, Gated]] = [
    (
        "illicit",
        gated(
            _ASKS_EN + r".{0,30}?\b(?:make|build|buy|get|obtain|synthesi[sz]e|cook|smuggle|"
            r"3d[- ]print)(?: and \w+)?\s+(?:(?:a|an|some|the|my own|homemade|untraceable|pipe|"
            r"nail|car|unregistered|improvised|nuclear|chemical|biological|dirty)\s+){0,2}(?:"
            r"bombs?|explosives?|firearms?|guns?|poisons?|weapons?|illegal drugs|drugs|meth|"
            r"methamphetamine|cocaine|heroin|fentanyl)\b(?!\s*(?:licen[cs]es?|permits?|safes?|"
            r"cabinets?|cases?|ranges?|clubs?|courses?|classes|lessons|shows?|control))"
            r"|(?:" + _ASKS_ZH + r"|以下是|下面是|下面介绍).{0,8}(?:制作|制造|自制|购买|买到|"
            r"弄到|合成|走私)(?:一(?:个|把|枚|支|些|点))?(?:炸弹|炸药|枪支|手枪|枪|武器|毒药|毒品|冰毒|"
            r"海洛因)|(?:制作|制造|自制|合成)(?:炸弹|炸药|枪支|手枪|毒药|毒品|冰毒|海洛因)的(?:方法|步骤|"
            r"教程|配方|过程)",
            re.I,
        ),
    ),
    (
        "violence",
        gated(
            _ASKS_EN + r".{0,40}?\b(?:kill|murder|poison|stab|shoot|strangle)\s+(?:(?:a|one|"
            r"some|the|those|these|all|lots of|many|most|more|as many)\s+){0,2}(?:\w+\s+)?"
            + _PEOPLE_EN
            + r"|"
            + _ASKS_ZH
            + r".{0,10}(?<!自)(?:杀死|杀掉|杀了|毒死|捅死|弄死|杀)"
            + _PEOPLE_ZH
            + r"(?!犯|罪|案|者|游戏|凶|魔|狂|鲸|蜂|类)"
            r"|(?<!自)(?:杀死|毒死|杀)(?:一个)?人的?(?:方法|方式|办法|技巧|手段)",
            re.I,
        ),
    ),
    (
        "self-harm",
        gated(
            r"\b(?:how (?:do|can) i|ways? to)\b.{0,20}\b(?:kill myself|end my life|"
            r"commit suicide)\b|(?:怎么|如何|怎样).{0,6}(?:自杀|结束自己的生命)",
            re.I,
        ),
    ),
]
# Wordings that state the intent to harm or to get away with it, whatever the topic: a benign
# request has no use for "without getting caught", and asks to *detect* ransomware, not to write
# it (a defensive word in the same sentence lets the request through to the classifier).
# "avoid" is defensive ("avoid phishing") except where it is the evasion itself ("avoid the
# police", "avoid detection"), which must not disarm the rule that names it.
_DEFENSIVE = gated(
    r"\b(?:detect|prevent|protect|defend|block|remove|identify|analy[sz]e|mitigat|against|"
    r"recogni[sz]e|spot|report|awareness|simulat|train(?:ing)? (?:staff|employees))|"
    r"\bavoid(?!s?\s+(?:detection|the police|police|law enforcement|the cops|cops|taxes|"
    r"paying tax|suspicion|getting caught|being (?:caught|detected|traced|noticed|seen)))|"
    r"检测|防止|防范|识别|防御|查杀|举报|演练|培训",
    re.I,
)
_INTENT_TO_HARM: list[tuple[str, Gated]] = [
    (
        "illicit",
        gated(
            r"\bwithout (?:getting caught|being (?:caught|detected|traced|noticed)|anyone "
            r"(?:knowing|noticing))\b|\b(?:evade|avoid|escape) (?:detection|the police|law "
            r"enforcement|taxes)\b|\b(?:untraceable|undetectable) (?:poison|weapon|gun|malware)\b"
            r"|不被(?:发现|察觉|抓|追踪)|逃避(?:警察|追查|侦查|缴税|纳税)|销毁证据",
            re.I,
        ),
    ),
    (
        "illicit",
        gated(
            r"\b(?:write|create|code|build|generate|develop|make)\b.{0,30}\b(?:ransomware|"
            r"keylogger|botnet|trojan|computer virus|phishing (?:e-?mails?|pages?|sites?|kits?))\b"
            r"|(?:编写|写|制作|开发|生成).{0,8}(?:勒索病毒|木马|键盘记录器|钓鱼邮件|钓鱼网站)",
            re.I,
        ),
    ),
    # Chinese as people write it (2026-12-05: 0.4–0.83 before): a scam message posing as a
    # bank, breaking into someone else's account, drugging someone on the sly; and breaking
    # into someone else's account in English ("hack into my ex's Instagram" 0.57).
    (
        "illicit",
        gated(
            r"(?:\b(?:hack(?: into)?|break into)\b.{0,30}\b(?:his|her|their|(?:my|our) (?:ex|"
            r"wife|husband|boyfriend|girlfriend|boss|neighbou?r|co-?worker|colleague|roommate|"
            r"partner)(?:'s)?)|\b(?:hack(?: into)?|break into|get into)\b.{0,30}\b(?:someone|"
            r"somebody|other people)(?:'s| else's))\b.{0,30}\b(?:account|phone|e-?mail|inbox|"
            r"instagram|facebook|whatsapp|wechat|snapchat|computer|laptop|icloud)"
            r"|(?:写|编|帮我写|生成|设计).{0,8}(?:冒充|假冒|伪装成|假装是).{0,12}(?:诈骗|骗|钓鱼)"
            r"|(?:写|编|帮我写|生成|设计).{0,6}(?:诈骗|行骗)(?:短信|邮件|话术|剧本|电话脚本)"
            r"|(?:入侵|黑进|盗取|盗用|破解)(?:别人|他人|某人|同事|前任|前女友|前男友|女友|男友|老婆|"
            r"老公|室友|邻居|老板)的?.{0,4}(?:微信|QQ|邮箱|账号|帐号|手机|电脑|支付宝|银行卡|密码)"
        ),
    ),
    (
        "violence",
        gated(
            _ASKS_ZH + r".{0,6}(?:偷偷|悄悄|暗中)?(?:给|往|在)" + _PEOPLE_ZH + r"的?.{0,6}"
            r"(?:下药|投毒|下毒|放安眠药)"
        ),
    ),
    (
        "violence",
        gated(
            r"\b(?:synthesi[sz]e|make|produce|manufacture|weaponi[sz]e|build)\b.{0,30}\b(?:sarin|"
            r"ricin|nerve agents?|mustard gas|anthrax|chemical weapons?|biological weapons?|"
            r"bioweapons?|dirty bombs?|pipe bombs?)\b"
            r"|(?:合成|制造|制作|提炼).{0,8}(?:沙林|蓖麻毒素|神经毒剂|芥子气|炭疽|化学武器|生物武器|土制炸弹)",
            re.I,
        ),
    ),
    (
        "self-harm",
        gated(
            r"\b(?:convince|persuade|encourage|pressure)\b.{0,30}\bto (?:commit suicide|kill "
            r"(?:himself|herself|themselves)|self-harm|hurt (?:himself|herself|themselves))\b"
            r"|(?:劝|怂恿|诱导|鼓励).{0,8}(?:自杀|自残|轻生)",
            re.I,
        ),
    ),
    (
        "hate",
        gated(
            r"\b(?:write|generate|create|compose)\b.{0,30}\b(?:racist|sexist|antisemitic|"
            r"homophobic|hateful) (?:jokes?|rants?|posts?|essays?|messages?|slogans?|propaganda)\b"
            r"|(?:写|生成|编).{0,8}(?:种族歧视|歧视性|仇恨)(?:的)?(?:笑话|文章|言论|口号)",
            re.I,
        ),
    ),
    (
        "harassment",
        gated(
            r"(?:写|生成|编|来|说)(?:一段|一些|几句|一篇)?.{0,4}(?:辱骂|侮辱|嘲笑|羞辱|贬低)"
            r".{0,10}(?:残疾人|黑人|女性|女人|同性恋|外地人|少数民族|穷人|老人|农民工|胖子|病人)"
        ),
    ),
    (
        "harassment",
        gated(
            r"\bdox+(?:ing|x?ing|ed)?\b|\b(?:find|track down|get)\b.{0,20}\b(?:home address|where "
            r"(?:she|he|they) lives?)\b.{0,40}\b(?:ex|stalk|harass|confront)|人肉(?:搜索)?",
            re.I,
        ),
    ),
]
_PARENT = {
    "harassment/threatening": "harassment",
    "hate/threatening": "hate",
    "illicit/violent": "illicit",
    "self-harm/intent": "self-harm",
    "self-harm/instructions": "self-harm",
    "sexual/minors": "sexual",
    "violence/graphic": "violence",
}


def category_scores(text: str, wanted: Collection[str] = CATEGORIES) -> dict[str, float]:
    """0–1 per category of ``wanted`` (every one by default). The PII scan and the injection
    score run only when ``pii`` / ``prompt_injection`` are wanted: a policy rule over OpenAI's
    categories (on every output window of a stream) needs neither."""
    return _with_scans(text, _harm_scores(text, textclf.load(ARTIFACT)), wanted)


def _with_scans(text: str, scores: dict[str, float], wanted: Collection[str]) -> dict[str, float]:
    """The harm scores plus the PII and injection scans where wanted, rounded, as asked. The
    whole text is scanned (the first 20,000 characters were, until 2026-12-05: a card number
    further on was no "pii"); the checked entities cost about 1 ms per KB."""
    if "pii" in wanted:
        scores["pii"] = 1.0 if pii.detect(text, pii.SAFE_ENTITIES) else 0.0
    if "prompt_injection" in wanted:
        scores["prompt_injection"] = injection.score(text)
    return {k: round(float(v), 4) for k, v in scores.items() if k in wanted}


def _harm_scores(
    text: str, classifier: textclf.Scorer | None, classifier_weight: float = 1.0
) -> dict[str, float]:
    """Rules and the harmful-request classifier (its probability times ``classifier_weight``),
    per category (no pii / injection yet). The text is read through ``infra.canonical_text``
    (simplified characters, full-width forms as ASCII): the rules and the classifier's
    character n-grams were written and learnt in those, and traditional characters or
    full-width letters would otherwise pass (MultiJail zh TPR 0.64 → 0.43 in traditional).
    What the text hides in base64, hex, ROT13 or spaced-out letters (``decodings``) is scored
    too, each category at its highest."""
    text = canonical(text)
    scores = _read_harm(text, classifier, classifier_weight)
    for hidden in decodings.readings(text):
        found = _read_harm(canonical(hidden), classifier, classifier_weight)
        scores = {name: max(score, found[name]) for name, score in scores.items()}
    return scores


# Asking after one's own account, password or device ("如何找回我自己的微信账号？", "My account
# was hacked, what should I do?"): the classifier learnt that accounts, passwords and logins
# are what intrusions are about, and scored these everyday help-desk questions 0.8–0.93. When
# the asker's own thing is recovered, reset, unlocked, closed or secured, no one else is named
# (别人, 他的, "my girlfriend's", secretly …) and no act of harm is (入侵, 刷单, DDoS, launder
# …), the classifier counts for half; the intent rules ("盗取别人的账号", "hack into someone
# else's account") are untouched.
OWN_ACCOUNT_WEIGHT = 0.5
_OWN_THING = (
    r"(?:account|password|passcode|pin|login|e-?mail|inbox|phone|iphone|laptop|computer|pc|mac|"
    r"device|profile|router|wi-?fi|files?|data|photos)"
)
_OWN_EN = gated(rf"\b(?:my|our)\s+(?:own\s+)?(?:[\w-]+\s+){{0,2}}?{_OWN_THING}\b", re.I)
_OWN_ZH = gated(
    r"我(?:自己)?的?[^，。？！\s]{0,6}?(?:账号|帐号|账户|帐户|密码|邮箱|手机|电脑|微信|QQ|支付宝|"
    r"淘宝|微博|银行卡|网盘|云盘)",
    re.I,
)
_SELF_SERVICE = gated(
    r"\b(?:recover|reset|unlock|change|delete|close|deactivate|restore|secure|protect|hacked|"
    r"stolen|locked|forgot|forgotten|log ?in|sign ?in|logged|back ?up|two-factor|2fa|update)|"
    r"找回|恢复|重置|修改|更改|注销|冻结|解冻|解锁|登录|登陆|登不上|被盗|被封|被黑|忘了|忘记|"
    r"备份|保护|开启|绑定|解绑|丢了|丢失",
    re.I,
)
_SOMEONE_ELSE_OR_HARM = gated(
    r"别人|他人|其他人|他的|她的|他们的|对方|老公|老婆|丈夫|妻子|男朋友|女朋友|前任|同事|老板|领导|"
    r"孩子|儿子|女儿|偷偷|悄悄|不被发现|入侵|攻击|刷单|刷票|洗钱|盗取|窃取|监控|监视|定位|跟踪|"
    r"诈骗|骗取|钓鱼|木马|病毒|黑进|小号|"
    r"\b(?:someone|somebody|another|other|others|his|her|their|them|him|wife|husband|"
    r"boyfriend|girlfriend|ex|partner|boss|coworker|colleague|kid|child|son|daughter|employee|"
    r"secretly|without|hack into|ddos|launder|laundering|phish\w*|steal|spy|track|stalk|"
    r"malware|virus|ransomware|drugs?|weapons?|bomb|fake|scam|fraud)\b",
    re.I,
)


def own_account_question(text: str) -> bool:
    """Whether ``text`` asks how to recover, reset or secure the asker's own account,
    password or device, naming no one else and no act of harm."""
    if len(text) > 400 or not (_OWN_EN.search(text) or _OWN_ZH.search(text)):
        return False
    return bool(_SELF_SERVICE.search(text)) and not _SOMEONE_ELSE_OR_HARM.search(text)


def _read_harm(
    text: str, classifier: textclf.Scorer | None, classifier_weight: float
) -> dict[str, float]:
    scores = dict.fromkeys(CATEGORIES, 0.0)
    hits = [name for name, pattern in _COMPILED.items() if pattern.search(text)]
    for name in hits:
        scores[name] = 0.4  # a word alone is weak evidence ("how to kill a process")
    for name, pattern in _INTENT:
        if pattern.search(text):
            scores[name] = 0.95
    if statements.states_hate(text):
        scores["hate"] = 0.95
    for name in statements.abuse_categories(text):
        scores[name] = 0.95
    if not _DEFENSIVE.search(text):
        for name, pattern in _INTENT_TO_HARM:
            if pattern.search(text):
                scores[name] = max(scores[name], 0.95)
    if classifier is not None and text.strip():
        # (an empty text says nothing: the classifier's intercept alone would read 0.43)
        harmful = classifier_weight * windows.highest(classifier.scores, text)
        if own_account_question(text):
            harmful *= OWN_ACCOUNT_WEIGHT
        for name in hits or ["illicit"]:
            scores[name] = max(scores[name], harmful)
    scores["harassment"] = max(scores["harassment"], offensive.score(text))
    for child, parent in _PARENT.items():
        scores[child] = scores[parent] * 0.5
    return scores


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


def harmful_score_with(text: str, classifier: textclf.Scorer | None) -> float:
    """``harmful_score`` with a given classifier (the generalization bench trains its own)."""
    scores = _harm_scores(text, classifier)
    return max(scores[name] for name in OPENAI_CATEGORIES)


def harmful_score(text: str) -> float:
    """The largest score over OpenAI's categories (what a policy's threshold is compared to)."""
    return max(category_scores(text, OPENAI_CATEGORIES).values())


# A response that opens by declining says nothing harmful, whatever its topic. Declining is a
# refusing verb ("I can't", "I won't", 我无法, 我不能…), perhaps after an apology or "As an AI
# …,": an apology alone is not one ("Sorry, I don't vote for …", "I'm sorry you feel …"), nor is
# "As an AI language model, I can provide…", nor "I can't believe / wait / stand…".
_APOLOGY = (
    r"(?:I['’]m sorry|I am sorry|Sorry|I apologi[sz]e|My apologies|Unfortunately|I['’]m afraid)"
)
_AS_AN_AI = (
    r"(?:As an? (?:AI|artificial intelligence|(?:AI )?language model|AI assistant)\b"
    r"[^.!?\n]{0,40}?,\s*)"
)
_NOT_DECLINING = (
    r"believe|wait|stand|stress|emphasi[sz]e|afford|seem|find|remember|imagine|help but|get over|"
    r"agree|thank|express|overstate|say enough|even|wrap|understand|tell you how|get enough|lie"
)
_DECLINING = (
    r"(?:(?:I (?:can ?not|can['’]t|won['’]t|will not|must (?:respectfully )?(?:decline|refuse)|"
    r"have to decline|refuse|(?:do not|don['’]t) (?:feel comfortable|think I (?:can|should)))"
    r"|I(?: am|['’]m) (?:unable|not (?:able|authorized|allowed|permitted|going to|comfortable|"
    r"in a position)))\b(?! (?:" + _NOT_DECLINING + r"))"
    r"|(?:It is|It['’]s|That is|That['’]s|This is) not (?:appropriate|ethical|"
    r"something I (?:can|will)))"
)
_ZH_APOLOGY = r"(?:(?:很|非常|十分)?(?:抱歉|对不起|不好意思|遗憾))"
_ZH_AS_AN_AI = (
    r"(?:作为一?个?(?:AI|人工智能|语言模型|AI助手|人工智能助手|智能助手)[^。！？\n]{0,20}?[，,]\s*)"
)
_ZH_DECLINING = (
    r"(?:这个问题|这个请求|你的请求|您的请求|此类请求)?我(?:不能|无法|不会|没办法|不可以|拒绝|不便)"
    r"(?:为你|为您|向你|向您)?(?:提供|帮|协助|回答|满足|参与|生成|编写|写|支持|给出|透露|告诉|做|"
    r"执行|遵守|照做|完成|回应|讨论|鼓励|教|分享|处理|答复|进行|创作|撰写|描述|解释)"
)
_REFUSAL = re.compile(
    rf"^\W*(?:{_APOLOGY}[^.!?\n]{{0,60}}?[,.!]?\s*(?:but\s+)?)?{_AS_AN_AI}?(?:but\s+)?{_DECLINING}"
    rf"|^\W*(?:{_ZH_APOLOGY}[^。！？\n]{{0,30}}?[，,。！!]?\s*(?:但是?|不过)?)?{_ZH_AS_AN_AI}?"
    rf"{_ZH_DECLINING}",
    re.I,
)
# Persona tags say who is speaking, not what is said ("JailBreak:", "[🔓JAILBREAK]", "GPT:").
# A tag is bracketed ("[🔓JAILBREAK]", "(🔒Normal Output)") or ends in a colon ("DAN:"): the
# same word opening a sentence ("Dangerous…", "Aim at…", "Classic…") is what is said.
_PERSONA_NAME = r"(?:jail ?break|gpt|chatgpt|dan|aim|developer mode output|normal output|classic)"
_PERSONA = re.compile(
    rf"^\s*(?:[\[(][^\w\n]{{0,3}}{_PERSONA_NAME}[^\w\n]{{0,3}}[\])]\s*[:：]?"
    rf"|[^\w\n]{{0,3}}{_PERSONA_NAME}[^\w\n:：]{{0,3}}[:：])\s*",
    re.I | re.M,
)


# How much the harmful-*request* classifier counts when the text is a model's response. It
# learnt requests; on what a response says it is out of its domain and weak evidence, as one
# lexicon word is (a word hit scores 0.4), so it is scaled to 0.4 at most. That prior was
# fixed after bench/guard_generalization.py had printed both labelled response sets over
# weights 0–1 (they pull opposite ways: insults and slurs want none, harmful instructions
# some); docs/guard.md gives the sweep and what the weight does at a policy's thresholds.
RESPONSE_CLASSIFIER_WEIGHT = 0.4


# After a refusal, evidence this weak is a refusal explaining itself ("Making explosives is
# illegal…": one lexicon word scores 0.4); only more counts.
WEAK = 0.4


def response_category_scores(
    text: str,
    wanted: Collection[str] = OPENAI_CATEGORIES,
    opening: bool = True,
    classifier_weight: float = RESPONSE_CLASSIFIER_WEIGHT,
) -> dict[str, float]:
    """``category_scores`` for what a model *says* (the output stage's moderation rules, and
    the output bench): persona tags ("JailBreak:", "GPT:") removed, the request classifier
    weighted down, and when ``text`` opens the response and opens with a refusal ("I'm
    sorry, I can't…", 抱歉，我无法…), the refusal's harm scores are a twentieth: a refusal
    says nothing harmful, whatever topic it names. What follows the refusal's sentences
    counts where its evidence is more than ``WEAK`` ("I'm sorry, I can't help with that. Just
    kidding, here is how…", or the two answers of a "classic / jailbreak" prompt one after
    the other)."""
    body = _PERSONA.sub("", text).strip()
    classifier = textclf.load(ARTIFACT)
    harm = _harm_scores(body, classifier, classifier_weight)  # reads it canonically
    end = refusal_end(body) if opening else 0
    if end:
        rest = _harm_scores(body[end:], classifier, classifier_weight) if body[end:] else {}
        strong = {name: score for name, score in rest.items() if score > WEAK}
        harm = {name: max(0.05 * score, strong.get(name, 0.0)) for name, score in harm.items()}
    return _with_scans(body, harm, wanted)


_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)|[。！？]+|\n")


def refusal_end(body: str) -> int:
    """Where the refusal that opens ``body`` ends: past each opening sentence that declines
    ("I'm sorry. I can't help with that. I cannot …" are three); 0 when it opens otherwise."""
    end = 0
    while end < len(body) and _REFUSAL.search(canonical(body[end : end + 200])):
        stop = _SENTENCE_END.search(body, end)
        end = stop.end() if stop else len(body)
        while end < len(body) and body[end].isspace():
            end += 1
    return end


def response_score(text: str, classifier_weight: float = RESPONSE_CLASSIFIER_WEIGHT) -> float:
    """0–1: how harmful what a whole response says is (the largest of OpenAI's categories;
    ``classifier_weight`` for the bench's sweep)."""
    scores = response_category_scores(text, OPENAI_CATEGORIES, classifier_weight=classifier_weight)
    return max(scores.values())
