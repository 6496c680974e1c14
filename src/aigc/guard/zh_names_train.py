"""Rebuild the Chinese name detector's shipped data from ``../shared/data``::

    python -m aigc.guard.zh_names_train [--data ../shared/data]     # about 2 minutes on 2 cores

Writes ``data/zh_surnames.txt`` (from ``pii/zh_surnames.csv``, Apache-2.0) and
``zh_names.npz``, a logistic regression over ``zh_names.features`` trained on generated
sentences with known name spans, with the character statistics it needs:

* names: a surname drawn by frequency from the table; a given name from the Apache-2.0 names
  corpus (historical names in traditional characters, converted with OpenCC, common characters
  only), from Faker's Chinese given names, or made up from character frequencies (Faker's
  one-character names; the first and second given-name characters of jieba's person entries,
  counted, never copied); a few two-character person entries of jieba (王平; they are
  dictionary words, as many real names are); about one name in eight transliterated, made up
  by a character bigram model of jieba's transliterated names and Faker's country names;
* contexts: templates written here (news, office, forms, chat), names put inside pieces of
  running text with a word or a single character before and after (则, 因, 与; 应, 代),
  names put between two words of a real sentence (a fifth of all rows, maybe after a title:
  most names in news sit inside a run of characters), lists of names, and sentences of
  openly licensed
  Chinese text (XSafety, Flames, CValues, MultiJail, jade-db; the PRC laws and the RocketMQ
  documents of the retrieval set) whose pronouns 他/她/我 become names;
* negatives: every other candidate in those sentences (a quarter of the rows are sentences
  with no name), and templates with role nouns (Faker's job titles), places (the division
  names of the 2023 table, Faker's countries, jieba's places, villages and towns named after
  a family: 李庄, 陈家村) and organisations (Faker's companies, jieba's organisations).

Never the MSRA sentences (``bench/pii_zh_names.py`` scores on them; evaluation only). A fifth
of the templates, sentences and given names is held out to choose the regularisation (best
exact-span F1) and the decision threshold, stored with the weights: the highest threshold whose
F1 is within one bootstrap standard error of the best (``choose_threshold``). In three of ten
training rows the dictionary features are dropped, so that the context is learned too.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import random
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aigc.guard import datasets, sources, zh_lexicon, zh_names

Example = tuple[str, list[tuple[int, int]]]  # text, name spans


def _words(text: str) -> list[str]:
    return text.split()


TITLES = _words(
    "主席 副主席 总理 副总理 总统 部长 省长 市长 县长 书记 委员长 会长 董事长 总经理 经理 主任 "
    "院长 校长 教授 博士 教练 队长 局长 处长 科长 厂长 代表 委员 大使 将军 司令员 工程师 医生 "
    "律师 记者 先生 女士 同志 老师 主管 总监 组长 班长 研究员 主编 导演 选手"
)
NAME_TEMPLATES = (
    "{n}说：“{s}”",
    "{n}表示，{s}",
    "{n}指出，{s}",
    "{n}强调，{s}",
    "{n}认为{s}",
    "据{n}介绍，{s}",
    "{title}{n}出席了会议。",
    "{org}{title}{n}在会上讲话。",
    "{n}{title}会见了来访的客人。",
    "{n}、{m}和{k}等参加了活动。",
    "参加会议的有{n}、{m}、{k}。",
    "本报记者{n}报道：{s}",
    "{place}的{n}今年{age}岁。",
    "{n}是{place}人，{s}",
    "{n}同志{s}",
    "{n}先生今天来过。",
    "{n}女士请到前台。",
    "{n}今天上午到达{place}。",
    "{n}和{m}结婚了。",
    "{n}告诉记者，{s}",
    "会议由{n}主持。",
    "{n}率领代表团访问了{place}。",
    "{n}获得了冠军。",
    "{n}的父亲{m}是{job}。",
    "我叫{n}，{s}",
    "姓名：{n}",
    "联系人：{n}，电话{phone}",
    "收件人：{n} {phone}",
    "申请人{n}，身份证已提交。",
    "请把文件交给{n}。",
    "{n}明天请假。",
    "{n}，你好！{s}",
    "你好{n}，{s}",
    "@{n} {s}",
    "{n}回复：{s}",
    "抄送：{n}、{m}",
    "{n}（{job}）",
    "{job}{n}负责此事。",
    "{n}是我们公司的{job}。",
    "今天{n}值班。",
    "值班人员：{n}",
    "{n}在{place}工作。",
    "{n}打电话说{s}",
    "{n}发来邮件：{s}",
    "{n}昨天去了{place}。",
    "感谢{n}的帮助。",
    "{n}的手机号是{phone}。",
    "患者{n}，男，{age}岁。",
    "{n}于{year}年出生于{place}。",
    "{n}毕业于{org}。",
    "在{n}的带领下，{s}",
    "{n}提出的方案得到了大家的支持。",
    "{n}等{age}人受到表彰。",
    "{n}以三比一获胜。",
    "{n}、{m}夫妇",
    "{n}作词，{m}作曲",
    "导演{n}的新片上映了。",
    "{n}主演的电影很受欢迎。",
    "{n}问道：“{s}”",
    "“{s}”{n}说。",
    "{n}对{m}说：“{s}”",
    "{s}{n}",
    "{n}{s}",
    "这是{n}的{s}",
    "{m}和{n}一起{s}",
    "{n}（{age}岁）",
    "{place}{org}{job}{n}",
    "{n}{title}",
    "{title}{n}",
    "{n}和{m}",
)
NEGATIVE_TEMPLATES = (
    "我是{job}。",
    "我是一名{job}，{s}",
    "我是{place}的{job}。",
    "我是高级{job}。",
    "联系人：{job}",
    "{job}明天上班。",
    "今天{job}值班。",
    "我们在招聘{job}。",
    "{org}位于{place}。",
    "{place}今天下雨了。",
    "欢迎来到{place}。",
    "{org}的{job}说{s}",
    "请联系{job}。",
    "{place}{org}",
    "{title}说{s}",
)
# Names inside running text: a piece of a sentence, a word before, the name, a word after.
BEFORE = (
    "", "", "", "", "据", "由", "和", "与", "同", "对", "向", "给", "让", "请", "把", "被", "是",
    "的", "、", "，", "：", "在", "为", "跟", "找", "派", "陪", "像", "连", "问", "叫", "听",
    "看望", "会见了", "感谢", "支持", "批评", "通知", "采访", "邀请", "告诉", "祝贺", "称赞",
    # One character before a name inside running text (应|塞迪略, 后卫|卡福, 9号|利里安):
    "及", "应", "代", "随", "替", "令", "使", "选", "教", "帮", "送", "见", "将", "从", "自",
    "于", "那", "这", "如", "若", "当", "似", "卫", "锋", "号", "员", "长", "手", "友", "兄",
    "温", "忆", "唱", "写", "读", "演", "称", "说", "的", "在", "也", "和",
)  # fmt: skip
AFTER = (
    "说", "表示", "认为", "指出", "强调", "介绍", "回忆", "笑着说", "告诉记者", "同志", "先生",
    "女士", "等人", "等", "的", "在", "和", "、", "是", "也", "还", "又", "就", "已", "曾", "将",
    "把", "被", "对", "向", "从", "到", "于", "以", "为", "率", "会见了", "出席了", "主持了",
    "获得", "担任", "来到", "今年", "一家", "当选", "发现", "带着", "看到", "决定", "负责",
    "家里", "身边", "夫妇", "，", "。", "：", "",
    # One character of running text after a subject, as news writes it (罗纳尔多|则在…):
    "则", "因", "更", "便", "却", "仍", "亦", "即", "才", "都", "正", "要", "会", "能", "可",
    "并", "而", "与", "同", "跟", "及", "自", "给", "让", "称", "道", "问", "答", "笑", "想",
    "之", "后", "时", "日", "著", "译", "编", "作", "获", "任", "当", "原", "系", "今", "近",
    "早", "再", "只", "总", "先", "接", "立", "配", "复", "颇", "深", "一",
)  # fmt: skip
_PRONOUN = re.compile(r"(?<![其吉自])(?:他(?![们人乡])|她(?!们)|我(?![们国方校院司厂市省县]))")
_SENTENCE = re.compile(r"[^。！？!?\n]{6,120}[。！？!?]?")


@dataclass
class Pools:
    """What the generator draws from; each list is one side (train or held out)."""

    singles: list[str]
    single_weights: list[float]
    doubles: list[str]
    given_corpus: list[str]
    given_modern: list[str]
    given_chars: list[str]  # the characters of today's given names
    known2: list[str]  # two-character names of jieba's dictionary (see known_two_char_names)
    first_chars: tuple[list[str], list[int]]  # given-name characters by position, weighted
    second_chars: tuple[list[str], list[int]]
    foreign: ForeignNames
    sentences: list[str]
    templates: tuple[str, ...]
    jobs: list[str]
    places: list[str]
    orgs: list[str]
    stats: zh_names.CharStats
    pronoun_sentences: list[str] = field(default_factory=list)

    def given(self, source: str, length: int) -> list[str]:
        """The given names of one source ("corpus", "modern") and length, computed once."""
        key = (source, length)
        if key not in self._by_length:
            names = self.given_corpus if source == "corpus" else self.given_modern
            self._by_length[key] = [g for g in names if len(g) == length]
        return self._by_length[key]

    _by_length: dict[tuple[str, int], list[str]] = field(default_factory=dict)


def build_surnames(root: Path, out: Path = zh_lexicon.SURNAMES_FILE) -> int:
    with (root / "pii" / "zh_surnames.csv").open(encoding="utf-8", newline="") as f:
        rows = [(r["surname"], float(r["frequency_per_100k"] or 0)) for r in csv.DictReader(f)]
    lines = [f"{name}\t{freq:g}" for name, freq in rows if name]
    head = "# surname, frequency per 100k (Chinese-Names-Corpus, Apache-2.0): zh_names_train"
    out.write_text(head + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    zh_lexicon.surnames.cache_clear()
    return len(lines)


def _held_out(key: str) -> bool:
    return zlib.crc32(key.encode()) % 5 == 0


def _chinese(text: str) -> bool:
    han = sum("\u4e00" <= ch <= "\u9fff" for ch in text)
    return han >= 6 and han >= len(text) / 2


def corpus_sentences(root: Path) -> list[str]:
    """Openly licensed Chinese sentences (SOURCES.md): prompts, laws, technical documents."""
    texts: list[str] = []
    for name in ("xsafety_zh_en", "flames_1k_zh", "cvalues_responsibility_prompts_zh"):
        texts += [str(r["text"]) for r in sources._rows(root, f"{name}.jsonl")]
    multijail = sources._rows(root, "multijail.jsonl")
    texts += [str(r["text"]) for r in multijail if r.get("lang") == "zh"]
    texts += [r["问题"] for r in datasets._csv(root / "guard" / "jade_benchmark_easy_zh.csv")]
    for path in sorted((root / "retrieval" / "zh_docs").glob("*.md")):
        if path.name != "README.md":
            texts.append(re.sub(r"[#*`>|\[\]()-]+", " ", path.read_text(encoding="utf-8")))
    out = []
    for text in texts:
        out += [m.group().strip() for m in _SENTENCE.finditer(text) if _chinese(m.group())]
    return sorted(set(out))


def _common_chars(min_weight: int = 150) -> set[str]:
    """Characters of ordinary words (summed jieba frequency): rare ones (禠, 瀍) are not in
    today's given names, though the historical corpus has them."""
    weight: dict[str, int] = {}
    with zh_lexicon.jieba_dictionary().open(encoding="utf-8") as f:
        for line in f:
            word, freq, _ = line.split()
            for ch in set(word):
                weight[ch] = weight.get(ch, 0) + int(freq)
    return {ch for ch, w in weight.items() if w >= min_weight}


