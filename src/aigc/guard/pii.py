"""Find personal data and secrets in text, English and Chinese, and hide them.

Each recognizer is a plain function ``text -> findings``. Numbers with a check digit are only
reported when the check holds (python-stdnum: Luhn, IBAN mod 97, GB 11643 resident IDs, unified
social credit codes), so a random number of the right length is not PII. Phone numbers need a
strong format (``+``, brackets, an extension), a context word nearby, or libphonenumber's
validation. Names, places and street addresses are proposed by ``gazetteer.py`` (Faker's
name and place lists plus context words) and decided token by token by a small model
(``ner.py``); Chinese names, addresses and numbers come from ``pii_zh.py``.

Overlaps are resolved by priority (checked numbers beat loose patterns) and then by length.
"""

from __future__ import annotations

import bisect
import http
import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace

import phonenumbers
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from stdnum import iban, luhn

from aigc.guard import barcodes, code, gazetteer, ner, pii_zh, pinyin_names, romanized_names
from aigc.infra.canonical_text import simplified_in_place, span_in, visible_with_positions
from aigc.infra.regex_gate import gated


@dataclass(frozen=True)
class Finding:
    """One detected span: ``text[start:end]`` is a value of type ``entity``."""

    entity: str
    start: int
    end: int
    value: str
    priority: int = 50


Recognizer = Callable[[str], Iterable[Finding]]

# --- regex helpers -------------------------------------------------------------------------

_EMAIL = gated(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# The scheme starts where a run of scheme characters starts: with \b alone every letter of
# "a-a-a-…" was a start that scanned to the end (quadratic).
_URL_CREDENTIALS = gated(r"(?<![\w+.-])[a-z][a-z0-9+.-]*://[^\s:/@]+:[^\s@/]+@[^\s/]+\S*", re.I)
_IPV4 = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?!\d|\.\d)"
)
# IPv6 in full (eight groups) or, as addresses are mostly written, shortened around "::"
# (2001:db8::8a2e:370:7334, fe80::1%eth0): hex groups, each ending at a colon (so a long hex
# run is never split several ways), confirmed by the standard library's parser. A shortened
# one needs three groups or a four-digit first one: "a::b" and "ab::cd" are C++ names as often
# as addresses.
_HEX_GROUPS = r"[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*"
_IPV6 = re.compile(
    rf"(?<![\w:.])(?:[0-9a-f]{{1,4}}(?::[0-9a-f]{{1,4}}){{7}}|(?:{_HEX_GROUPS})?::(?:{_HEX_GROUPS})?)"
    r"(?:%[\w.-]+)?(?![\w:]|\.\d)",
    re.I,
)
_MAC = re.compile(
    r"(?<![\w:-])[0-9a-f]{2}(?:([:-])[0-9a-f]{2})(?:\1[0-9a-f]{2}){4}(?![\w:-])", re.I
)
# Not after a "+": digits there are an international phone number (+86 138 1234 5678), never a
# card (one in ten of them passes Luhn by chance, and a card outranks a phone number).
_CARD = re.compile(r"(?<![\d+-])\d(?:[ -]?\d){11,18}(?![\d-])")
_IBAN = re.compile(
    r"\b[A-Za-z]{2}\d{2}(?:[A-Za-z0-9]{11,30}|(?: [A-Za-z0-9]{4}){2,7}(?: [A-Za-z0-9]{1,3})?)\b"
)
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
# Bounded by ASCII word characters only: Chinese writes a number against its words (请拨打
# 0755-86013388转8001), and Chinese characters are word characters to ``\w``.
_PHONE = re.compile(
    r"(?<![A-Za-z0-9_+.-])(?:\+\d{1,3}[ .-]?)?(?:[(（]\d{1,4}[)）][ .-]?)?\d{1,8}"
    r"(?:[ .-]\d{2,8}){0,5}(?:\s?(?:x|ext\.?)\s?\d{1,5})?(?![A-Za-z0-9_]|-\d|\.\d)",
    re.I,
)
_PHONE_CONTEXT = re.compile(
    r"phone|call|mobile|cell|tel\b|fax|office|desk|number|messages?|answering|registered|"
    r"contact|reach|text me|sms|whatsapp|电话|手机|联系|致电|号码|传真|拨打|来电|座机|分机|"
    r"热线|电联",
    re.I,
)
# One or two letters and digits (E12345678, C12345678) near a travel-document word, or nine
# digits alone (United States passports issued before 2021) right after "passport number".
_PASSPORT = re.compile(r"(?<![A-Za-z0-9])(?:[A-Z]{1,2}\d{6,9}|\d{9})(?![A-Za-z0-9])")
_PASSPORT_NUMBER_LABEL = re.compile(
    r"(?:passport|护照)\s*(?:number|no\.?|num\.?|#|号码?)\s*(?:is\s*|[:：]\s*|是\s*)?$", re.I
)
# Passports and the other travel documents numbered the same way: the permits for Hong Kong,
# Macau and Taiwan (港澳通行证 C12345678, 回乡证 H12345678).
_PASSPORT_CONTEXT = re.compile(
    r"passport|travel (?:document|permit)|exit-entry permit|护照|通行证|回乡证|旅行证", re.I
)
_DATE = re.compile(
    r"(?<!\d)(?:\d{4}[-/.年]\d{1,2}[-/.月]\d{1,2}日?|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})(?!\d)"
)
_BIRTH_CONTEXT = re.compile(r"born|birth|\bdob\b|d\.o\.b|生日|出生", re.I)

