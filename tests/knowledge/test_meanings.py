"""Chinese words by their meanings: CC-CEDICT senses through the default embedding model,
and the default search ranking a Chinese question's candidates by them."""

from __future__ import annotations

import numpy as np
import pytest

from aigc.config import Settings
from aigc.knowledge import meanings
from aigc.knowledge.embed import text_key
from aigc.knowledge.index import chinese_words
from aigc.knowledge.ingest import embedder_for
from aigc.knowledge.retrieve import search

from .conftest import Sandbox

HANDBOOK = """# 员工手册

## 年假

员工入职满一年后，每年享有十五天带薪年假。年假须提前两周在人事系统中申请。

## 陪产假

男职工在配偶分娩后享有十五日陪产假，陪产假期间工资照发。

## 差旅

员工因公外出时，每天的伙食补贴为一百元，住宿费凭发票实报实销。

## 薪酬

公司于每月十日以银行转账方式支付员工上月薪酬，明细可在人事系统中查看。

## 发票

发票由财务部统一开具，开具的时间为每周二和周四。
"""
# 工资 (wages) is in the 陪产假 section's words; the section that answers says 薪酬 (pay).
QUESTION = "工资每个月什么时候发？"
POEMS = [
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。",
    "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。",
    "千山鸟飞绝，万径人踪灭。孤舟蓑笠翁，独钓寒江雪。",
]


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> meanings.Meanings:
    data = tmp_path_factory.mktemp("meanings")
    return meanings.meanings_for(embedder_for(Settings(data_dir=data)))


def test_a_word_means_its_common_dictionary_senses() -> None:
    senses = meanings.dictionary()
    assert senses["补贴"] == senses["补助"] == "to subsidize; subsidy; allowance"
    assert senses["方"].startswith("square")  # not the surname Fang
    assert "CL:" not in senses["方法"] and senses["方法"].startswith("method")
    assert meanings.parts("餐费补助") == ["餐", "费", "补助"]  # 餐费 is no dictionary word
    assert chinese_words("出差期间的餐费补助是多少？") == ["出差", "期间", "餐费", "补助"]


def test_words_that_mean_the_same_are_closer_than_words_that_do_not(
    reader: meanings.Meanings,
) -> None:
    scores, _ = reader.similarities("员工的工资", ["员工的薪酬", "员工的年假", "员工的发票"])
    assert scores[0] > scores[1] and scores[0] > scores[2], scores
    empty, readings = reader.similarities("工资", ["no Chinese here", ""])
    assert np.all(empty == 0) and all(r.known == 0 for r in readings)


def test_meanings_count_for_modern_chinese_and_not_for_classical_poems(
    reader: meanings.Meanings,
) -> None:
    modern = reader.readings([s for s in HANDBOOK.split("##")[1:]])
    assert meanings.trust(modern) == 1.0
    assert meanings.trust(reader.readings(POEMS)) == 0.0


def test_a_chinese_question_finds_the_passage_that_says_it_in_other_words(
    sandbox: Sandbox,
) -> None:
    kb = sandbox.kb(sandbox.admin_a, "手册")
    sandbox.ingest(sandbox.admin_a, kb, {"员工手册.md": HANDBOOK.encode()})
    with sandbox.db.session() as s:
        by_words = search(s, sandbox.settings, sandbox.admin_a, [kb], QUESTION, mode="keyword")
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], QUESTION)
        by_meaning = search(s, sandbox.settings, sandbox.admin_a, [kb], QUESTION, mode="dense")
    assert by_words[0].headings[-1] == "陪产假"  # BM25 alone: the section that says 工资
    assert hits[0].headings[-1] == "薪酬", [h.headings for h in hits]
    assert all(h.meaning_score is not None and h.dense_score is None for h in hits)
    # the dense mode ranks by meaning alone (MiniLM's own vectors of Chinese are noise)
    assert by_meaning[0].headings[-1] == "薪酬" and by_meaning[0].meaning_score is not None
    scores = [h.meaning_score or 0.0 for h in by_meaning]
    assert scores == sorted(scores, reverse=True)


def test_a_keyword_only_knowledge_base_ranks_a_chinese_question_by_keywords(
    sandbox: Sandbox,
) -> None:
    kb = sandbox.kb(sandbox.admin_a, "手册", dense=False)
    sandbox.ingest(sandbox.admin_a, kb, {"员工手册.md": HANDBOOK.encode()})
    with sandbox.db.session() as s:
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], QUESTION)
    assert hits[0].headings[-1] == "陪产假" and hits[0].meaning_score is None


def test_ingestion_embeds_the_senses_of_chinese_chunks_words(sandbox: Sandbox) -> None:
    """So that a question's first search finds its candidates' words in the cache."""
    kb = sandbox.kb(sandbox.admin_a, "手册")
    sandbox.ingest(sandbox.admin_a, kb, {"员工手册.md": HANDBOOK.encode()})
    embedder = embedder_for(sandbox.settings)
    assert embedder.cache is not None
    senses = meanings.dictionary()
    keys = {w: text_key(embedder.signature, senses[w]) for w in ("薪酬", "伙食", "补贴", "分娩")}
    assert set(embedder.cache.get_many(list(keys.values()))) == set(keys.values())


def test_an_english_passage_in_a_mixed_knowledge_base_is_not_sunk_by_meanings(
    sandbox: Sandbox,
) -> None:
    """A Chinese question's meanings are read from Chinese words; an English passage has none,
    so it is ranked by its keywords and counts as neither close nor far in meaning (it used to
    score 0 and fall below every Chinese chunk: the VPN guide came last)."""
    kb = sandbox.kb(sandbox.admin_a, "mixed")
    sandbox.ingest(
        sandbox.admin_a,
        kb,
        {
            "vpn.md": b"# VPN\n\nIf the VPN does not connect, quit the GlobalProtect client, "
            b"start it again and sign in with your work account.\n",
            "员工手册.md": HANDBOOK.encode(),
        },
    )
    with sandbox.db.session() as s:
        hits = search(s, sandbox.settings, sandbox.admin_a, [kb], "VPN 连不上怎么办？")
    english = next(h for h in hits if h.filename == "vpn.md")
    assert hits.index(english) == 0 and english.meaning_score is None, [
        (h.filename, h.headings, h.meaning_score) for h in hits
    ]


def test_english_texts_are_learnt_without_loading_the_dictionary(
    reader: meanings.Meanings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingesting English documents does not pay for CC-CEDICT (tens of MB, a second to load)."""

    def no_dictionary() -> dict[str, str]:
        raise AssertionError("the dictionary was loaded for English text")

    monkeypatch.setattr(meanings, "dictionary", no_dictionary)
    reader.learn(["Net sales increased 4% in the quarter.", "", "VPN 2.0"])