def given_names(root: Path) -> tuple[list[str], list[str]]:
    """Given names of the names corpus (simplified, common characters only) and Faker's
    Chinese given names (today's)."""
    import opencc
    from faker.providers.person.zh_CN import Provider as CN
    from faker.providers.person.zh_TW import Provider as TW

    convert = opencc.OpenCC("t2s").convert
    table = zh_lexicon.surnames()
    common = _common_chars()
    corpus: set[str] = set()
    for line in (root / "pii" / "zh_names_ancient.txt").read_text(encoding="utf-8").split("\n"):
        name = convert(line.strip())
        for k in (2, 1):
            if name[:k] in table and 1 <= len(name) - k <= 2:
                corpus.add(name[k:])
                break
    faker = [*CN.first_names, *CN.first_names_male, *CN.first_names_female, *TW.first_names]
    modern = {convert(g) for g in faker if 1 <= len(g) <= 2}
    han = re.compile(r"[\u4e00-\u9fff]+")
    keep = lambda names: sorted(  # noqa: E731
        g for g in names if han.fullmatch(g) and all(ch in common for ch in g)
    )
    return keep(corpus), keep(modern)


def name_char_weights() -> tuple[dict[str, int], dict[str, int]]:
    """How often each character is the first and the second of a two-character given name in
    the three-character person entries of jieba's dictionary (surname + given name). Only
    these counts are used — to make up given names and to rate characters — never the
    entries themselves, which name the people of jieba's source newspapers."""
    table = zh_lexicon.surnames()
    first: dict[str, int] = {}
    second: dict[str, int] = {}
    with zh_lexicon.jieba_dictionary().open(encoding="utf-8") as f:
        for line in f:
            word, _, tag = line.split()
            if tag in ("nr", "nrfg") and len(word) == 3 and word[0] in table:
                first[word[1]] = first.get(word[1], 0) + 1
                second[word[2]] = second.get(word[2], 0) + 1
    return first, second