# Secrets: well-known key formats, then any long high-entropy token.
_SECRET_FORMATS = gated(
    r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{36,}\b"
    r"|\bgithub_pat_[A-Za-z0-9_]{40,}|\bxox[abprs]-[A-Za-z0-9-]{10,}|\bAIza[0-9A-Za-z_-]{35}"
    r"|\bglpat-[A-Za-z0-9_-]{20,}|\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z]+ )?PRIVATE KEY-----"
)
_PASSWORD = gated(
    r"(?:password|passwd|pwd|secret|token|api[_ -]?key|密码|口令|密钥)\s*(?:is|[:=：是])\s*"
    r"[\"']?(?P<value>[^\s\"'，。,;；]{4,})",
    re.I,
)
_TOKEN = re.compile(r"(?<![\w/+=-])[A-Za-z0-9_+/-]{24,}={0,2}(?![\w/+=-])")
# lower→upper/digit, upper→digit, digit→letter (not upper→lower: every capitalised word has it)
_CLASS_CHANGE = re.compile(r"[a-z](?=[A-Z0-9])|[A-Z](?=[0-9])|[0-9](?=[A-Za-z])")


def _entropy(token: str) -> float:
    counts: dict[str, int] = {}
    for ch in token:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(token)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def near_context(
    text: str, start: int, end: int, pattern: re.Pattern[str], window: int = 40
) -> bool:
    """Whether ``pattern`` occurs within ``window`` characters of ``text[start:end]``."""
    return bool(pattern.search(text, max(0, start - window), min(len(text), end + window)))


# --- recognizers ---------------------------------------------------------------------------


def find_emails(text: str) -> Iterable[Finding]:
    for m in _EMAIL.finditer(text):
        yield Finding("EMAIL_ADDRESS", m.start(), m.end(), m.group(), 90)


def find_url_credentials(text: str) -> Iterable[Finding]:
    for m in _URL_CREDENTIALS.finditer(text):
        yield Finding("URL_CREDENTIALS", m.start(), m.end(), m.group(), 95)


def find_ips(text: str) -> Iterable[Finding]:
    for m in _IPV4.finditer(text):
        yield Finding("IP_ADDRESS", m.start(), m.end(), m.group(), 80)
    for m in _IPV6.finditer(text):
        address = m.group().split("%")[0]
        groups = [g for g in address.split(":") if g]
        if not groups or not (len(groups) >= 3 or len(groups[0]) == 4):
            continue
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            continue
        yield Finding("IP_ADDRESS", m.start(), m.end(), m.group(), 80)


def find_macs(text: str) -> Iterable[Finding]:
    for m in _MAC.finditer(text):
        yield Finding("MAC_ADDRESS", m.start(), m.end(), m.group(), 80)


# A number labelled as another kind of number ("order number is 4481-2290-17", 订单号：…):
# one in ten of them passes Luhn by chance, and "number" beside it is no phone context.
_OTHER_NUMBER = re.compile(
    r"(?:(?:订单|运单|快递单|物流单|发票|流水|工单|合同|报销单|申请单|单据)(?:编?号|号码)"
    r"|\b(?:order|tracking|invoice|ticket|case|reference|ref|shipment|booking|serial|"
    r"confirmation|transaction|incident|claim|receipt|parcel|purchase order|po)"
    r"(?:\s*(?:no\.?|number|num|#|id))?)\s*(?:is|was|:|：|#|=|是|为)?\s*$",
    re.I,
)


