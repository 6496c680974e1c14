"""Chinese personal data: resident IDs, credit codes, mobiles, names and addresses; the
identity card numbers of Taiwan and Hong Kong.

Resident IDs (GB 11643: 18 characters with an ISO 7064 check character, a real birth date and
a region code GB/T 2260 ever issued, ``cn_regions.py``) and unified social credit codes
(GB 32100, python-stdnum) are checked, so invalid numbers are not reported. Mobiles are 11
digits starting 1[3-9] (optionally +86), with or without separators. Names need a context word
(姓名, 我叫, 联系人 …) and a common surname; addresses a province/city/district/road/number
sequence, starting at the place name, not at the words before it (送到了, 还有).
``pii.detect`` hands each recognizer the text read in simplified characters with full-width
forms folded, so 陳曉明 and 臺北市信義區 are found as 陈晓明 and 台北市信义区 are.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

from stdnum import luhn
from stdnum.cn import ric, uscc

from aigc.guard import cn_regions, zh_names

if TYPE_CHECKING:
    from aigc.guard.pii import Finding

_RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_RESIDENT_ID_SHAPE = re.compile(r"\d{17}[\dX]")
_USCC = re.compile(r"(?<![0-9A-Z])[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}(?![0-9A-Z])")
_MOBILE = re.compile(r"(?<![\d+])(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)")
# A mainland licence plate (GA 36-2018): the province's one-character name, the issuing
# office's letter, then five symbols (six for a new-energy vehicle), letters without I and O,
# at least three of them digits; a learner's, trailer's or police car's plate ends in 学, 挂
# or 警 after four. 京A·12345, 粤B 8Q88D, 沪AD12345, 苏E1234学. A plate identifies its owner
# through the vehicle register (personal information under PIPL).
_PLATE = re.compile(
    r"(?<![A-Za-z0-9])[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼]"
    r"[A-HJ-NP-Z][·•‧・\s-]?(?=(?:[A-HJ-NP-Z]*\d){3})"
    r"(?:[A-HJ-NP-Z0-9]{5,6}|[A-HJ-NP-Z0-9]{4}[学挂警港澳])(?![A-Za-z0-9])"
)
# Messaging accounts, which reach one person as a phone number does. A WeChat ID (微信号) is
# 6–20 letters, digits, "_" and "-" that start with a letter ("wxid_…" for one never chosen);
# a QQ number is 5–11 digits from 10000. Both only right after their name: 微信号, 微信,
# 加微 and the chat spellings v信, 薇信, vx, wx ("WeChat ID" in English); QQ, QQ号, 扣扣. A
# bare 微信 / vx / wx followed by a plain word ("微信 official account", "wx Frame") names no
# account: after those the ID must hold a digit, "_" or "-", unless 号/ID/账号, 是 or a colon
# says an account follows. A QQ group's number (QQ群) is a group's.
_WECHAT = re.compile(
    r"(?:(?P<named>微信(?:号|账号|帐号|id)|wechat\s*id)|(?P<bare>微信|加微|v信|薇信|"
    r"(?<![A-Za-z0-9_.])(?:vx|wx)(?![A-Za-z0-9_.])))"
    r"(?P<said>\s*(?:是|为|[:：]))?\s*"
    r"(?P<id>[A-Za-z][-_A-Za-z0-9]{5,19})(?![-_A-Za-z0-9@.])",
    re.I,
)
_QQ = re.compile(
    r"(?<![A-Za-z])(?:QQ|扣扣)(?:号码?|账号|帐号)?(?:\s*(?:是|为|[:：]))?\s*"
    r"(?P<number>[1-9]\d{4,10})(?![\d@.])",
    re.I,
)

# Province, city, district, the road (and its section: 天府大道北段), the number, then what
# says where in it: a compound (27号院), a named building or estate (华星时代广场), buildings,
# units, floors and rooms (3号楼2单元501室, A座1203: a bare room number only after such a
# part, not 478号2023年). The last are what finds one household; until 2026-12-06 the match
# stopped at 院, 号楼, 座 or a bare room number and left them shown.
_ADDRESS = re.compile(
    r"(?:[\u4e00-\u9fff]{2,7}(?:省|自治区))?(?:[\u4e00-\u9fff]{2,7}市)?"
    r"(?:[\u4e00-\u9fff]{1,7}(?:区|县))?[\u4e00-\u9fff0-9]{1,12}(?P<road>路|街|大道|巷|道|弄)"
    r"(?:[东西南北中]段|[一二三四五六七八九十]段)?"
    r"(?:[0-9一二三四五六七八九十百]+号)(?:大?院|楼|栋|幢)?"
    r"(?:[\u4e00-\u9fffA-Za-z0-9]{1,10}?(?:广场|大厦|中心|花园|小区|公寓|大楼|家园|苑|园区))?"
    r"(?:(?:[0-9A-Za-z一二三四五六七八九十]+(?:号楼|栋|幢|座|楼|单元|室|层|户))+"
    r"(?:[0-9]{3,5}(?![0-9]))?)?"
)


_EARLIEST_BIRTH = dt.date(1900, 1, 1)


def resident_id_valid(value: str, today: dt.date | None = None) -> bool:
    """GB 11643: 17 digits and an ISO 7064 MOD 11-2 check character, a real birth date from
    1900 to today, and a region code GB/T 2260 ever issued. (Not the codes of the birth year:
    an ID keeps the code of the place that issued it, retired or created later.)"""
    value = value.upper()
    if not _RESIDENT_ID_SHAPE.fullmatch(value) or value[:6] not in cn_regions.codes():
        return False
    try:
        born = ric.get_birth_date(value)
    except ValueError:  # stdnum's InvalidComponent: no such date
        return False
    if not _EARLIEST_BIRTH <= born <= (today or dt.date.today()):
        return False
    return ric.calc_check_digit(value) == value[17]


_CARD_CONTEXT = re.compile(r"卡|账户|账号|银行|card|account", re.I)
_USCC_CONTEXT = re.compile(r"信用代码|企业|公司|机构|税号|credit code|company", re.I)


def _card_context(text: str, start: int) -> bool:
    before = text[max(0, start - 15) : start]  # in simplified characters (pii.detect)
    return bool(_CARD_CONTEXT.search(before)) and not _USCC_CONTEXT.search(before)


_ADDRESS_LEAD = re.compile(
    r"^(?:请|麻烦)?(?:[我你他她它]们?|公司|客户|家)?(?:现在|目前)?(?:住在|住址是|地址是|地址为|位于|寄到|送到|搬到|在)"
)


def find_resident_ids(text: str) -> Iterable[Finding]:
    from aigc.guard.pii import Finding

    for m in _RESIDENT_ID.finditer(text):
        if resident_id_valid(m.group()):
            yield Finding("CN_RESIDENT_ID", m.start(), m.end(), m.group(), 93)


def find_uscc(text: str) -> Iterable[Finding]:
    from aigc.guard.pii import Finding

    for m in _USCC.finditer(text):
        value = m.group()
        if value.isdigit() and luhn.is_valid(value) and _card_context(text, m.start()):
            continue  # 1 in 31 digit strings passes the USCC check: a card, by its context
        if uscc.is_valid(value):
            yield Finding("CN_USCC", m.start(), m.end(), m.group(), 92)


# Taiwan's national ID (身分證字號): a letter for the place of first registration, 1 or 2,
# eight digits, the last a check digit over the letter's two-digit code and the rest. Letter
# codes: A=10 … H=17, I=34, J=18 … N=22, O=35, P=23 … V=29, W=32, X=30, Y=31, Z=33.
_TW_ID = re.compile(r"(?<![A-Za-z0-9])[A-Z][12]\d{8}(?![A-Za-z0-9])")
_TW_LETTER = dict(zip("ABCDEFGHJKLMNPQRSTUVXYWZIO", range(10, 36), strict=True))
_TW_WEIGHTS = (1, 9, 8, 7, 6, 5, 4, 3, 2, 1, 1)
# Hong Kong's identity card: one or two letters, six digits and a check character (0–9 or A),
# written in brackets: A123456(3).
_HK_ID = re.compile(
    r"(?<![A-Za-z0-9])([A-Z]{1,2})(\d{6})\s?(?:\(([0-9A])\)|（([0-9A])）|([0-9A]))(?![A-Za-z0-9])"
)
# The number alone is too short a pattern to be sure of (product codes have its shape): a Taiwan
# ID, or a Hong Kong one written without its brackets, needs such a word near it (the text is
# read in simplified characters: 身分證 is 身分证 here).
_ID_CARD_CONTEXT = re.compile(
    r"身分证|身份证|国民身分|统一证号|证件|hkid|identity card|id card|national id|id no|id number",
    re.I,
)


def tw_id_valid(value: str) -> bool:
    """A Taiwan national ID's check digit holds."""
    code = _TW_LETTER.get(value[:1])
    if code is None or not value[1:].isdigit() or len(value) != 10:
        return False
    digits = [code // 10, code % 10, *(int(d) for d in value[1:])]
    return sum(w * d for w, d in zip(_TW_WEIGHTS, digits, strict=True)) % 10 == 0


def hk_id_valid(letters: str, digits: str, check: str) -> bool:
    """A Hong Kong identity card's check character holds (a single letter counts as a space
    before it, value 36)."""
    values = [36 if len(letters) == 1 else ord(letters[0]) - 55]
    values += [ord(letters[-1]) - 55, *(int(d) for d in digits)]
    total = sum(w * v for w, v in zip(range(9, 1, -1), values, strict=True))
    expected = (11 - total % 11) % 11
    return check == ("A" if expected == 10 else str(expected))


def find_tw_ids(text: str) -> Iterable[Finding]:
    from aigc.guard.pii import Finding, near_context

    for m in _TW_ID.finditer(text):
        if tw_id_valid(m.group()) and near_context(text, m.start(), m.end(), _ID_CARD_CONTEXT, 30):
            yield Finding("TW_ID_NUMBER", m.start(), m.end(), m.group(), 93)


def find_hk_ids(text: str) -> Iterable[Finding]:
    from aigc.guard.pii import Finding, near_context

    for m in _HK_ID.finditer(text):
        bracketed = m.group(3) or m.group(4)
        check = bracketed or m.group(5)
        if not hk_id_valid(m.group(1), m.group(2), check):
            continue
        if bracketed or near_context(text, m.start(), m.end(), _ID_CARD_CONTEXT, 30):
            yield Finding("HK_ID_NUMBER", m.start(), m.end(), m.group(), 93)


def find_mobiles(text: str) -> Iterable[Finding]:
    from aigc.guard.pii import Finding

    for m in _MOBILE.finditer(text):
        yield Finding("CN_MOBILE", m.start(), m.end(), m.group(), 70)


def find_licence_plates(text: str) -> Iterable[Finding]:
    from aigc.guard.pii import Finding

    for m in _PLATE.finditer(text):
        yield Finding("CN_LICENSE_PLATE", m.start(), m.end(), m.group(), 75)


def find_wechat_ids(text: str) -> Iterable[Finding]:
    from aigc.guard.pii import Finding

    for m in _WECHAT.finditer(text):
        account = m.group("id")
        if m.group("bare") and not m.group("said") and not re.search(r"[\d_-]", account):
            continue  # "微信 official account": a word, not an account
        yield Finding("CN_WECHAT_ID", m.start("id"), m.end("id"), account, 70)


def find_qq_numbers(text: str) -> Iterable[Finding]:
    from aigc.guard.pii import Finding

    for m in _QQ.finditer(text):
        yield Finding("CN_QQ_NUMBER", m.start("number"), m.end("number"), m.group("number"), 70)


def find_persons(text: str) -> Iterable[Finding]:
    from aigc.guard.pii import Finding

    for start, end, _ in zh_names.find(text):
        yield Finding("CN_PERSON", start, end, text[start:end], 45)


# jieba's part-of-speech tags that no word of a place name carries: verbs, prepositions,
# conjunctions, particles, adverbs, pronouns, modal particles, interjections, onomatopoeia.
_NOT_OF_A_PLACE = frozenset(
    {"v", "vd", "p", "c", "u", "ud", "ug", "uj", "ul", "uv", "uz", "d", "r", "rr", "rz", "y"}
    | {"e", "o"}
)


@cache
def _tagger() -> Any:  # jieba.posseg, quiet: jieba logs its dictionary's loading at INFO
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    return jieba.posseg


def _place_name_start(words: str) -> int:
    """Where a place name starts in ``words``, the text before a road's 路 or 街: after the last
    word no place name holds (送到 了 在 还有 的 把), by jieba's tags of the text in simplified
    characters. The word right before 路 always stays: road names are made of verbs too
    (解放路, 建国路)."""
    from aigc.infra.canonical_text import simplified_in_place

    tagged = [(w.word, w.flag) for w in _tagger().cut(simplified_in_place(words))]
    if not tagged:
        return 0
    kept = len(tagged[-1][0])
    for word, flag in reversed(tagged[:-1]):
        if flag in _NOT_OF_A_PLACE:
            break
        kept += len(word)
    return len(words) - kept


def find_addresses(text: str) -> Iterable[Finding]:
    """The regex finds where an address ends (a number, a building, a room); it may start
    far too early ("快递送到了南京东路100号"): the start moves past a leading phrase
    (我住在, 地址是) and then past the last word before the road name that no place name
    holds, so a redaction leaves the sentence around the address."""
    from aigc.guard.pii import Finding

    for m in _ADDRESS.finditer(text):
        lead = _ADDRESS_LEAD.match(m.group())  # "我住在北京市…": the address starts at 北京
        start = m.start() + (lead.end() if lead else 0)
        start += _place_name_start(text[start : m.start("road")])
        yield Finding("CN_ADDRESS", start, m.end(), text[start : m.end()], 45)