def _jieba_words(tags: set[str]) -> list[str]:
    with zh_lexicon.jieba_dictionary().open(encoding="utf-8") as f:
        rows = (line.split() for line in f)
        return sorted(w for w, freq, tag in rows if tag in tags and 2 <= len(w) <= 6)


def _places(root: Path) -> list[str]:
    """Division names of the 2023 table, Faker's Chinese country names and jieba's places."""
    with (root / "pii" / "zh_admin_divisions_2023.csv").open(encoding="utf-8", newline="") as f:
        divisions = {r["name"] for r in csv.DictReader(f)} - {"市辖区", "县"}
    return sorted(divisions | set(zh_lexicon.country_names()) | set(_jieba_words({"ns"})))


def _orgs(rng: random.Random, n: int = 600) -> list[str]:
    """Faker's Chinese company names and jieba's organisations."""
    from faker import Faker

    fake = Faker("zh_CN")
    fake.seed_instance(rng.randrange(2**31))
    return sorted({fake.company() for _ in range(n)} | set(_jieba_words({"nt"})))


def char_stats(given: list[str], modern: list[str]) -> zh_names.CharStats:
    """log2 of (share among given-name characters) / (share in jieba's word frequencies), and
    the same for surnames (frequency per 100k people)."""
    weight: dict[str, int] = {}
    with zh_lexicon.jieba_dictionary().open(encoding="utf-8") as f:
        for line in f:
            word, freq, _ = line.split()
            for ch in word:
                weight[ch] = weight.get(ch, 0) + int(freq)
    total = sum(weight.values())
    counts: dict[str, float] = {}
    for names, each in ((given, 1.0), (modern, 30.0)):  # today's names weigh as much
        for name in names:
            for ch in name:
                counts[ch] = counts.get(ch, 0.0) + each
    for position in name_char_weights():
        for ch, c in position.items():
            counts[ch] = counts.get(ch, 0.0) + c
    n = sum(counts.values())

    def ratio(share: float, ch: str) -> int:
        value = math.log2(share / ((weight.get(ch, 0) + 1) / total))
        return int(max(-8, min(8, round(value))))

    given_ratio = {ch: ratio(c / n, ch) for ch, c in counts.items()}
    surnames = {s: ratio(f / 1e5, s) for s, f in zh_lexicon.surnames().items() if len(s) == 1}
    foreign_counts: dict[str, int] = {}
    countries = [c for c in zh_lexicon.country_names() if re.fullmatch(r"[\u4e00-\u9fff]+", c)]
    for name in transliterated_names() + countries:  # countries share their characters
        for ch in name:
            foreign_counts[ch] = foreign_counts.get(ch, 0) + 1
    m = sum(foreign_counts.values())
    foreign = {ch: ratio(c / m, ch) for ch, c in foreign_counts.items() if c >= 3}
    return zh_names.CharStats(given=given_ratio, surname=surnames, foreign=foreign)