def find_cards(text: str) -> Iterable[Finding]:
    """Payment cards pass Luhn; UnionPay numbers (62…) are reported as Chinese bank cards. An
    EAN-13 barcode is a card only after a card word (``barcodes.py``); a number right after
    another kind of label (订单号, order number, invoice #) only after a card word too."""
    for m in _CARD.finditer(text):
        number = _digits(m.group())
        if barcodes.is_ean13(number) and not barcodes.card_context(text, m.start()):
            continue
        label = text[max(0, m.start() - 16) : m.start()]
        if _OTHER_NUMBER.search(label) and not barcodes.card_context(text, m.start(), 8):
            continue
        if 12 <= len(number) <= 19 and luhn.is_valid(number):
            entity = "CN_BANK_CARD" if number.startswith("62") else "CREDIT_CARD"
            yield Finding(entity, m.start(), m.end(), m.group(), 85)


def find_ibans(text: str) -> Iterable[Finding]:
    for m in _IBAN.finditer(text):
        value = m.group()
        while value and not iban.is_valid(value.upper()):
            value = value.rpartition(" ")[0]  # "GB.. 1234 5678 to": drop trailing groups
        if value:
            yield Finding("IBAN_CODE", m.start(), m.start() + len(value), value, 90)


def find_ssns(text: str) -> Iterable[Finding]:
    for m in _SSN.finditer(text):
        yield Finding("US_SSN", m.start(), m.end(), m.group(), 75)


