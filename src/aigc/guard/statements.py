"""What a text says of people, read by its structure: hate stated about a group ("Immigrants
are criminals", 河南人都是骗子) and abuse addressed to someone in Chinese (你这个傻逼,
我要杀了你全家).

Both are statements, not requests: the harmful-request classifier (``harmful.npz``) learnt
requests and scored them 0.1-0.5, and the offensive-language model (``offensive.py``) reads
English only. ``moderation`` scores a match 0.95 in its categories. Each rule was written from
how such text is phrased and from OpenAI's definitions of its categories, not from a data set;
docs/guard.md gives what each was measured on afterwards.
"""

from __future__ import annotations

import bisect
import re

from aigc.infra.regex_gate import Gated, gated

# What a text says about a group of people for who they are: that they are vermin, criminals or
# inferior, or should be killed, deported or driven out (OpenAI's "hate": content that
# expresses hate based on race, religion, nationality, sex, sexual orientation or disability).
# The groups and the dehumanizing predicates are written from that definition, not from a data
# set. A question ("Are immigrants criminals?", 为什么有人说…？) asks, and a sentence that names
# the claim a stereotype, myth or lie rebuts it: neither is a statement of hate.
_GROUPS_EN = (
    r"(?:(?:all|the|those|these|most|filthy|dirty|fucking|damn|bloody)\s+)?(?:jews|jewish people|"
    r"muslims|christians|hindus|sikhs|buddhists|atheists|catholics|arabs|blacks|black (?:people|"
    r"men|women)|whites|white (?:people|men|women)|asians|asian people|chinese people|chinese|"
    r"japanese|koreans|indians|pakistanis|mexicans|latinos|hispanics|africans|gypsies|roma|"
    r"immigrants|migrants|refugees|foreigners|gays|gay (?:people|men)|lesbians|homosexuals|"
    r"queers|trans(?:gender)? (?:people|women|men)|women|girls|females|men|disabled people|"
    r"the disabled|autistic people)"
)
_DEHUMANIZED_EN = (
    r"(?:are|r)\s+(?:all\s+|just\s+|only\s+|nothing but\s+|no better than\s+|basically\s+|"
    r"literally\s+|like\s+|a bunch of\s+|a pack of\s+|born\s+)*(?:animals|vermin|parasites|"
    r"sub-?human|savages|rats|cockroaches|pigs|dogs|apes|monkeys|scum|filth|trash|garbage|"
    r"a (?:disease|cancer|plague|virus)|inferior|evil|criminals|terrorists|rapists|thieves|"
    r"worthless|disgusting|not (?:really )?human|less than human|genetically \w+)\b"
    r"|should (?:all\s+)?(?:be\s+)?(?:killed|exterminated|eradicated|wiped out|gassed|hanged|"
    r"lynched|shot|burned|deported|sterili[sz]ed|(?:die|burn|go back)\b)"
    r"|deserve to (?:die|suffer)|(?:don'?t|do not) deserve (?:any )?(?:rights|to live)"
    r"|need to be (?:exterminated|eliminated|wiped out|eradicated|deported|gassed)"
)
_GROUPS_ZH = (
    r"(?:黑人|白人|黄种人|犹太人|穆斯林|回民|基督徒|同性恋|同志|女人|女性|男人|外地人|外国人|"
    r"河南人|东北人|上海人|新疆人|农村人|乡下人|农民工|残疾人|穷人|日本人|韩国人|美国人|印度人|"
    r"非洲人|黑鬼|基佬)"
)
_DEHUMANIZED_ZH = (
    r"(?:都是|就是|全是|全都是|天生就是|都|全都)(?:一群|一帮|一些|些)?(?:畜生|畜牲|垃圾|废物|"
    r"劣等|低等|下等|蛆|寄生虫|猪|狗|蟑螂|骗子|小偷|罪犯|恐怖分子|不是人|贱|该死)"
    r"|(?:都)?(?:该死|应该(?:被)?(?:杀光|消灭|赶出去|去死|滚出\w{0,4})|滚出(?:中国|我们\w{0,3})|"
    r"去死|不配(?:活着|做人|有人权))"
)
_DEHUMANIZING = gated(
    rf"\b{_GROUPS_EN}\s+(?:{_DEHUMANIZED_EN})|{_GROUPS_ZH}(?:{_DEHUMANIZED_ZH})", re.I
)
_REBUTTED = gated(
    r"\b(?:stereotypes?|myths?|false|untrue|not true|a lie|lies|propaganda|prejudice\w*|"
    r"misconceptions?)\b|刻板印象|偏见|谣言|误解|歧视",
    re.I,
)
_SENTENCE_BREAK = re.compile(r"[.!?。！？\n]")


