"""Relevance for grounded chat: paraphrased Chinese questions find their sources, off-topic
questions in either language find none, a question's filler words weigh nothing."""

from __future__ import annotations

import pytest

from aigc.gateway import grounding as grounding_stage
from aigc.knowledge import relevance
from aigc.knowledge.index import Bm25, tokenize

from .conftest import Sandbox

# Small documents in the style of ../shared/data/retrieval/zh_docs (rules and articles), and
# questions that avoid their wording, as people ask them.
DOCS_ZH = {
    "差旅管理办法.md": (
        "# 差旅管理办法\n\n## 第三条 伙食补贴\n\n员工出差期间，伙食补贴标准为每人每天一百元，"
        "按实际出差天数计算。\n\n## 第四条 住宿\n\n住宿费凭发票报销，一线城市每晚不超过五百元。\n"
    ),
    "年休假制度.md": (
        "# 年休假制度\n\n职工累计工作已满一年不满十年的，年休假五天；已满十年不满二十年的，"
        "年休假十天；已满二十年的，年休假十五天。\n"
    ),
    "信息安全规范.md": (
        "# 信息安全规范\n\n收到钓鱼邮件时，应立即转发给信息安全团队，不得点击其中的链接或附件。\n"
    ),
    "编程规约.md": (
        "# 并发处理\n\n线程池不允许使用 Executors 去创建，而是通过 ThreadPoolExecutor 的方式，"
        "这样的处理方式让写的同学更加明确线程池的运行规则，规避资源耗尽的风险。\n"
    ),
}
ANSWERABLE_ZH = {
    "出差期间的餐费补助是多少？": "差旅管理办法.md",
    "我工作满三年了，一年能休几天带薪假？": "年休假制度.md",
    "收到可疑的诈骗邮件需要怎么处理？": "信息安全规范.md",
    "团队规范允许直接用 JDK 自带的工厂方法建一个固定大小的线程池吗？": "编程规约.md",
}
OFF_TOPIC = [
    "长城有多长？",
    "红烧肉怎么做才好吃？",
    "What is the capital of Peru?",
    "How do I bake sourdough bread at home?",
]


def ask(sandbox: Sandbox, kb: str, question: str) -> list[str]:
    with sandbox.db.session() as s:
        hits = grounding_stage.retrieve_for_prompt(
            s, sandbox.settings, sandbox.admin_a, [kb], question, 2000, len
        )
    return [h.filename for h in hits]


@pytest.fixture
def zh_kb(sandbox: Sandbox) -> str:
    kb = sandbox.kb(sandbox.admin_a, "规章", dense=False)
    sandbox.ingest(sandbox.admin_a, kb, {n: t.encode() for n, t in DOCS_ZH.items()})
    return kb


@pytest.fixture
def zh_kb_with_vectors(sandbox: Sandbox) -> str:
    """As the product builds a knowledge base: Chinese questions ranked by word meanings."""
    kb = sandbox.kb(sandbox.admin_a, "规章（向量）")
    sandbox.ingest(sandbox.admin_a, kb, {n: t.encode() for n, t in DOCS_ZH.items()})
    return kb


def test_paraphrased_chinese_questions_are_not_nothing_relevant(
    sandbox: Sandbox, zh_kb: str, zh_kb_with_vectors: str
) -> None:
    for kb in (zh_kb, zh_kb_with_vectors):
        for question, answering in ANSWERABLE_ZH.items():
            found = ask(sandbox, kb, question)
            assert answering in found, (kb, question, found)


# Plain questions on a small handbook, whose short chunks are less close in meaning to a
# question than long ones: a floor on meaning (coverage ≥ 0.20 with meaning ≥ 0.65, calibrated
# on zh_docs' 200-token chunks) answered 4 of these "nothing relevant".
PLAIN_ZH = {
    "年假怎么申请？": "员工手册.md",
    "住宿费上限是多少？": "差旅管理办法.md",
    "工资每个月什么时候发？": "员工手册.md",
    "出差住酒店能报销吗？": "差旅管理办法.md",
}


