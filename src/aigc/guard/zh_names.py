"""Chinese person names without a context word: a surname model plus context, decided by a
small classifier.

Candidates: every surname in the text (``zh_lexicon.surnames``) with one or two following Han
characters (陈晓, 陈晓明; 欧阳娜, 欧阳娜娜), and stretches of characters typical of
transliterated names (克林顿, 布伦丹·林奇; one less typical character may sit between two
typical ones or at an end: 基里延科, 阿巴查), trimmed at either end. Role nouns (程序员, 工程师,
值班), places and organisations of jieba's dictionary (石家庄, 韩国), words CC-CEDICT gives only
as words (谢谢, 陈述, 胡萝卜; a name only after a form's label), given names holding a
function character (王的) and shops by what surrounds them (金拱门餐厅, 去全聚德吃烤鸭) are
never names. A logistic regression over hashed features scores
the rest: the surname and how much more often its characters are in names than in text, the
given-name characters, whether the candidate or a part of it is an ordinary word (王国, 周末,
高级 — jieba's dictionary), words across its edges (高级工|程师), the characters and words on
either side (说, 表示, 先生, titles, 、), the labels of forms (姓名, 我叫, 联系人), what the best
segmentation of the text into jieba's words pays for the span (a piece of ordinary words,
任教|后, costs little; a name costs much) and whether a transliteration runs on past an edge
(米卢廷|诺维奇). The best non-overlapping candidates above the threshold stored with the
weights are names; a surname followed by a form of address (陈|小姐, 胡|某) is the surname.

The weights and character statistics (``zh_names.npz``) are trained on generated sentences
only (``zh_names_train.py``: names from the Apache-2.0 names corpus and Faker put into openly
licensed Chinese text and templates written for this project), never on the MSRA sentences
that ``bench/pii_zh_names.py`` scores. Without the artifact, names are found after the labels
of forms only (the rule this model replaced).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from sklearn.feature_extraction import FeatureHasher

from aigc.guard import cn_regions, zh_lexicon

ARTIFACT = Path(__file__).with_name("zh_names.npz")
N_FEATURES = 2**18
_HAN = re.compile(r"[\u3400-\u9fff]{2,}")
_ANY_HAN = re.compile(r"[\u3400-\u9fff]")
_INTERPUNCTS = "·•‧・"
_DOTTED_RUN = re.compile(r"[\u3400-\u9fff]+(?:[·•‧・][\u3400-\u9fff]+)*")
FOREIGN_MIN = 2  # a character at least 4x as common in transliterated names as in text
_FORM_CONTEXT = re.compile(
    r"(?:姓名|名字|我叫|我是|联系人|收件人|客户|员工|经理|先生|女士|患者|申请人)[:：\s是为]*$"
)


@dataclass(frozen=True)
class CharStats:
    """How much more often a character is in names than in ordinary text: log2 of the ratio,
    rounded, for given-name characters and for surnames (陈 is mostly a surname, 高 mostly
    not). Computed from the training names and jieba's word frequencies, shipped in the
    artifact."""

    given: dict[str, int]
    surname: dict[str, int]
    foreign: dict[str, int]  # transliterated names (克林顿, 阿拉法特) against ordinary text


@dataclass(frozen=True)
class Candidate:
    start: int
    end: int
    surname: int  # length of the surname, 1 or 2; 0 for a transliterated name


def candidates(text: str, stats: CharStats) -> list[Candidate]:
    """Surname + one or two Han characters, inside a run of Han characters; and stretches of
    characters typical of transliterated names (with · between parts), trimmed by up to two
    characters at either end so the model can choose the edges."""
    out = _chinese_candidates(text)

    def typical(k: int) -> bool:
        return stats.foreign.get(text[k], -9) >= FOREIGN_MIN

    def possible(k: int) -> bool:  # not rarer in transliterations than in text, or unseen
        return stats.foreign.get(text[k], 0) >= 0

    for run in _DOTTED_RUN.finditer(text):
        i = run.start()
        while i < run.end():
            j = i
            while j < run.end() and (
                typical(j)
                or (text[j] in _INTERPUNCTS and j > i and j + 1 < run.end())
                # one less typical character between two typical ones: 基里|延|科, 皮尔|庞|特
                or (j > i and j + 1 < run.end() and possible(j) and typical(j + 1))
            ):
                j += 1
            if j - i >= 2:
                # One less typical character at either end may belong to it too: 阿巴|查,
                # 施|瓦茨 (the model chooses the edges among the trimmed spans).
                lo = i - 1 if i > run.start() and possible(i - 1) else i
                hi = j + 1 if j < run.end() and possible(j) else j
                out += _trimmed(text, lo, hi)
            i = max(j, i + 1)
    return out


def _trimmed(text: str, lo: int, hi: int) -> list[Candidate]:
    out = []
    for a in range(lo, min(lo + 3, hi)):
        for b in range(hi, max(hi - 3, a), -1):
            if b - a >= 2 and text[a] not in _INTERPUNCTS and text[b - 1] not in _INTERPUNCTS:
                out.append(Candidate(a, b, 0))
    return out


def _chinese_candidates(text: str) -> list[Candidate]:
    names = zh_lexicon.surnames()
    out: list[Candidate] = []
    for run in _HAN.finditer(text):
        lo, hi = run.span()
        for i in range(lo, hi - 1):
            if text[i : i + 2] in names:
                out.extend(Candidate(i, i + n, 2) for n in (3, 4) if i + n <= hi)
            if text[i] in names:
                out.extend(Candidate(i, i + n, 1) for n in (2, 3) if i + n <= hi)
    return out


def _char_class(ch: str) -> str:
    if not ch or ch in "^$":
        return "edge"
    if "\u3400" <= ch <= "\u9fff":
        return "han"
    if ch.isdigit():
        return "digit"
    if ch.isascii() and ch.isalpha():
        return "latin"
    if ch.isspace():
        return "space"
    return "punct"


class _Scan:
    """Per-text lookups shared by all candidates: the ordinary words starting at each position."""

    def __init__(self, text: str, stats: CharStats) -> None:
        self.text = text
        self.stats = stats
        self.lex = zh_lexicon.words()
        self._starts: dict[int, list[tuple[int, int]]] = {}
        self._roles: dict[int, list[int]] = {}
        self.left: dict[int, list[str]] = {}  # context features by start, then by end
        self.right: dict[int, list[str]] = {}
        self.countries = [m.span() for m in zh_lexicon.countries().finditer(text)]
        self._segments: tuple[list[float], list[float]] | None = None
        self._words_over: list[tuple[int, int]] | None = None

    def segments(self) -> tuple[list[float], list[float]]:
        """Best-segmentation costs (bits, jieba's word counts as a unigram model, people left
        out): ``head[i]`` of the text before ``i``, ``tail[j]`` of the text from ``j``. A span
        the best reading covers with frequent words costs little (任教|后); a name, a run of
        characters no word holds, costs much (队医|郑|伟|违反)."""
        if self._segments is None:
            self._segments = _segment_costs(self.text, self.lex)
        return self._segments

    def words_over(self) -> list[tuple[int, int]]:
        """Spans of the words of three or more characters CC-CEDICT gives as words, places
        or brands only (``zh_lexicon.not_names``: 香格里拉, 王府井, 张家口, 胡萝卜)."""
        if self._words_over is None:
            words, text = zh_lexicon.not_names(), self.text
            self._words_over = [
                (i, i + n)
                for i in range(len(text))
                for n in range(3, 7)
                if i + n <= len(text) and text[i : i + n] in words
            ]
        return self._words_over

    def starts(self, i: int) -> list[tuple[int, int]]:
        """(length, frequency bucket) of each ordinary word starting at ``i``."""
        found = self._starts.get(i)
        if found is None:
            bucket = self.lex.bucket
            found = [
                (n, bucket[self.text[i : i + n]])
                for n in range(2, self.lex.longest + 1)
                if i + n <= len(self.text) and self.text[i : i + n] in bucket
            ]
            self._starts[i] = found
        return found

    def word(self, value: str) -> int | None:
        return self.lex.bucket.get(value)

    def roles_from(self, i: int) -> list[int]:
        """Lengths of the role nouns starting at ``i``."""
        found = self._roles.get(i)
        if found is None:
            roles, text = self.lex.roles, self.text
            found = [n for n in range(2, 9) if i + n <= len(text) and text[i : i + n] in roles]
            self._roles[i] = found
        return found

    def role_ending_at(self, j: int) -> bool:
        return any(self.text[j - n : j] in self.lex.roles for n in range(2, 5) if j - n >= 0)


def _segment_costs(text: str, lex: zh_lexicon.Words) -> tuple[list[float], list[float]]:
    n, cost = len(text), lex.cost
    single = [cost.get(ch, lex.unknown) if "\u3400" <= ch <= "\u9fff" else 0.0 for ch in text]
    words: list[list[tuple[int, float]]] = [[] for _ in range(n)]  # (end, cost) from each i
    for i in range(n):
        if single[i]:
            for j in range(i + 2, min(n, i + lex.longest) + 1):
                c = cost.get(text[i:j])
                if c is not None:
                    words[i].append((j, c))
    head = [math.inf] * (n + 1)
    head[0] = 0.0
    for i in range(n):
        here = head[i]
        if here + single[i] < head[i + 1]:
            head[i + 1] = here + single[i]
        for j, c in words[i]:
            if here + c < head[j]:
                head[j] = here + c
    tail = [0.0] * (n + 1)
    for i in range(n - 1, -1, -1):
        best = single[i] + tail[i + 1]
        for j, c in words[i]:
            if c + tail[j] < best:
                best = c + tail[j]
        tail[i] = best
    return head, tail


def _segment_features(scan: _Scan, a: int, b: int) -> list[str]:
    """What the best ordinary reading pays for the span (bits per character, given cuts at
    its edges) and what cutting at each edge costs it."""
    head, tail = scan.segments()
    best = tail[0]
    inside = (best - head[a] - tail[b]) / (b - a)
    cut_a = head[a] + tail[a] - best
    cut_b = head[b] + tail[b] - best
    return [
        f"seg={min(int(inside), 20)}|{min(b - a, 5)}",
        f"cuta={min(int(cut_a / 2), 8)}",
        f"cutb={min(int(cut_b / 2), 8)}",
    ]


def is_role(scan: _Scan, c: Candidate) -> bool:
    """A role noun that starts the candidate and covers it (程序员, 值班|员), ends it (王经理) or
    starts inside it and runs on, three characters or more (高级工|程师). A two-character one
    running on (李建华|工作 with 华工) does not count: given names end in such characters."""
    if any(n >= c.end - c.start for n in scan.roles_from(c.start)):
        return True
    for j in range(c.start + 1, c.end):
        if any(j + n == c.end or (j + n > c.end and n >= 3) for n in scan.roles_from(j)):
            return True
    return False


# Particles and place words that follow a word, never end a name after one (谢谢啦, 陈述中).
_AFTER_A_WORD = frozenset("啦呀吧啊呢嘛了们的地得着过中里上下内外性您你")
# Adverbs that today's given names do not use (none of Faker's, none of MSRA's names; a few
# in a thousand historical ones): after a noun that is also a surname they start its predicate
# (汤|都凉了, 汤|还行, 汤|不错, 车|都停在路边).
_ADVERBS = frozenset("都还很没也就不")
# 太 ("too") before an adjective of taste, size, price, distance or state, or before 不, 没
# and 了: 汤|太咸, 边|太宽, 商家|太不负责. Names hold 太 before other characters (张太雷, 李太白).
_TOO = re.compile(r"太[咸淡少多宽窄厚薄贵慢快硬软冷热辣甜酸油腻差难远近吵脏旧挤短重烂稀晚不没了]")
# An approximate number: 多 or 余 after a numeral (1000多米, 二十余人), not a surname nor the
# start of a transliteration (多米).
_APPROXIMATE = re.compile(r"[0-9０-９十百千万][多余]")
# Places to stay and brands after a span make it one of them (凯宾斯基饭店, 莫泰168 stays the
# model's), as does checking in before it (入住索菲特); no MSRA name is followed or preceded so.
_LODGING_AFTER = re.compile(r"(?:大?酒店|饭店|宾馆|酒馆|旅馆|客栈|度假村|品牌|集团)")
_LODGING_BEFORE = re.compile(r"(?:入住|下榻|住进)$")
# So does a shop, a restaurant or a brand's mark after it (金拱门门店, 全聚德烤鸭店, 某某牌),
# unless a role follows (店长, 店员: the person who runs it). A bare 店 or 公司 does not: a
# person's shop or firm is said so too (王伟店里, 张伟公司的人). No name of the MSRA tune half
# is followed by any of them.
_BUSINESS_AFTER = re.compile(
    r"(?:门店|分店|总店|餐厅|餐馆|饭馆|酒楼|食府|商行|商店|商场|超市|连锁|牌)"
)
# Going somewhere, or being there, to eat, drink or buy: 去|全聚德|吃烤鸭, 在|金拱门|吃了早餐.
# A person can stand there only as the subject of a time clause or before a relative one
# (在王伟吃饭的时候, 在王伟买的房子里), so after 在 the clause may hold neither 的 nor 时, 后,
# 前; 去, 到 and 在 must be words of their own (过去, 现在, 看到 are not).
_GOING = frozenset("去到在")
_TO_CONSUME = re.compile(r"(?:吃|喝|买|用餐|就餐|点餐|聚餐|排队|消费|打包)")
_CLAUSE = re.compile(r"[^，。！？；,.!?;\s]*")
# What ends the name of a street, a station, a temple or a building (武定路, 龙阳站, 华严寺,
# 于谦祠, 秦堰楼): no given name of Faker's or MSRA's ends so (城, 岛 and 苑 do).
_PLACE_ENDS = frozenset("路街站寺祠庙巷湖楼桥馆")
IMPLAUSIBLE = -6  # a given-name character 64x rarer in names than in text: 的, 了, 们, 等
EVERYDAY = 10  # log2 frequency bucket of jieba's everyday words (about 1,000 and more)


def kept(scan: _Scan, c: Candidate) -> bool:
    """Candidates the model never sees: role nouns (``is_role``), places and organisations of
    jieba's dictionary (莫斯科, 韩国) and of GB/T 2260 (石家庄), spans inside a country's name
    (乌克兰, 陶宛 of 立陶宛: Faker's list of countries), candidates starting with an
    everyday or a time word (高级, 周五), and given names holding a function character. They
    are a fifth of all candidates: none is a name on the MSRA tune half. Since 2026-12-06
    also pieces of a longer word, place or brand (格里拉 of 香格里拉) and what
    ``_place_number_or_phrase`` reads."""
    name = scan.text[c.start : c.end]
    if is_role(scan, c) or scan.lex.proper.get(name) in ("ns", "nt") or name in cn_regions.places():
        return False
    # 谢谢, 陈述, 华为, 谷歌 (and 谢谢|啦, 陈述|中): a word or a brand, unless a form names it
    word = name[:-1] if name[-1] in _AFTER_A_WORD else name
    form = _FORM_CONTEXT.search(scan.text, max(0, c.start - 8), c.start)  # 姓名：高峰
    if word in zh_lexicon.not_names() and not form:
        return False
    if not form and any(
        a <= c.start and c.end <= b and b - a > c.end - c.start for a, b in scan.words_over()
    ):  # 格里拉 of 香格里拉, 张家 of 张家口
        return False
    if any(a <= c.start and c.end <= b for a, b in scan.countries):  # 乌克兰, 陶宛 of 立陶宛
        return False  # (罗马里奥 holds 马里 and 法赫德|国王 crosses 德国: they stay)
    if c.surname == 1:  # starts with an everyday or a time word (高级, 和平, 周五)
        head = name[:2]
        if head in scan.lex.times or (
            scan.lex.bucket.get(head, 0) >= EVERYDAY and head not in scan.lex.person2
        ):
            return False
    if _place_number_or_phrase(scan, c, name):
        return False
    given = name[c.surname :] if c.surname else ""
    return all(scan.stats.given.get(ch, 0) > IMPLAUSIBLE for ch in given)


def _place_number_or_phrase(scan: _Scan, c: Candidate, name: str) -> bool:
    """What the words in and around a candidate say it is instead of a name (informal text,
    2026-12-06): a hotel (凯宾斯基饭店, 入住索菲特), a shop, a restaurant or a brand
    (全聚德烤鸭店, 去全聚德吃烤鸭, 某某牌), an approximate number (1000多米), a named street or
    building (武定路, 华严寺), or a noun before its predicate (汤|太咸, 汤|都凉了)."""
    text = scan.text
    if (
        _LODGING_AFTER.match(text, c.end)
        or _LODGING_BEFORE.search(text, max(0, c.start - 2), c.start)
        or (c.start and _APPROXIMATE.match(text, c.start - 1))
        or _shop_after(scan, c)
        or _gone_to_consume(scan, c)
    ):
        return True
    if (
        c.end < len(text)
        and text[c.end] in _PLACE_ENDS
        and text[c.end] != "站"  # 王玉梅|站在: also to stand
        and not scan.starts(c.end)
    ):
        return True  # 武定|路, 华严|寺 (but 王明|路线, 茅以升|桥梁: a word starts there)
    return c.surname > 0 and bool(
        name[-1] in _PLACE_ENDS
        or any(ch in _ADVERBS for ch in name[c.surname :])
        or _TOO.search(text[c.start + c.surname : c.end + 1])
    )


def _shop_after(scan: _Scan, c: Candidate) -> bool:
    """金拱门|门店, 金拱门|餐厅, 李宁|牌, and a common noun before 店 (what is sold there):
    全聚德|烤鸭店, 黄振龙|凉茶店; not a verb (王伟|回到店里) nor a time word (王伟|今天店里)."""
    text, end = scan.text, c.end
    if scan.roles_from(end):  # 店长, 店员
        return False
    if _BUSINESS_AFTER.match(text, end):
        return True
    return any(
        text[end + n : end + n + 1] == "店" and text[end : end + n] in scan.lex.goods
        for n, _ in scan.starts(end)
    )


def _gone_to_consume(scan: _Scan, c: Candidate) -> bool:
    """去|全聚德|吃烤鸭, 到|金拱门|买, 在|金拱门|吃了早餐: the span is where one eats or buys."""
    text, going = scan.text, scan.text[c.start - 1 : c.start]
    if not going or going not in _GOING or not _TO_CONSUME.match(text, c.end):
        return False
    word = scan.word(text[c.start - 2 : c.start]) if c.start >= 2 else None
    # 过去, 现在, 看到, 轮到: not going there; but a rare word ending in 去 still goes (想去, 先去)
    if word is not None and (going != "去" or word >= 5):
        return False
    if going == "在":
        clause = _CLAUSE.match(text, c.end)
        rest = clause.group() if clause else ""
        if any(ch in rest for ch in "的时后前"):
            return False  # 在王伟吃饭的时候, 在王伟买的房子里
    return True


def features(scan: _Scan, c: Candidate) -> list[str]:
    name = scan.text[c.start : c.end]
    fr = [scan.stats.foreign.get(ch, -9) for ch in name if ch not in _INTERPUNCTS]
    context = _context_features(scan, c.start, c.end)
    if c.surname == 0:  # the two kinds weigh their context apart
        return _foreign_features(name, fr) + ["F:" + f for f in context]
    out = _chinese_features(scan, name, c.surname)
    out.append(f"fmin={min(fr)}|{len(name)}")  # 罗纳尔 of 罗纳尔多 looks foreign
    return out + context


def _foreign_features(name: str, fr: list[int]) -> list[str]:
    parts = sum(ch in _INTERPUNCTS for ch in name) + 1
    length = min(len(name) - parts + 1, 8)
    return [
        "bias",
        "foreign",
        f"flen={length}",
        f"fmin={min(fr)}",
        f"fmean={round(sum(fr) / len(fr))}",
        f"parts={min(parts, 3)}",
        f"fa={name[0]}",
        f"fz={name[-1]}",
        f"fsur={name[0] in zh_lexicon.surnames()}",
    ]


def _chinese_features(scan: _Scan, name: str, k: int) -> list[str]:
    surname, given = name[:k], name[k:]
    freq = zh_lexicon.surnames()[surname]
    shape = f"{k}{len(given)}"
    out = ["bias", f"shape={shape}", f"s={surname}", f"sf={int(math.log2(freq))}|{shape}"]
    ratios = [scan.stats.given.get(ch) for ch in given]
    out.append(f"sr={scan.stats.surname.get(surname)}")
    out += [f"gr{i}={r}|{shape}" for i, r in enumerate(ratios)]
    known = [r for r in ratios if r is not None]
    out.append(f"grmin={min(known) if len(known) == len(ratios) else None}|{shape}")
    if len(given) == 1:
        out.append(f"g1={given}")
    else:
        out += [f"ga={given[0]}", f"gb={given[1]}"]
        out.append(f"gg={scan.word(given)}")
        out.append(f"sg={scan.word(surname + given[0]) if k == 1 else None}")
    cw = scan.word(name)
    out.append(f"cw={cw}|{shape}")
    if name in scan.lex.person2:
        out.append(f"cp={cw}")
    return out


def _context_features(scan: _Scan, a: int, b: int) -> list[str]:
    """What surrounds the span: words across its edges, the characters and words beside it,
    role nouns and form labels. The parts that depend on one edge only are computed once per
    edge (two candidates start at each surname)."""
    text = scan.text
    n = min(b - a, 5)
    if a not in scan.left:
        scan.left[a] = _left_features(scan, a)
    if b not in scan.right:
        scan.right[b] = _right_features(scan, b)
    # Ordinary words across the right edge: 高级工|程师.
    right = [f for j in range(a + 1, b) for m, f in scan.starts(j) if j + m > b]
    l1 = text[a - 1] if a else "^"
    r1 = text[b] if b < len(text) else "$"
    left_class, right_class = _char_class(l1), _char_class(r1)
    foreign = scan.stats.foreign
    return [
        *scan.left[a],
        *scan.right[b],
        f"ck={scan.lex.proper.get(text[a:b])}",
        f"cwall={scan.word(text[a:b])}|{n}",
        f"xr={max(right, default=-1)}",
        f"xr={max(right, default=-1)}|{n}",
        f"lrc={left_class}|{right_class}|{n}",
        *_segment_features(scan, a, b),
        # A transliteration running on past an edge: 米卢廷|诺维奇 is cut short.
        f"fprev={foreign.get(l1, -9) if left_class == 'han' else None}",
        f"fnext={foreign.get(r1, -9) if right_class == 'han' else None}",
    ]


def _left_features(scan: _Scan, a: int) -> list[str]:
    text = scan.text
    # Ordinary words across the left edge: 提|高明.
    left = [f for j in range(max(0, a - 3), a) for m, f in scan.starts(j) if a < j + m]
    l1 = text[a - 1] if a else "^"
    out = [f"xl={max(left, default=-1)}", f"l1={l1}", f"l2={text[max(0, a - 2) : a]}"]
    out.append(f"lc={_char_class(l1)}")
    lw = next(
        (text[j:a] for j in range(max(0, a - 4), a - 1) if scan.word(text[j:a]) is not None), ""
    )
    if lw:
        out.append(f"lw={lw}")
    if scan.role_ending_at(a):
        out.append("role_before")
    if _FORM_CONTEXT.search(text, max(0, a - 8), a):
        out.append("form_context")
    return out


def _right_features(scan: _Scan, b: int) -> list[str]:
    text = scan.text
    r1 = text[b] if b < len(text) else "$"
    out = [f"r1={r1}", f"r2={text[b : b + 2]}", f"rc={_char_class(r1)}"]
    rw = max(((m, text[b : b + m]) for m, _ in scan.starts(b)), default=(0, ""))[1]
    if rw:
        out.append(f"rw={rw}")
    if scan.roles_from(b):
        out.append("role_after")
    return out


def _hasher() -> FeatureHasher:
    return FeatureHasher(n_features=N_FEATURES, input_type="string", alternate_sign=False)


@dataclass(frozen=True)
class Model:
    weights: np.ndarray
    intercept: float
    threshold: float
    stats: CharStats


@cache
def _model() -> Model | None:
    """The weights, the decision threshold chosen on held-out generated sentences and the
    character statistics."""
    if not ARTIFACT.exists():
        return None
    with np.load(ARTIFACT, allow_pickle=False) as data:
        given = dict(zip(data["given_chars"].tolist(), data["given_ratio"].tolist(), strict=True))
        surname = dict(
            zip(data["surname_chars"].tolist(), data["surname_ratio"].tolist(), strict=True)
        )
        foreign = dict(
            zip(data["foreign_chars"].tolist(), data["foreign_ratio"].tolist(), strict=True)
        )
        return Model(
            weights=data["weights"].astype(np.float32),
            intercept=float(data["intercept"]),
            threshold=float(data["threshold"]),
            stats=CharStats(given=given, surname=surname, foreign=foreign),
        )


_loaded = False  # the artifact and jieba's dictionary have been read (by the first Han text)


def would_load(text: str) -> bool:
    """Whether scoring ``text`` would first read the artifact and jieba's dictionary (about a
    second, once per process): the gateway keeps such a scan off the event loop."""
    return not _loaded and _ANY_HAN.search(text) is not None


def scored(text: str) -> list[tuple[Candidate, float]]:
    """Each kept candidate with the model's probability of being a name (without the
    artifact: 1.0 after the label of a form, else nothing). Text without a Han character
    (every candidate has two) loads neither the artifact nor jieba's dictionary."""
    if not _ANY_HAN.search(text):
        return []
    model = _model()
    stats = model.stats if model else CharStats({}, {}, {})
    proposed = candidates(text, stats)
    if not proposed:
        return []
    scan = _Scan(text, stats)
    cands = [c for c in proposed if kept(scan, c)]
    global _loaded
    _loaded = True
    if model is None:
        found = [c for c in cands if _FORM_CONTEXT.search(text, max(0, c.start - 8), c.start)]
        return [(c, 1.0 if c.end - c.start == 3 else 0.9) for c in found]
    if not cands:
        return []
    x = _hasher().transform(features(scan, c) for c in cands)
    logits = np.clip(x @ model.weights + model.intercept, -30.0, 30.0)
    return list(zip(cands, (1 / (1 + np.exp(-logits))).tolist(), strict=True))


