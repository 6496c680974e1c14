"""Numbers drawn as documents draw them: Word's number formats (w:numFmt: decimal, Roman,
letters, Chinese counting and financial numerals, circled and full-width digits), which HTML
ordered lists and PowerPoint's numbering schemes name too. Used by Word's numbering and notes,
web pages' ordered lists and slides' numbered paragraphs."""

from __future__ import annotations

_DIGITS = "〇一二三四五六七八九"
_LEGAL_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_STEMS = "甲乙丙丁戊己庚辛壬癸"
_BRANCHES = "子丑寅卯辰巳午未申酉戌亥"


def format_number(n: int, fmt: str) -> str:
    """``n`` drawn in one of Word's number formats (w:numFmt); an unknown format as decimal."""
    if fmt in ("decimal", "decimalHalfWidth"):
        return str(n)
    if fmt == "decimalZero":
        return f"{n:02d}"
    if fmt in ("upperRoman", "lowerRoman"):
        roman = _roman(n)
        return roman if fmt == "upperRoman" else roman.lower()
    if fmt in ("upperLetter", "lowerLetter") and n > 0:
        letter = chr(ord("A") + (n - 1) % 26) * ((n - 1) // 26 + 1)  # Word: Z, AA, BB …
        return letter if fmt == "upperLetter" else letter.lower()
    if fmt in ("chineseCounting", "chineseCountingThousand", "taiwaneseCounting",
               "taiwaneseCountingThousand", "japaneseCounting"):  # fmt: skip
        return chinese_number(n)
    if fmt == "chineseLegalSimplified":
        return chinese_number(n, legal=True)
    if fmt in ("ideographDigital", "taiwaneseDigital"):
        return "".join(_DIGITS[int(d)] for d in str(n))
    if fmt == "ideographTraditional" and n > 0:
        return _STEMS[(n - 1) % 10]
    if fmt in ("ideographZodiac", "ideographZodiacTraditional") and n > 0:
        return _BRANCHES[(n - 1) % 12]
    if fmt in ("decimalEnclosedCircle", "decimalEnclosedCircleChinese") and 1 <= n <= 20:
        return chr(0x2460 + n - 1)  # ①
    if fmt == "decimalEnclosedParen" and 1 <= n <= 20:
        return chr(0x2474 + n - 1)  # ⑴
    if fmt == "decimalEnclosedFullstop" and 1 <= n <= 20:
        return chr(0x2488 + n - 1)  # ⒈
    if fmt in ("decimalFullWidth", "decimalFullWidth2"):
        return "".join(chr(0xFF10 + int(d)) for d in str(n))
    return str(n)


def chinese_number(n: int, legal: bool = False) -> str:
    """A count in Chinese numerals as Word draws it: 十, 十一, 二十, 一百零五, 一千二百; in the
    financial (legal) numerals, 壹拾壹."""
    if n <= 0 or n >= 10000:
        return str(n)
    digits, units = (_LEGAL_DIGITS, "拾佰仟") if legal else (_DIGITS, "十百千")
    out = ""
    zero = False
    for power in (3, 2, 1, 0):
        digit = n // 10**power % 10
        if digit == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"  # 一百零五 (the digit style's 〇 is not a counting zero)
            zero = False
        unit = units[power - 1] if power else ""
        # 十一, not 一十一, when the tens lead (Word's chineseCounting; legal numerals keep 壹拾)
        lead_ten = power == 1 and not out and not legal
        out += ("" if lead_ten and digit == 1 else digits[digit]) + unit
    return out


def _roman(n: int) -> str:
    out = ""
    for value, letters in (
        (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
        (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
    ):  # fmt: skip
        while n >= value:
            out, n = out + letters, n - value
    return out