def transliterated_names() -> list[str]:
    """Foreign names written in Chinese characters: jieba's entries tagged nrt (transliterated
    person names, with some noise). The character statistics also count Faker's Chinese
    country names; the made-up names are not built from them (they would look like places)."""
    return [w for w in _jieba_words({"nrt"}) if len(w) >= 3]


class ForeignNames:
    """Made-up transliterated names from a character bigram model of ``transliterated_names``:
    the model learns what such names look like, not the names of the dictionary."""

    def __init__(self, names: list[str]) -> None:
        self.next: dict[str, list[str]] = {}
        for name in names:
            chars = ["^", *name, "$"]
            for x, y in itertools.pairwise(chars):
                self.next.setdefault(x, []).append(y)

    def one(self, rng: random.Random) -> str:
        while True:
            out, ch = "", "^"
            while len(out) <= 6:
                ch = rng.choice(self.next[ch])
                if ch == "$":
                    break
                out += ch
            if 2 <= len(out) <= 6:
                return out

    def __call__(self, rng: random.Random) -> str:
        if rng.random() < 0.25:
            return self.one(rng) + rng.choice("··•") + self.one(rng)
        return self.one(rng)


def known_two_char_names(stats: zh_names.CharStats) -> list[str]:
    """Two-character entries jieba tags as a person whose first character is mostly a surname
    and whose second is a given-name character (王平, 李鹏; not 明白, 张开), below the
    frequency of everyday words. News names such people often, and they are dictionary words:
    without them in training the model would learn that a dictionary word is never a name."""
    lex = zh_lexicon.words()
    return sorted(
        w
        for w in lex.person2
        if stats.surname.get(w[0], -9) >= 5
        and stats.given.get(w[1], -9) >= 1
        and lex.bucket[w] <= 9
    )