def _valid_somewhere(candidate: str) -> bool:
    for region in ("US", "GB", "DE", "FR", "IN", "CN", "AU", "BR", "IT", "ES", "NL", "SE"):
        try:
            if phonenumbers.is_possible_number(phonenumbers.parse(candidate, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def find_phones(text: str) -> Iterable[Finding]:
    for m in _PHONE.finditer(text):
        value = m.group().strip()
        digits = _digits(value.split("x")[0].split("ext")[0])
        if not 7 <= len(digits) <= 15:
            continue
        strong = value.startswith(("+", "(", "（")) or "x" in value.lower()
        if not strong and _OTHER_NUMBER.search(text[max(0, m.start() - 40) : m.start()]):
            continue
        separated = bool(re.search(r"\d[\s.-]\d", value))
        context = near_context(text, m.start(), m.end(), _PHONE_CONTEXT, 30)
        if strong or (context and (separated or _valid_somewhere(value))):
            # A number with only a context word loses to an overlapping street address.
            priority = 60 if strong else 28
            yield Finding("PHONE_NUMBER", m.start(), m.start() + len(value), value, priority)


_NEAR_CHINESE = re.compile(r"[\u3400-\u9fff\uff00-\uffef]")


_NUMBERS_BEFORE = re.compile(r"(?:\d+(?:\.\d+)?\s*,\s*)+$")
_NUMBERS_AFTER = re.compile(r"(?:\s*,\s*\d+(?:\.\d+)?(?![\w-]))+")


def _in_a_list_of_numbers(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is one of three or more comma-separated numbers."""
    before = _NUMBERS_BEFORE.search(text, max(0, start - 60), start)
    after = _NUMBERS_AFTER.match(text, end, end + 60)  # both sides bounded: linear in all
    count = 1 + (before.group().count(",") if before else 0)
    count += after.group().count(",") if after else 0
    return count >= 3


_DIGIT_RUN_BEFORE = re.compile(r"[\d \t-]*$")
_DIGIT_RUN_AFTER = re.compile(r"[\d \t-]*")


def _digit_run(text: str, start: int, end: int) -> tuple[int, int]:
    """``text[start:end]`` widened over the digits, spaces and hyphens around it (40 characters
    each way at most): the number a span of the model's is part of. The middle of 银行卡号 6222
    0212 3456 7890 123 is near Chinese only through the number's first groups."""
    before = _DIGIT_RUN_BEFORE.search(text, max(0, start - 40), start)
    after = _DIGIT_RUN_AFTER.match(text, end, end + 40)
    return (before.start() if before else start), (after.end() if after else end)


def _labelled_number(text: str, start: int) -> bool:
    """Whether the run of digits that ``start`` is inside follows another kind of number's
    label (order number, 订单号 …)."""
    begin, _ = _digit_run(text, start, start)
    return bool(_OTHER_NUMBER.search(text[max(0, begin - 40) : begin]))


# Words of code: an underscore inside (ARG_POS, max_len), or capitals inside (IRBuilder,
# RType, FuncIR, getValue). Names written so start with a prefix (McDonald, DeAndre, LeBron,
# VanDyke) or join two first names (MaryAnn).
_INNER_UNDERSCORE = re.compile(r"[A-Za-z0-9]_[A-Za-z0-9]")
_INNER_CAPITAL = re.compile(r"[a-z][A-Z]|[A-Z]{2,}[a-z]")
_NAME_PREFIX = re.compile(r"(?:Mc|Mac|Fitz|O'|D'|De|Da|Di|Du|Ja|La|Le|Van|Von)[A-Z][a-z]+")
_HUMP = re.compile(r"[A-Z][a-z]+|[A-Z]+(?![a-z])")


def _identifier(word: str) -> bool:
    if _INNER_UNDERSCORE.search(word):  # not _Darcy_, a book's italics
        return True
    if not _INNER_CAPITAL.search(word) or _NAME_PREFIX.fullmatch(word):
        return False
    first_names = gazetteer.english_first_names()
    return not all(hump in first_names for hump in _HUMP.findall(word))


def _not_code(text: str, findings: Iterable[Finding]) -> Iterator[Finding]:
    """The token model's names, places and streets less those written as code: developers
    paste code and name classes in questions, and on 1,500 chunks of Python source the model
    found a name or an address in one in five (builder: IRBuilder, [ARG_STAR, ARG_STAR2],
    emitter: Emitter). A span goes when a word of it is shaped as an identifier
    (``_identifier``), or when its line is code (``code.is_code``) and the span lies outside
    the line's comments and strings, where a real name can still be (# Author: Jane Doe)."""
    lines: dict[int, tuple[bool, list[tuple[int, int]]]] = {}
    for found in findings:
        if any(_identifier(word) for word in found.value.split()):
            continue
        start = text.rfind("\n", 0, found.start) + 1
        if start not in lines:
            end = text.find("\n", found.start)
            line = text[start : end if end >= 0 else len(text)]
            is_code = code.is_code(line, strict=True)
            lines[start] = (is_code, code.word_spans(line) if is_code else [])
        is_code, words = lines[start]
        a, b = found.start - start, found.end - start
        if is_code and not any(lo <= a and b <= hi for lo, hi in words):
            continue
        yield found


# An HTTP status as logs and error messages write it, its code then its phrase (502 Bad
# Gateway, 500 Internal Server Error), from the standard library's table of them.
_HTTP_STATUS = re.compile(
    r"\b[1-5]\d\d\s+(?:"
    + "|".join(sorted((re.escape(s.phrase) for s in http.HTTPStatus), key=len, reverse=True))
    + r")\b"
)


def _not_http_status(text: str, findings: Iterable[Finding]) -> Iterator[Finding]:
    """Findings less what lies on an HTTP status: the token model read "502 Bad Gateway" as
    a street and "500 Internal Server Error" as the place Server. A span running into a status
    keeps what comes before it ("12 Elm Street, Leeds." of "… Leeds. 404 Not")."""
    statuses = [m.span() for m in _HTTP_STATUS.finditer(text)]  # disjoint, in order
    for found in findings:
        at = bisect.bisect_left(statuses, found.end, key=lambda span: span[0])
        first = bisect.bisect_right(statuses, found.start, key=lambda span: span[1])
        if first >= at:  # no status overlaps it
            yield found
            continue
        end = statuses[first][0]
        while end > found.start and not text[end - 1].isalnum():
            end -= 1
        if end > found.start:
            yield replace(found, end=end, value=text[found.start : end])


# What a log counts with a number (port 6379, pid 88, issue 5678), written in lower case as
# no street or place is (8080 Port Road is one).
_COUNTER = r"\b(?:port|pid|issue|build|version|line|step|row|page|item|ticket)\s+#?"
_COUNTED = re.compile(_COUNTER + r"\d")
_COUNTER_BEFORE = re.compile(_COUNTER + r"$")  # "port 5432": the model's span is the number


_HAN = re.compile(r"[\u3400-\u9fff]")
_HOUSE_NUMBER = re.compile(r"\d.*[A-Za-z]{2}")  # a number, then a word: 12 Baker Street


def _without_chinese(findings: Iterable[Finding]) -> Iterator[Finding]:
    """The English token model's spans, which hold no Chinese: amid Chinese text it read a
    clause around a Latin word as a street (有BUS从洛阳到郑州的新郑机场, 在办理CHECKIN和CHECKOUT的
    时候: 26 in 6,000 reviews). A span is cut before its first Han character ("John Doe" of
    "John Doe的地址是1234") and dropped when nothing Latin is left before it, or, for a street,
    no number (12 Baker Street stays, BUS does not); Chinese names and addresses are
    CN_PERSON's and CN_ADDRESS's."""
    for found in findings:
        han = _HAN.search(found.value)
        if han is None:
            yield found
            continue
        end = found.start + han.start()
        while end > found.start and not found.value[end - found.start - 1].isalnum():
            end -= 1
        kept = found.value[: end - found.start]
        if kept and (found.entity == "PERSON" or _HOUSE_NUMBER.search(kept)):
            yield replace(found, end=end, value=kept)


def _function_words(value: str) -> bool:
    """Lower-case English function words alone ("on" of "listening on port 6379"): no name,
    place or street is made of them only."""
    words = re.findall(r"[^\W\d_]+", value)  # letters of any script
    return (
        bool(words)
        and all(w in ENGLISH_STOP_WORDS for w in words)
        and not any(c.isdigit() for c in value)
    )


def _model_spans(entity: str, text: str) -> Iterator[Finding]:
    """The token model's findings of ``entity`` less what it misreads in logs and amid
    Chinese: no Chinese, no HTTP status, no function words alone, and for places and streets
    not what a log counts (port 6379). Each recognizer then leaves out code (``_not_code``),
    after what it adds of its own."""
    found = _not_http_status(text, _without_chinese(ner.find(entity, text)))
    found = (f for f in found if not _function_words(f.value))
    if entity in ("STREET_ADDRESS", "LOCATION"):
        return (
            f
            for f in found
            if not _COUNTED.search(text, f.start, f.end)
            and not _COUNTER_BEFORE.search(text, max(0, f.start - 16), f.start)
        )
    return found


def _named_streets(text: str) -> Iterable[Finding]:
    """The token model's street addresses, less spans of digits alone amid Chinese text (the
    middle of a bank card number or a licence plate: 工资卡号 6222 0202 0000 1234 567 gave
    '0000 1234'; "amid" counts from the ends of the whole number). In English text such a span
    is the model's piece of an address it split."""
    for found in _not_code(text, _model_spans("STREET_ADDRESS", text)):
        digits_only = not any(c.isalpha() for c in found.value)
        start, end = _digit_run(text, found.start, found.end)  # the whole number it is part of
        if digits_only and _NEAR_CHINESE.search(text, max(0, start - 6), end + 6):
            continue
        if digits_only and _in_a_list_of_numbers(text, found.start, found.end):
            continue  # "the mean of 130, 200, 110, 95": numbers, not a house number
        if digits_only and _labelled_number(text, found.start):
            continue  # "Order #: 4481 2290 17": a piece of an order number
        yield found


_ACRONYM = re.compile(r"[A-Z]{1,4}|[IVX]+")


def _places(text: str) -> Iterable[Finding]:
    """The token model's places, less a capitalised abbreviation amid Chinese text: the English
    model reads 解释 AI 及其应用 or 精神 II 燃气烤架 as a place (9 of 3,000 Chinese
    instructions), knowing none of the words around it."""
    for found in _not_code(text, _model_spans("LOCATION", text)):
        if _ACRONYM.fullmatch(found.value) and _NEAR_CHINESE.search(
            text, max(0, found.start - 3), found.end + 3
        ):
            continue
        yield found


def _persons(text: str) -> Iterable[Finding]:
    """The token model's names, each widened to a Chinese name in pinyin, or in Hong Kong's
    or Taiwan's spelling, that it overlaps ("Liu" of "Liu Yang", "Tai Man" of "Chan Tai Man"),
    and those names it missed; they outrank an address the model guessed on the same words
    ("Zhao Lei" read as a street)."""
    model = list(_model_spans("PERSON", text))
    spelled = [*pinyin_names.find(text), *romanized_names.find(text)]
    for start, end in spelled:
        overlapping = [f for f in model if f.start < end and start < f.end]
        model = [f for f in model if f not in overlapping]
        start = min([start, *(f.start for f in overlapping)])
        end = max([end, *(f.end for f in overlapping)])
        model.append(Finding("PERSON", start, end, text[start:end], 41))
    return list(_not_code(text, model))


def find_passports(text: str) -> Iterable[Finding]:
    for m in _PASSPORT.finditer(text):
        if m.group().isdigit():
            if not _PASSPORT_NUMBER_LABEL.search(text, max(0, m.start() - 30), m.start()):
                continue  # nine digits are an order or a phone number unless labelled
            yield Finding("PASSPORT", m.start(), m.end(), m.group(), 70)
        elif near_context(text, m.start(), m.end(), _PASSPORT_CONTEXT, 30):
            yield Finding("PASSPORT", m.start(), m.end(), m.group(), 70)


def find_birth_dates(text: str) -> Iterable[Finding]:
    for m in _DATE.finditer(text):
        if near_context(text, m.start(), m.end(), _BIRTH_CONTEXT, 30):
            yield Finding("DATE_OF_BIRTH", m.start(), m.end(), m.group(), 55)


def find_secrets(text: str) -> Iterable[Finding]:
    """Known key formats, ``password: …`` values, and long random-looking tokens."""
    for m in _SECRET_FORMATS.finditer(text):
        yield Finding("SECRET", m.start(), m.end(), m.group(), 96)
    for m in _PASSWORD.finditer(text):
        yield Finding("SECRET", m.start("value"), m.end("value"), m.group("value"), 96)
    for m in _TOKEN.finditer(text):
        token = m.group()
        classes = sum(bool(re.search(p, token)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[_+/=-]"))
        # Random tokens switch between lower, upper and digits often; identifiers
        # (my_config_name_2024) and words do not.
        changes = len(_CLASS_CHANGE.findall(token))
        if classes >= 3 and _entropy(token) >= 4.0 and changes >= len(token) / 4:
            yield Finding("SECRET", m.start(), m.end(), token, 65)


RECOGNIZERS: dict[str, Recognizer] = {
    "EMAIL_ADDRESS": find_emails,
    "URL_CREDENTIALS": find_url_credentials,
    "IP_ADDRESS": find_ips,
    "MAC_ADDRESS": find_macs,
    "CREDIT_CARD": find_cards,
    "IBAN_CODE": find_ibans,
    "US_SSN": find_ssns,
    "PHONE_NUMBER": find_phones,
    "PASSPORT": find_passports,
    "DATE_OF_BIRTH": find_birth_dates,
    "SECRET": find_secrets,
    "PERSON": _persons,
    "STREET_ADDRESS": _named_streets,
    "LOCATION": _places,
    "CN_RESIDENT_ID": pii_zh.find_resident_ids,
    "CN_USCC": pii_zh.find_uscc,
    "CN_MOBILE": pii_zh.find_mobiles,
    "CN_LICENSE_PLATE": pii_zh.find_licence_plates,
    "CN_WECHAT_ID": pii_zh.find_wechat_ids,
    "CN_QQ_NUMBER": pii_zh.find_qq_numbers,
    "CN_PERSON": pii_zh.find_persons,
    "CN_ADDRESS": pii_zh.find_addresses,
    "TW_ID_NUMBER": pii_zh.find_tw_ids,
    "HK_ID_NUMBER": pii_zh.find_hk_ids,
}
# Recognizers read the text in simplified characters, so a context word written 護照 or 手機
# counts as 护照 or 手机. Names and addresses are also read as written: OpenCC's t2s rewrites
# a few characters of simplified text too (沈思雨 → 沉思雨, 王丙乾 → 王丙干), which hid them.
_AS_WRITTEN_TOO = {"CN_PERSON", "CN_ADDRESS"}
# Entities a recognizer may report besides its own key (cards → CN_BANK_CARD).
ALIASES = {"CN_BANK_CARD": "CREDIT_CARD"}
ALL_ENTITIES = sorted({*RECOGNIZERS, *ALIASES})
# Cheap, precise detectors: what the default policy runs on every request.
SECRETS_ONLY = ("SECRET", "URL_CREDENTIALS")
# Everything checked by a format or a checksum (no word lists): precise enough to act on alone.
SAFE_ENTITIES = tuple(
    e
    for e in ALL_ENTITIES
    if e not in ("PERSON", "STREET_ADDRESS", "LOCATION", "CN_PERSON", "CN_ADDRESS")
)


def _overlap(a: Finding, b: Finding) -> bool:
    return a.start < b.end and b.start < a.end


def _resolve(findings: list[Finding]) -> list[Finding]:
    """Keep non-overlapping findings, preferring priority, then length. The kept ones are
    disjoint, so in start order their ends are in order too and a finding can overlap only
    its two neighbours there: a long text's thousands of findings cost no more than a few
    comparisons each (each against every kept one took 12 s for 72,000 Chinese
    characters)."""
    kept: list[Finding] = []  # by start
    for f in sorted(findings, key=lambda f: (-f.priority, -(f.end - f.start), f.start)):
        at = bisect.bisect_left(kept, f.start, key=lambda k: k.start)
        if not any(_overlap(f, k) for k in kept[max(0, at - 1) : at + 1]):
            kept.insert(at, f)
    return kept


def detect(text: str, entities: Iterable[str] | None = None) -> list[Finding]:
    """Every finding of the wanted entity types (all when ``entities`` is None), in order."""
    wanted = set(ALL_ENTITIES if entities is None else entities)
    recognizers = {ALIASES.get(e, e) for e in wanted}
    # Full-width digits and letters (an input method's １３８１２３４５６７８) as ASCII and
    # invisible characters out (1\u200b38…): each recognizer reads that, and each finding is
    # mapped back to the text as written.
    read, positions = visible_with_positions(text)
    simple = simplified_in_place(read)
    found: list[Finding] = []
    for name in recognizers:
        recognizer = RECOGNIZERS.get(name)
        if recognizer is None:
            raise ValueError(f"unknown PII entity {name!r}")
        if name in _AS_WRITTEN_TOO and simple != read:  # as written first, then simplified
            seen = list(recognizer(read))
            seen += [f for f in recognizer(simple) if not any(_overlap(f, g) for g in seen)]
        else:
            seen = list(recognizer(simple))
        found.extend(f for f in seen if f.entity in wanted or f.entity == name)
    if simple != text:  # spans and values as written
        found = [_written(f, text, positions) for f in found]
    return _resolve(found)


def _written(finding: Finding, text: str, positions: Sequence[int]) -> Finding:
    start, end = span_in(positions, finding.start, finding.end)
    return replace(finding, start=start, end=end, value=text[start:end])


# --- masking and reversible pseudonymisation -----------------------------------------------

PLACEHOLDER = re.compile(r"\[([A-Z_]+)_(\d+)\]")


class Pseudonymizer:
    """Replace values by numbered placeholders (``[EMAIL_ADDRESS_1]``) and put them back.

    The same value always gets the same placeholder within one request, so the model can refer
    to it consistently; the mapping lives only in memory for the request's lifetime.
    """

    def __init__(self) -> None:
        self.by_value: dict[str, str] = {}
        self.by_placeholder: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    def placeholder(self, entity: str, value: str) -> str:
        if value in self.by_value:
            return self.by_value[value]
        self.counts[entity] = self.counts.get(entity, 0) + 1
        token = f"[{entity}_{self.counts[entity]}]"
        self.by_value[value] = token
        self.by_placeholder[token] = value
        return token

    def redact(self, text: str, findings: list[Finding]) -> str:
        parts, last = [], 0
        for f in findings:
            parts.append(text[last : f.start])
            parts.append(self.placeholder(f.entity, text[f.start : f.end]))
            last = f.end
        parts.append(text[last:])
        return "".join(parts)

    def restore(self, text: str, in_json: bool = False) -> str:
        """Put the real values back wherever the model repeated a placeholder; ``in_json``:
        the text is JSON (a tool call's arguments), so each value goes in escaped as inside a
        JSON string and the arguments stay valid JSON."""
        if not self.by_placeholder:
            return text

        def value(m: re.Match[str]) -> str:
            original = self.by_placeholder.get(m.group(), m.group())
            return json.dumps(original, ensure_ascii=False)[1:-1] if in_json else original

        return PLACEHOLDER.sub(value, text)


def mask(text: str, entities: Iterable[str] | None = None) -> tuple[str, list[Finding]]:
    """Irreversible masking: ``[EMAIL_ADDRESS_1]`` in place of each value."""
    findings = detect(text, entities)
    return Pseudonymizer().redact(text, findings), findings