def threshold() -> float:
    model = _model()
    return model.threshold if model is not None else 0.5


def find(text: str, min_probability: float | None = None) -> list[tuple[int, int, float]]:
    """(start, end, probability) of each name the model finds above the threshold."""
    cut = threshold() if min_probability is None else min_probability
    return decode(text, scored(text), cut)


def decode(
    text: str, candidates: Iterable[tuple[Candidate, float]], cut: float
) -> list[tuple[int, int, float]]:
    """The names among scored candidates: the most probable ones at or above ``cut`` that do
    not overlap (ties in candidate order); a surname followed by a form of address is that
    surname alone (周|总理). The trainer picks its threshold with this same decoding."""
    taken = bytearray(len(text))  # characters already in a chosen name
    chosen: list[tuple[int, int, float]] = []
    for c, p in sorted(candidates, key=lambda cp: -cp[1]):
        if p < cut:
            break
        if not any(taken[c.start : c.end]):
            taken[c.start : c.end] = b"\x01" * (c.end - c.start)
            end = c.end
            if c.surname and _ADDRESS.match(text, c.start + c.surname):
                end = c.start + c.surname  # 陈|小姐
            chosen.append((c.start, end, p))
    return sorted(chosen)


# Forms of address after a bare surname: 周总理, 江总书记, 陈小姐, 李大娘, 胡某, 杜氏, 侯老.
# The person is named by the surname, as "Mr. Chen" is by "Chen".
_ADDRESS = re.compile(
    "总理|总书记|总统|主席|委员长|书记|省长|市长|县长|部长|局长|处长|科长|厂长|校长|院长|"
    "经理|主任|老板|老总|老师|老|教授|医生|大夫|师傅|同志|先生|小姐|女士|太太|夫人|大娘|"
    "大妈|大姐|大爷|大伯|大叔|大嫂|阿姨|妈妈|某|氏"
)