def pools(root: Path) -> tuple[Pools, Pools]:
    """Train and held-out pools: templates, sentences and given names split by a hash."""
    rng = random.Random(0)
    table = zh_lexicon.surnames()
    singles = [s for s in table if len(s) == 1]
    doubles = [s for s in table if len(s) == 2]
    corpus_given, modern_given = given_names(root)
    modern_chars = sorted({ch for g in modern_given for ch in g})
    sentences = corpus_sentences(root)
    jobs, places, orgs = sorted(zh_lexicon.faker_jobs()), _places(root), _orgs(rng)
    stats = char_stats(corpus_given, modern_given)
    foreign = ForeignNames(transliterated_names())
    first, second = name_char_weights()
    sides = []
    for held in (False, True):

        def pick(items: Iterable[str], held: bool = held) -> list[str]:
            return [x for x in items if _held_out(x) == held]

        side = Pools(
            singles=singles,
            single_weights=[table[s] ** 0.8 for s in singles],
            doubles=doubles,
            given_corpus=pick(corpus_given),
            given_modern=pick(modern_given),
            given_chars=pick(modern_chars),
            known2=pick(known_two_char_names(stats)),
            first_chars=(list(first), list(first.values())),
            second_chars=(list(second), list(second.values())),
            foreign=foreign,
            sentences=pick(sentences),
            templates=tuple(pick(NAME_TEMPLATES)),
            jobs=jobs,
            places=places,
            orgs=orgs,
            stats=stats,
        )
        side.pronoun_sentences = [s for s in side.sentences if _PRONOUN.search(s)]
        sides.append(side)
    return sides[0], sides[1]