def states_hate(text: str) -> bool:
    """Whether a sentence of ``text`` says a group of people is vermin, criminal or inferior,
    or should be killed or driven out, as a statement (not a question, not a rebuttal)."""
    breaks: list[int] | None = None  # where sentences end, once a statement is found
    for found in _DEHUMANIZING.finditer(text):  # gated: most texts hold none of its predicates
        if breaks is None:
            breaks = [m.end() for m in _SENTENCE_BREAK.finditer(text)]
        before = bisect.bisect_right(breaks, found.start())
        start = breaks[before - 1] if before else 0
        stop = _SENTENCE_BREAK.search(text, found.end())
        sentence = text[start : stop.end() if stop else len(text)]
        if sentence.rstrip().endswith(("?", "？", "吗")) or _REBUTTED.search(sentence):
            continue
        return True
    return False


# Abuse addressed to someone in Chinese: an insult said to 你, a threat to kill or hurt 你, a
# push to kill oneself. English has the offensive-language model (``offensive.py``: "You are
# a worthless idiot" 1.0, "I will kill you" 0.87); Chinese had one lexicon word at most
# (你这个傻逼 0.4, 我要杀了你全家 0.36). Each is read by its structure, not by the word
# alone: 你把垃圾倒了 and 废物回收 address no one.
_ZH_INSULT = (
    r"(?:傻逼|傻b|煞笔|沙比|蠢货|蠢猪|废物|垃圾|贱人|贱货|婊子|畜生|畜牲|王八蛋|混蛋|白痴|脑残|"
    r"智障|狗东西|人渣|杂种|狗娘养的|贱种|败类|猪脑子)"
)
# An insult word that goes on into a compound is none (你这个垃圾分类, 废物利用).
_ZH_INSULT_ENDS = r"(?=$|[^\u4e00-\u9fff]|[吧啊呀吗嘛啦了滚给赶快还就去别也又都能会在])"
_ZH_ABUSE: list[tuple[tuple[str, ...], Gated]] = [
    (
        ("harassment",),
        gated(
            r"(?:你们?(?:这个|这种|这群|这帮|这些|这)|你们?(?:真|就|简直|根本|纯粹|完全)?(?:就)?"
            r"是(?:个|一个|一群|一帮|一堆)?)"
            + _ZH_INSULT
            + _ZH_INSULT_ENDS
            + r"|"
            + _ZH_INSULT
            + r"[，,！!]?你们?(?:[，,。！!？?]|$)"
            + r"|你们?(?:怎么)?(?:还)?(?:不)?(?:赶紧|快|快点)?去死|去死吧你|死全家|你妈死了"
            r"|(?:操|草|肏|日)你(?:妈|大爷|全家|祖宗)|草泥马",
            re.I,
        ),
    ),
    (
        ("harassment", "violence"),
        gated(
            r"(?:我|老子|我们)(?:要|会|一定|迟早|早晚|非要|今天就|明天就|这就)?(?:去)?"
            r"(?:杀了|弄死|砍死|捅死|打死|宰了|干掉|杀掉|灭了|废了)(?:你|你们|你全家|你的家人|你家人)"
        ),
    ),
    (
        ("harassment", "self-harm"),
        gated(
            r"你们?[^。！？!?\n]{0,12}?(?:应该|不如|还是|干脆|赶紧|快|快点|最好)(?:去)?"
            r"(?:自杀|死了算了|跳楼|上吊|割腕)"
        ),
    ),
]


def abuse_categories(text: str) -> set[str]:
    """The categories of abuse addressed to someone in Chinese that ``text`` holds."""
    return {name for names, pattern in _ZH_ABUSE if pattern.search(text) for name in names}