def test_plain_chinese_questions_on_a_small_handbook_find_their_sources_by_either_ranking(
    sandbox: Sandbox,
) -> None:
    from .test_meanings import HANDBOOK

    files = {n: t.encode() for n, t in DOCS_ZH.items()} | {"员工手册.md": HANDBOOK.encode()}
    for dense in (False, True):
        kb = sandbox.kb(sandbox.admin_a, f"规章 {dense}", dense=dense)
        sandbox.ingest(sandbox.admin_a, kb, files)
        for question, answering in PLAIN_ZH.items():
            found = ask(sandbox, kb, question)
            assert answering in found, (dense, question, found)


def test_a_chinese_chunk_ranked_by_meaning_passes_on_words_or_on_a_close_meaning() -> None:
    cjk = "cjk"
    assert relevance.judged(0.3, None, False, cjk)  # no meaning score: coverage decides
    assert relevance.judged(0.3, None, False, cjk, meaning_score=0.2)  # meaning never removes
    assert not relevance.judged(0.12, None, False, cjk)
    assert not relevance.judged(0.12, None, False, cjk, meaning_score=0.7)
    assert relevance.judged(0.12, None, False, cjk, meaning_score=0.8)  # a close paraphrase
    assert not relevance.judged(0.05, None, False, cjk, meaning_score=0.95)  # no term at all
    # an English question ignores a meaning score
    assert not relevance.judged(0.1, None, True, "latin", meaning_score=0.99)


def test_off_topic_questions_in_both_languages_get_no_sources(
    sandbox: Sandbox, zh_kb: str, zh_kb_with_vectors: str
) -> None:
    english = sandbox.kb(sandbox.admin_a, "policies", dense=False)
    sandbox.ingest(
        sandbox.admin_a,
        english,
        {
            "travel.md": b"# Travel\n\nMeals on business trips are covered up to 40 euros a day.",
            "security.md": b"# Security\n\nReport phishing e-mails to the security team at once.",
        },
    )
    for kb in (zh_kb, zh_kb_with_vectors, english):
        for question in OFF_TOPIC:
            assert ask(sandbox, kb, question) == [], (kb, question)
    assert ask(sandbox, english, "How much are meals covered on a business trip?") == ["travel.md"]


def test_fillers_weigh_nothing_and_rare_terms_weigh_most() -> None:
    terms = relevance.question_terms("出差期间的餐费补助是多少？需要发票吗？")
    texts = {t.text for t in terms}
    assert {"出差", "期间", "餐费", "补助", "发票"} <= texts
    assert not texts & {"的", "是", "多少", "需要", "吗", "？"}
    english = {t.text for t in relevance.question_terms("What is the meal allowance?")}
    assert english == {"meal", "allow"}  # stemmed as the index stems, stop words out
    chunks = ["出差 伙食 补贴", "出差 住宿 发票", "出差 年假", "出差 邮件"]
    weights = relevance.TermWeights(Bm25.build([tokenize(c) for c in chunks]))
    common, rare, unknown = (relevance.Term(w, cjk=True) for w in ("出差", "伙食", "餐费"))
    assert weights.idf(common) < weights.idf(rare) < weights.idf(unknown)
    # the rare word found outweighs the common one: coverage follows the weights
    cover = relevance.coverage([common, rare], "伙食", weights.idf)
    assert cover > relevance.coverage([common, rare], "出差", weights.idf)


def test_a_question_about_a_company_the_kb_never_mentions_gets_no_sources(
    sandbox: Sandbox,
) -> None:
    """Other companies' filings share "revenue", "quarter" and "2023" with the question; the
    company it names appears nowhere, so none of them is relevant (before: all were)."""
    kb = sandbox.kb(sandbox.admin_a, "filings", dense=False)
    sandbox.ingest(
        sandbox.admin_a,
        kb,
        {
            "contoso-10q.txt": b"Contoso quarterly report, second quarter of 2023. Revenue was "
            b"12.4 million dollars, up 8% from the second quarter of 2022.",
            "northwind-10q.txt": b"Northwind Traders quarterly report, second quarter of 2023. "
            b"Revenue fell to 3.1 million dollars; operating costs rose.",
        },
    )
    absent = "What was Fabrikam's revenue in the second quarter of 2023?"
    assert ask(sandbox, kb, absent) == []
    assert ask(sandbox, kb, "What was Contoso's revenue in the second quarter of 2023?")[0] == (
        "contoso-10q.txt"
    )
    names = {t.text for t in relevance.question_terms(absent) if t.name}
    assert names == {"fabrikam"}  # "What" starts the sentence: not a name