def _name(p: Pools, rng: random.Random) -> str:
    """A surname by frequency; a given name of one character about one time in five (as in
    news text), of today (Faker's, or two of its characters) or of the historical corpus."""
    surname = (
        rng.choice(p.doubles)
        if rng.random() < 0.03
        else rng.choices(p.singles, p.single_weights)[0]
    )
    r = rng.random()
    if rng.random() < 0.12:
        return p.foreign(rng)
    if rng.random() < 0.22:
        if r < 0.25:
            return rng.choice(p.known2)
        if r < 0.5:
            return surname + rng.choices(*p.second_chars)[0]
        pool = p.given_chars if r < 0.8 else p.given("corpus", 1)
        return surname + rng.choice(pool)
    if r < 0.35:
        return surname + rng.choice(p.given("modern", 2))
    if r < 0.5:
        return surname + rng.choice(p.given_chars) + rng.choice(p.given_chars)
    if r < 0.75:
        first = rng.choices(*p.first_chars)[0]
        return surname + first + rng.choices(*p.second_chars)[0]
    return surname + rng.choice(p.given("corpus", 2))


def _fill(template: str, p: Pools, rng: random.Random) -> Example:
    """The template with its slots filled; the spans of the names it holds."""
    values: dict[str, Callable[[], str]] = {
        "s": lambda: rng.choice(p.sentences)[:40],
        "title": lambda: rng.choice(TITLES),
        "job": lambda: rng.choice(p.jobs),
        "place": lambda: _place(p, rng),
        "org": lambda: rng.choice(p.orgs),
        "age": lambda: str(rng.randrange(18, 90)),
        "year": lambda: str(rng.randrange(1940, 2010)),
        "phone": lambda: "1" + rng.choice("3456789") + str(rng.randrange(10**8, 10**9)),
    }
    text, spans = "", []
    for part in re.split(r"(\{\w+\})", template):
        slot = part[1:-1] if part.startswith("{") else None
        if slot in ("n", "m", "k"):
            name = _name(p, rng)
            spans.append((len(text), len(text) + len(name)))
            text += name
        elif slot is not None:
            text += values[slot]()
        else:
            text += part
    return text, spans


def _place(p: Pools, rng: random.Random) -> str:
    """A real place, or a village or town named after a family or a made-up one (李庄, 陈家村,
    桑坪镇): news names many, and they start with a surname as names do."""
    if rng.random() < 0.6:
        return rng.choice(p.places)
    stem = rng.choices(p.singles, p.single_weights)[0]
    if rng.random() < 0.5:
        stem += rng.choice(p.given_chars)
    elif rng.random() < 0.3:
        stem += "家"
    return stem + rng.choice(PLACE_SUFFIXES)


PLACE_SUFFIXES = _words("村 村 庄 庄 镇 镇 乡 乡 屯 寨 营 店 铺 桥 沟 湾 坪 山 县 州 港")


def _pronouns_to_names(sentence: str, p: Pools, rng: random.Random) -> Example:
    """他/她/我 of one kind become one name (他说 → 陈晓明说)."""
    kind = rng.choice(sorted({m.group() for m in _PRONOUN.finditer(sentence)}))
    name = _name(p, rng)
    text, spans, last = "", [], 0
    for m in _PRONOUN.finditer(sentence):
        if m.group() != kind:
            continue
        text += sentence[last : m.start()]
        spans.append((len(text), len(text) + len(name)))
        text += name
        last = m.end()
    return text + sentence[last:], spans


def _glue(p: Pools, rng: random.Random) -> Example:
    """A name inside running text: the end of one sentence, maybe a title, a word before, the
    name, a word after, the start of another."""
    head = rng.choice(p.sentences)
    head = head[len(head) - rng.randrange(0, 16) :] if rng.random() < 0.8 else ""
    title = rng.choice([*TITLES, rng.choice(p.jobs)]) if rng.random() < 0.3 else ""
    text = head.rstrip("。！？!?") + rng.choice(BEFORE) + title
    name = _name(p, rng)
    span = (len(text), len(text) + len(name))
    after = rng.choice(AFTER)
    if rng.random() < 0.2:  # 江泽民主席, 彭真同志说
        after = rng.choice(TITLES) + rng.choice(AFTER[:12])
    tail = rng.choice(p.sentences)[: rng.randrange(0, 16)]
    return text + name + after + tail, [span]


