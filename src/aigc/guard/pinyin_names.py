"""Chinese names written in pinyin in English text: "Zhao Lei", "Liu Yang", "Xiaoming Wang".

The English token model (``ner.py``) learnt from Faker's names, which hold few pinyin names,
so it missed them ("Send the report to Zhou Min"), cut them short ("Contact Liu Yang" → Liu)
or called them street addresses ("My manager, Zhao Lei, …"). A name here is two capitalised
words, in either order, one a common Chinese surname in pinyin (the surnames of 100 or more
people in 100,000 in the shipped surname list, each read by ``pypinyin``, plus the double
surnames) and the other a given name of one or two pinyin syllables ("Wei", "Xiaoming",
"Xiao-Ming"). Not a name: a pair that is a place (Hong Kong), an ordinary English word in
either place ("He Ran", "Long Men"), or one followed by an organisation or street word
("Ping An Insurance", "Wang Fu Road").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from functools import cache

from aigc.guard import gazetteer, zh_lexicon

# People per 100,000 for a surname to count: the hundred or so commonest. In Latin letters a
# rare surname is an ordinary syllable (a, an, bo, men) and would make any pair of them a name.
_MIN_FREQUENCY = 100.0
# The surname readings pypinyin's first reading gets wrong (曾 as ceng, 单 as dan …).
_SURNAME_READINGS = {"曾": "zeng", "单": "shan", "仇": "qiu", "区": "ou", "解": "xie", "朴": "piao"}
_WORD = re.compile(r"[A-Za-z]+(?:[-'’][A-Za-z]+)?")


def _plain(reading: str) -> str:
    """A pinyin reading without tone marks, ü as v."""
    stripped = "".join(
        c for c in unicodedata.normalize("NFD", reading) if not unicodedata.combining(c)
    )
    return stripped.replace("ü", "v")


@cache
def syllables() -> frozenset[str]:
    """Every toneless pinyin syllable (about 420), from pypinyin's character readings."""
    from pypinyin.pinyin_dict import pinyin_dict

    return frozenset(_plain(r) for readings in pinyin_dict.values() for r in readings.split(","))


@cache
def surnames() -> frozenset[str]:
    """Common Chinese surnames in pinyin, lower-cased ("wang", "ouyang")."""
    from pypinyin import lazy_pinyin

    out = set()
    for surname, frequency in zh_lexicon.surnames().items():
        if frequency >= _MIN_FREQUENCY or (len(surname) == 2 and frequency >= 1):
            reading = _SURNAME_READINGS.get(surname) or "".join(lazy_pinyin(surname))
            out.add(_plain(reading))
    return frozenset(out)


def _is_given_name(word: str) -> bool:
    """One or two pinyin syllables: Wei, Xiaoming, Xiao-Ming, Xi'an."""
    parts = [p for p in re.split(r"[-'’]", word.lower()) if p]
    if len(parts) == 2:
        return all(p in syllables() for p in parts)
    if len(parts) != 1:
        return False
    whole = parts[0]
    if whole in syllables():
        return True
    return any(whole[:k] in syllables() and whole[k:] in syllables() for k in range(1, len(whole)))


def _is_name(first: str, second: str) -> bool:
    family = surnames()
    if first.lower() in family and _is_given_name(second):
        return True
    return second.lower() in family and _is_given_name(first)


# Words after a pinyin pair that make it a company's, an institution's or a building's name
# (also read by ``romanized_names``).
ORGANISATION = frozenset(
    {
        "bank",
        "group",
        "holdings",
        "insurance",
        "securities",
        "capital",
        "technology",
        "technologies",
        "tech",
        "university",
        "college",
        "school",
        "hospital",
        "airlines",
        "motors",
        "electric",
        "media",
        "co",
        "company",
        "corp",
        "corporation",
        "inc",
        "ltd",
        "limited",
        "international",
        "pharmaceutical",
        "restaurant",
        "hotel",
        "foods",
        "properties",
        "jewellery",
        "jewelry",
        "estate",
        "building",
        "centre",
        "center",
        "plaza",
        "tower",
        "mansion",
        "temple",
        "station",
        "pier",
        "market",
    }
)


def _capitalised(word: str) -> bool:
    return word[:1].isupper() and word[1:2].islower()


def find(text: str) -> Iterator[tuple[int, int]]:
    """Spans of pinyin names in ``text``."""
    lists = gazetteer.lists()
    words = list(_WORD.finditer(text))
    i = 0
    while i + 1 < len(words):
        first, second = words[i], words[i + 1]
        before = words[i - 1].group() if i > 0 else ""
        after = words[i + 2].group() if i + 2 < len(words) else ""
        i += 1
        if not (_capitalised(first.group()) and _capitalised(second.group())):
            continue
        if text[first.end() : second.start()] not in (" ", "\t"):
            continue
        if not _is_name(first.group(), second.group()):
            continue
        pair = f"{first.group()} {second.group()}"
        if pair.lower() in gazetteer.world_places():
            continue  # Hong Kong
        joined_after = text[second.end() : words[i + 1].start()].strip() == "" if after else False
        if joined_after and (_capitalised(after) or after.lower() in ORGANISATION):
            continue  # Yang Ming Marine, Ping An Insurance: a longer name, not a person's
        if joined_after and after.lower() in lists.street_words:
            continue  # Wang Fu Road
        ordinary = any(w.lower() in lists.common for w in (first.group(), second.group()))
        if ordinary and not (before and before[:1].islower()):
            continue  # He Ran, Long Men: English words at a sentence's or a title's start
        yield first.start(), second.end()
        i += 1