ATTENDANCE = (
    "考勤制度\n\n员工每天上午九点前打卡，下午六点后下班打卡。迟到三次等于旷工半天，当月扣除"
    "全勤奖。请假须提前一天在系统中填写申请。\n"
)


def test_a_one_character_word_counts_only_as_a_word_of_the_chunk(sandbox: Sandbox) -> None:
    """Found by probing a live server: "请写一首关于春天的诗" was answered with the attendance
    rules as its source, through 请 (in 请假), 写 (in 填写) and 天 (in 每天)."""
    terms = relevance.question_terms("请写一首诗")
    assert [t.text for t in terms] == ["写", "一首", "诗"]  # 请, "please", weighs nothing
    # 一 of 一首 in 一天 earns its part; 写 of 填写 and 天 of 每天 earn nothing
    assert relevance.coverage(terms, ATTENDANCE, lambda t: 1.0) == pytest.approx(0.25 / 3)
    assert relevance.coverage(terms, "他写了一首诗。", lambda t: 1.0) == 1.0
    kb = sandbox.kb(sandbox.admin_a, "考勤", dense=False)
    sandbox.ingest(
        sandbox.admin_a,
        kb,
        {"考勤制度.txt": ATTENDANCE.encode()} | {n: t.encode() for n, t in DOCS_ZH.items()},
    )
    assert ask(sandbox, kb, "请写一首关于春天的诗") == []
    assert ask(sandbox, kb, "迟到几次算旷工？") == ["考勤制度.txt"]


def test_a_question_typed_in_full_width_letters_has_the_same_terms() -> None:
    """Found by probing a live server: "ＢＸ－２０２４－０４５６的审批进度" and "ＶＰＮ怎么连？",
    as a Chinese input method types them, had no Latin term at all, so no chunk could be
    relevant."""
    for typed, plain in (
        ("ＢＸ－２０２４－０４５６的审批进度", "BX-2024-0456的审批进度"),
        ("ＶＰＮ怎么连？", "VPN怎么连？"),
    ):
        assert relevance.question_terms(typed) == relevance.question_terms(plain)
        assert any(not t.cjk for t in relevance.question_terms(typed))


OVERTIME = "加班制度\n\n第1条 工作日加班按1.5倍工资计算，休息日按2倍，法定节假日按3倍。\n"


def test_a_calculation_or_a_word_of_equality_makes_no_question_about_the_rules(
    sandbox: Sandbox,
) -> None:
    """Found by probing a live server: "1+1等于几？" was answered with the attendance rules as
    its source, through 等于 (迟到三次等于旷工半天), the one word of the question left after 几.
    A sum's numbers and operators are arithmetic, a word of being (等于, 相当于) no topic, and
    a chunk that holds only a question's numbers (2 of 2倍) none of its words is not about it."""
    assert relevance.question_terms("1+1等于几？") == []
    assert relevance.question_terms("What does 2 plus 2 equal?") == []
    assert [t.text for t in relevance.question_terms("迟到三次等于什么处罚？")] == [
        "迟到",
        "三次",
        "处罚",
    ]
    # a date or a code is no calculation: its numbers stay
    assert {"2024", "0456"} <= {t.text for t in relevance.question_terms("BX-2024-0456的进度")}
    files = {"考勤制度.txt": ATTENDANCE.encode(), "加班制度.txt": OVERTIME.encode()}
    files |= {n: t.encode() for n, t in DOCS_ZH.items()}
    for dense in (False, True):
        kb = sandbox.kb(sandbox.admin_a, f"考勤 {dense}", dense=dense)
        sandbox.ingest(sandbox.admin_a, kb, files)
        for question in (
            "1+1等于几？",
            "一加一等于几？",
            "3×5等于多少？",
            "What is 2 plus 2?",
            "爱情等于什么？",
            "2的平方根是多少？",
        ):
            assert ask(sandbox, kb, question) == [], (dense, question)
        assert ask(sandbox, kb, "迟到三次等于什么处罚？")[0] == "考勤制度.txt"
        assert ask(sandbox, kb, "迟到几次算旷工？")[0] == "考勤制度.txt"
        assert ask(sandbox, kb, "周末加班工资按几倍算？")[0] == "加班制度.txt"