def _inserted(p: Pools, rng: random.Random) -> Example:
    """A name put between two words of a real sentence (队医|郑伟|违反), maybe after a title:
    in news text most names sit inside a run of characters, not beside punctuation, and
    without this the model learns that a character on either side speaks against a name."""
    import jieba

    words = jieba.lcut(rng.choice(p.sentences))
    at = rng.randrange(0, len(words) + 1)
    text = "".join(words[:at])
    if rng.random() < 0.3:
        text += rng.choice([*TITLES, rng.choice(p.jobs)])
    name = _name(p, rng)
    return text + name + "".join(words[at:]), [(len(text), len(text) + len(name))]


def _name_list(p: Pools, rng: random.Random) -> Example:
    """Names in a row: 李鹏、乔石和李瑞环 · 吴阶平 宋健 李贵鲜 · 刘本立刘明康 (no separator)."""
    sep = rng.choice(["、", "、", "，", " ", "　", ""])
    text, spans = rng.choice(["", "出席的有", "名单：", "委员", "获奖者", "他们是"]), []
    for i in range(rng.randrange(2, 6)):
        if i:
            text += sep
        name = _name(p, rng)
        spans.append((len(text), len(text) + len(name)))
        text += name
    return text + rng.choice(["", "。", "等", "等人", "分别发言。"]), spans


def generate(p: Pools, n: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    out: list[Example] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.1:
            out.append(_fill(rng.choice(p.templates), p, rng))
        elif r < 0.3:
            out.append(_inserted(p, rng))
        elif r < 0.42:
            out.append(_glue(p, rng))
        elif r < 0.47:
            out.append(_name_list(p, rng))
        elif r < 0.64 and p.pronoun_sentences:
            out.append(_pronouns_to_names(rng.choice(p.pronoun_sentences), p, rng))
        elif r < 0.9:
            out.append((rng.choice(p.sentences), []))
        else:
            out.append(_fill(rng.choice(NEGATIVE_TEMPLATES), p, rng))
    return out


_LEXICAL = ("cw=", "cwall=", "cp=", "sg=", "gg=", "xl=", "xr=", "seg=", "cuta=", "cutb=")


def rows(
    examples: list[Example], stats: zh_names.CharStats, dropout: float = 0.0, seed: int = 0
) -> tuple[list[list[str]], np.ndarray, list[tuple[int, zh_names.Candidate]]]:
    """Features and labels of every candidate; (example, candidate) of each row. With
    ``dropout``, that share of the rows loses its dictionary features: in generated text a
    name almost never touches a dictionary word, and without dropout the model would lean on
    that alone and learn little from the context."""
    rng = random.Random(seed)
    feats, labels, where = [], [], []
    for k, (text, spans) in enumerate(examples):
        scan = zh_names._Scan(text, stats)
        gold = set(spans)
        for c in zh_names.candidates(text, stats):
            if not zh_names.kept(scan, c):
                continue
            f = zh_names.features(scan, c)
            if dropout and rng.random() < dropout:
                f = [x for x in f if not x.removeprefix("F:").startswith(_LEXICAL)]
            feats.append(f)
            labels.append(int((c.start, c.end) in gold))
            where.append((k, c))
    return feats, np.array(labels), where


def decode_counts(
    examples: list[Example],
    probs: np.ndarray,
    where: list[tuple[int, zh_names.Candidate]],
    threshold: float,
) -> np.ndarray:
    """Per example: right names, wrong names and gold names that ``zh_names.decode`` (what
    ``find`` returns) gives at ``threshold`` (an array of shape (examples, 3))."""
    by_example: dict[int, list[tuple[zh_names.Candidate, float]]] = {}
    for p, (k, c) in zip(probs, where, strict=True):
        by_example.setdefault(k, []).append((c, float(p)))
    counts = np.zeros((len(examples), 3), dtype=np.int64)
    counts[:, 2] = [len(spans) for _, spans in examples]
    for k, scored in by_example.items():
        text, spans = examples[k]
        found = [(s, e) for s, e, _ in zh_names.decode(text, scored, threshold)]
        gold = set(spans)
        counts[k, 0] = sum(span in gold for span in found)
        counts[k, 1] = sum(span not in gold for span in found)
    return counts


def f1(counts: np.ndarray) -> float:
    """Exact-span F1 of summed (right, wrong, gold) counts."""
    tp, fp, total = counts.sum(axis=0)
    precision, recall = tp / max(tp + fp, 1), tp / max(total, 1)
    return float(2 * precision * recall / max(precision + recall, 1e-9))


def decode_f1(
    examples: list[Example],
    probs: np.ndarray,
    where: list[tuple[int, zh_names.Candidate]],
    threshold: float,
) -> float:
    """Exact-span F1 of greedy decoding at ``threshold``."""
    return f1(decode_counts(examples, probs, where, threshold))


THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6)


def choose_threshold(
    examples: list[Example],
    probs: np.ndarray,
    where: list[tuple[int, zh_names.Candidate]],
    rounds: int = 200,
) -> tuple[float, float, float]:
    """(threshold, its held-out F1, one standard error of the best F1 by bootstrap over the
    examples). The highest threshold whose F1 is within one standard error of the best: on
    generated sentences F1 is flat across a wide band of thresholds, and real text holds more
    name-like words than generated text does, so among thresholds the held-out set cannot tell
    apart the one with fewer false names is taken (the one-standard-error rule)."""
    counts = {t: decode_counts(examples, probs, where, t) for t in THRESHOLDS}
    scores = {t: f1(c) for t, c in counts.items()}
    best = max(THRESHOLDS, key=lambda t: scores[t])
    rng = np.random.default_rng(0)
    draws = [rng.integers(0, len(examples), len(examples)) for _ in range(rounds)]
    error = float(np.std([f1(counts[best][d]) for d in draws]))
    chosen = max(t for t in THRESHOLDS if scores[t] >= scores[best] - error)
    return chosen, scores[chosen], error


def train(root: Path, n_train: int = 80000, n_held: int = 8000) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression

    train_pool, held_pool = pools(root)
    train_ex = generate(train_pool, n_train, seed=1)
    held_ex = generate(held_pool, n_held, seed=2)
    hasher = zh_names._hasher()
    f_train, y_train, _ = rows(train_ex, train_pool.stats, dropout=0.3, seed=3)
    f_held, _, where = rows(held_ex, train_pool.stats)
    x_train, x_held = hasher.transform(f_train), hasher.transform(f_held)
    fits = []  # (best held-out F1, C, model, held-out probabilities)
    for c in (0.3, 1.0, 3.0):
        model = LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train)
        probs = model.predict_proba(x_held)[:, 1]
        fits.append((max(decode_f1(held_ex, probs, where, t) for t in THRESHOLDS), c, model, probs))
    _, c, model, probs = max(fits, key=lambda fit: fit[0])  # the first of equals, as before
    threshold, score, error = choose_threshold(held_ex, probs, where)
    np.savez_compressed(
        zh_names.ARTIFACT,
        weights=model.coef_[0].astype(np.float16),
        intercept=np.float32(model.intercept_[0]),
        threshold=np.float32(threshold),
        given_chars=np.array(sorted(train_pool.stats.given)),
        given_ratio=np.array(
            [train_pool.stats.given[ch] for ch in sorted(train_pool.stats.given)], dtype=np.int8
        ),
        surname_chars=np.array(sorted(train_pool.stats.surname)),
        surname_ratio=np.array(
            [train_pool.stats.surname[ch] for ch in sorted(train_pool.stats.surname)], dtype=np.int8
        ),
        foreign_chars=np.array(sorted(train_pool.stats.foreign)),
        foreign_ratio=np.array(
            [train_pool.stats.foreign[ch] for ch in sorted(train_pool.stats.foreign)], dtype=np.int8
        ),
    )
    zh_names._model.cache_clear()
    return {
        "held_out_f1": score,
        "best_f1_error": error,
        "C": c,
        "threshold": threshold,
        "rows": float(len(y_train)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Rebuild the Chinese name detector's data.")
    default = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    parser.add_argument("--data", type=Path, default=default)
    args = parser.parse_args()
    print(f"{build_surnames(args.data)} surnames: {zh_lexicon.SURNAMES_FILE}")
    result = train(args.data)
    size = zh_names.ARTIFACT.stat().st_size
    print(f"{zh_names.ARTIFACT} ({size} bytes): {result}")


if __name__ == "__main__":
    main()
