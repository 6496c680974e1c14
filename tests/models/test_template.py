"""The rule/template model: config validation, matching, languages, variants, streaming."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aigc.errors import InvalidRequest
from aigc.models.protocols import ChatMessage, TextModel, TextRequest
from aigc.models.text.template import (
    HELPDESK_PATH,
    TemplateConfigError,
    TemplateModel,
    load_template_config,
    question_language,
    validate_config,
    validate_template_file,
)
from aigc.models.tokens import count_tokens

# A small valid config; tests append or replace parts of it to provoke one problem at a time.
BASE = """\
name: test-desk
languages: [en, zh]
slots:
  phone: "123"
  place: {en: the desk, zh: 服务台}
intents:
  - id: printer
    patterns: ['printer\\s+(?P<name>[a-z]*\\d+)']
    answers:
      en: ['Fixing {name}. Call {phone}.']
      zh: ['正在处理{name}，电话 {phone}。']
  - id: vpn
    patterns: ['\\bvpn\\b']
    keywords: {en: [tunnel], zh: [远程]}
    answers:
      en: ['VPN help at {place}.', 'VPN variant two.', 'VPN variant three.']
      zh: ['VPN 帮助在{place}。', 'VPN 变体二。', 'VPN 变体三。']
    follow_up: {en: 'Anything else?', zh: '还有其他问题吗？'}
  - id: print_kw
    keywords: {en: [print, toner cartridge], zh: [打印]}
    answers: {en: ['Printing tips.'], zh: ['打印提示。']}
  - id: toner
    keywords: {en: [toner]}
    answers: {en: ['Toner.'], zh: ['墨粉。']}
fallback:
  en: ['I only know printers and VPN. Call {phone}.']
  zh: ['我只了解打印机和 VPN，请致电 {phone}。']
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(TemplateConfigError) as info:
        load_template_config(text)
    assert str(info.value).count("\n  - ") == len(info.value.problems)
    return info.value.problems


def with_intent(intent_yaml: str) -> str:
    """BASE with one more intent inserted before ``fallback``."""
    block = textwrap.indent(textwrap.dedent(intent_yaml).strip(), "  ")
    return BASE.replace("fallback:", block + "\nfallback:")


@pytest.fixture(scope="module")
def desk() -> TemplateModel:
    return TemplateModel(load_template_config(BASE))


@pytest.fixture(scope="module")
def helpdesk() -> TemplateModel:
    return TemplateModel.from_file(HELPDESK_PATH)


# ---------------------------------------------------------------------------- validation


def test_base_config_is_valid() -> None:
    config = load_template_config(BASE)
    assert config.name == "test-desk"
    assert [i.id for i in config.intents] == ["printer", "vpn", "print_kw", "toner"]


def test_bad_regex_names_intent_pattern_and_error() -> None:
    problems = problems_of(
        with_intent("""
        - id: broken
          patterns: ['ok', '(unclosed']
          answers: {en: [x], zh: [x]}
        """)
    )
    assert len(problems) == 1
    assert problems[0].startswith("intents[4] (broken).patterns[1]: bad regex '(unclosed'")
    assert "missing )" in problems[0]


def test_unknown_placeholder_is_reported_with_location() -> None:
    problems = problems_of(
        with_intent("""
        - id: vpn_setup
          patterns: ['setup']
          answers: {en: ['ok {phone}', 'see {portal}'], zh: ['好']}
        """)
    )
    assert problems == [
        "intents[4] (vpn_setup).answers.en[1]: unknown placeholder {portal}: not a slot"
        " nor a named group of every pattern of this intent"
    ]


def test_placeholder_must_be_a_group_of_every_pattern() -> None:
    problems = problems_of(
        with_intent("""
        - id: room
          patterns: ['room (?P<room>\\d+)', 'meeting']
          answers: {en: ['In {room}.'], zh: ['在{room}。']}
        """)
    )
    assert len(problems) == 2
    assert problems[0].startswith("intents[4] (room).answers.en[0]: unknown placeholder {room}")
    assert problems[1].startswith("intents[4] (room).answers.zh[0]: unknown placeholder {room}")


def test_group_placeholder_needs_a_default_when_keywords_can_match() -> None:
    intent = """
    - id: room
      patterns: ['room (?P<room>\\d+)']
      keywords: {en: [meeting]}
      answers: {en: ['In {room}.'], zh: ['在{room}。']}
    """
    problems = problems_of(with_intent(intent))
    assert len(problems) == 2
    assert "a keyword match captures nothing" in problems[0]
    # A global default fixes it: the keyword match uses the default, a regex match the capture.
    fixed = with_intent(intent).replace('  phone: "123"', '  phone: "123"\n  room: the room')
    model = TemplateModel(load_template_config(fixed))
    assert model.answer("meeting please").text == "In the room."
    assert model.answer("room 42 please").text == "In 42."


def test_missing_answer_language() -> None:
    problems = problems_of(
        with_intent("""
        - id: vpn_setup
          patterns: ['setup']
          answers: {en: ['ok']}
        """)
    )
    assert problems == ["intents[4] (vpn_setup).answers.zh: missing for language 'zh'"]


def test_undeclared_and_follow_up_languages() -> None:
    problems = problems_of(
        with_intent("""
        - id: extra
          patterns: ['x']
          keywords: {fr: [bonjour]}
          answers: {en: ['a'], zh: ['b'], fr: ['c']}
          follow_up: {en: 'more?'}
        """)
    )
    assert "intents[4] (extra).keywords.fr: language 'fr' is not in languages ['en', 'zh']" in (
        problems
    )
    assert "intents[4] (extra).answers.fr: language 'fr' is not in languages ['en', 'zh']" in (
        problems
    )
    assert "intents[4] (extra).follow_up.zh: missing for language 'zh'" in problems


def test_duplicate_intent_ids() -> None:
    problems = problems_of(
        with_intent("""
        - id: vpn
          patterns: ['again']
          answers: {en: ['a'], zh: ['b']}
        """)
    )
    assert problems == ["intents[4] (vpn).id: duplicate id 'vpn' (also intents[1])"]


def test_intent_without_patterns_or_keywords() -> None:
    problems = problems_of(
        with_intent("""
        - id: unreachable
          keywords: {en: ['  ']}
          answers: {en: ['a'], zh: ['b']}
        """)
    )
    assert "intents[4] (unreachable).keywords.en[0]: empty keyword" in problems
    assert "intents[4] (unreachable): needs at least one pattern or keyword to be reachable" in (
        problems
    )


def test_every_problem_is_listed_at_once() -> None:
    text = with_intent("""
    - id: vpn
      patterns: ['[a-']
      answers: {en: ['{nope}']}
    """)
    text = text.replace("fallback:\n  en: ['I only", "fallback:\n  de: ['I only")
    problems = problems_of(text)
    locations = [p.split(":")[0] for p in problems]
    assert locations == [
        "intents[4] (vpn).id",
        "intents[4] (vpn).patterns[0]",
        "intents[4] (vpn).answers.zh",
        "intents[4] (vpn).answers.en[0]",
        "fallback.en",
        "fallback.de",
    ]


def test_bad_placeholders_are_rejected() -> None:
    problems = problems_of(
        with_intent("""
        - id: fmt
          patterns: ['x']
          answers:
            en: ['{phone.__class__}', '{phone!r}', '{0}', 'open {']
            zh: ['{{literal braces}} are fine {phone}']
        """)
    )
    assert len(problems) == 4
    assert problems[0].startswith("intents[4] (fmt).answers.en[0]: placeholder {phone.__class__}")
    assert problems[1].startswith("intents[4] (fmt).answers.en[1]: placeholder {phone!r}")
    assert problems[2].startswith("intents[4] (fmt).answers.en[2]: placeholder {0}")
    assert problems[3].startswith("intents[4] (fmt).answers.en[3]: bad template")


def test_per_language_slot_must_cover_languages() -> None:
    problems = problems_of(BASE.replace("place: {en: the desk, zh: 服务台}", "place: {en: desk}"))
    assert problems == ["slots.place.zh: missing for language 'zh'"]


def test_structural_errors_come_from_pydantic_with_locations() -> None:
    text = BASE.replace("    follow_up:", "    answer: oops\n    follow_up:")
    text = text.replace("name: test-desk\n", "name: test-desk\ncolour: blue\n")
    problems = problems_of(text)
    assert "colour: Extra inputs are not permitted" in problems
    assert "intents[1] (vpn).answer: Extra inputs are not permitted" in problems
    missing = problems_of(BASE.split("fallback:")[0])
    assert missing == ["fallback: Field required"]


def test_slot_values() -> None:
    config = load_template_config(BASE.replace('phone: "123"', "phone: 123"))
    assert config.slots["phone"] == "123"  # numbers are accepted as text
    problems = problems_of(BASE.replace('phone: "123"', "phone: [1, 2]"))
    assert problems == ["slots.phone: must be text or a mapping {language: text}"]


def test_yaml_errors_and_duplicate_keys() -> None:
    assert problems_of("name: [unclosed")[0].startswith("YAML syntax error")
    assert problems_of("- just a list") == [
        "top level: expected a mapping (name, languages, intents, ...)"
    ]
    dup = BASE.replace("      zh: ['正在处理", "      zh: ['first']\n      zh: ['正在处理")
    problems = problems_of(dup)
    assert len(problems) == 1
    assert "duplicate key 'zh' (YAML keeps only the last)" in problems[0]
    assert problems[0].startswith("line 12:")


def test_validate_template_file(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(BASE, encoding="utf-8")
    assert validate_template_file(good) == []
    assert load_template_config(good).name == "test-desk"
    assert TemplateModel.from_file(good).name == "test-desk"
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("zh: ['打印提示。']", "de: ['x']"), encoding="utf-8")
    assert validate_template_file(bad) == [
        "intents[2] (print_kw).answers.zh: missing for language 'zh'",
        "intents[2] (print_kw).answers.de: language 'de' is not in languages ['en', 'zh']",
    ]
    missing = validate_template_file(tmp_path / "nope.yaml")
    assert len(missing) == 1 and "cannot read" in missing[0]
    with pytest.raises(TemplateConfigError, match=r"bad\.yaml: 2 problem\(s\)"):
        load_template_config(bad)


def test_a_string_is_yaml_text_never_a_path(tmp_path: Path) -> None:
    """A tenant admin's ``config.yaml`` naming a server file is refused as text, unread."""
    good = tmp_path / "good.yaml"
    good.write_text(BASE, encoding="utf-8")
    with pytest.raises(TemplateConfigError) as info:
        load_template_config(str(good))
    assert str(info.value).startswith("template config: ")
    assert str(good) not in str(info.value) and "name: test-desk" not in str(info.value)
    for named in (good, tmp_path / "missing.yaml"):  # no read, so no OSError for a missing one
        with pytest.raises(InvalidRequest, match="Invalid template configuration"):
            validate_config({"yaml": str(named)})


def test_model_rechecks_a_config_built_in_code() -> None:
    config = load_template_config(BASE)
    broken = config.model_copy(update={"fallback": {"en": ["{missing}"]}})
    with pytest.raises(TemplateConfigError) as info:
        TemplateModel(broken)
    assert info.value.problems == [
        "fallback.zh: missing for language 'zh'",
        "fallback.en[0]: unknown placeholder {missing}: not a slot",
    ]


def test_shipped_helpdesk_is_valid() -> None:
    assert validate_template_file(HELPDESK_PATH) == []
    config = load_template_config(HELPDESK_PATH)
    assert config.name == "template-helpdesk"
    assert config.languages == ["en", "zh"]
    assert len(config.intents) >= 15


# ---------------------------------------------------------------------------- matching


def test_regex_beats_keywords_and_ties_go_to_file_order(desk: TemplateModel) -> None:
    # "print" and "toner cartridge" keywords, but the printer regex matches: regex wins.
    assert desk.answer("printer p7 needs a toner cartridge for print").intent == "printer"
    # Keywords only: "toner cartridge" (longer) outweighs "toner" alone.
    assert desk.answer("new toner cartridge").intent == "print_kw"
    # Equal weight: print (5) vs toner (5) -> the first in the file.
    assert desk.answer("print toner").intent == "print_kw"
    assert desk.answer("toner").intent == "toner"


def test_keyword_boundaries(desk: TemplateModel) -> None:
    assert desk.answer("blueprint").intent is None  # English keywords are whole words ...
    assert desk.answer("I print a lot").intent == "print_kw"
    assert desk.answer("prints").intent == "print_kw"  # ... plural included
    assert desk.answer("我想打印文件").intent == "print_kw"  # Chinese keywords are substrings
    assert desk.answer("公司tunnel连不上").intent == "vpn"  # Latin next to Chinese is a boundary


def test_normalisation(desk: TemplateModel) -> None:
    assert desk.answer("ＶＰＮ？").intent == "vpn"  # full-width letters (NFKC)
    assert desk.answer("My   VPN\nplease").intent == "vpn"


def test_named_group_fills_slot(desk: TemplateModel) -> None:
    assert desk.answer("PRINTER Hp42 broken").text == "Fixing Hp42. Call 123."
    assert desk.answer("printer hp42 坏了怎么办").text == "正在处理hp42，电话 123。"


def test_fallback(desk: TemplateModel) -> None:
    answer = desk.answer("what's the weather?")
    assert answer.intent is None
    assert answer.text == "I only know printers and VPN. Call 123."
    assert desk.answer("今天天气怎么样").text == "我只了解打印机和 VPN，请致电 123。"
    assert desk.answer("").intent is None


def test_per_language_slots_and_follow_up(desk: TemplateModel) -> None:
    assert desk.answer("vpn").text == "VPN help at the desk.\n\nAnything else?"
    assert desk.answer("vpn 怎么用").text == "VPN 帮助在服务台。\n\n还有其他问题吗？"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How do I reset my password?", "en"),
        ("忘记密码了怎么办", "zh"),
        ("公司VPN连不上", "zh"),  # mostly Chinese, with an English word
        ("Where is meeting room 会议室", "en"),  # mostly English, with a Chinese name
        ("1234 ???", "en"),  # nothing to judge by: the first language
        ("パスワードを忘れました", "en"),  # Japanese is not configured: the first language
    ],
)
def test_question_language(text: str, expected: str) -> None:
    assert question_language(text, ["en", "zh"]) == expected


def test_question_language_respects_configuration() -> None:
    assert question_language("忘记密码了", ["en"]) == "en"
    assert question_language("忘记密码了", ["zh-CN", "en"]) == "zh-CN"
    assert question_language("forgot my password", ["zh", "en"]) == "en"
    assert question_language("", ["zh", "en"]) == "zh"


def test_variants(desk: TemplateModel) -> None:
    first = "VPN help at the desk.\n\nAnything else?"
    assert desk.answer("vpn", seed=None, temperature=0).text == first
    assert desk.answer("vpn", seed=5, temperature=0).text == first
    for seed in range(10):
        texts = {desk.answer("vpn", seed=seed, temperature=0.8).text for _ in range(3)}
        assert len(texts) == 1  # deterministic per seed
    chosen = {desk.answer("vpn", seed=seed, temperature=1.0).text for seed in range(30)}
    assert len(chosen) == 3  # and the seeds reach every variant


# ---------------------------------------------------------------------------- TextModel protocol


def test_generate_streams_the_answer(desk: TemplateModel) -> None:
    assert isinstance(desk, TextModel)
    request = TextRequest(
        messages=[
            ChatMessage("system", "You are helpful. vpn"),
            ChatMessage("user", "printer x1 is broken"),
            ChatMessage("assistant", "Which printer?"),
            ChatMessage("user", "the VPN, sorry"),
        ],
        temperature=0,
    )
    pieces = list(desk.generate(request))
    expected = desk.answer("the VPN, sorry", temperature=0).text
    assert "".join(pieces) == expected
    assert len(pieces) > 3
    assert desk.count_tokens(expected) == count_tokens(expected) > 0


def test_generate_chinese_streams_by_character(desk: TemplateModel) -> None:
    pieces = list(desk.generate(TextRequest(prompt="今天天气怎么样", temperature=0)))
    assert "".join(pieces) == "我只了解打印机和 VPN，请致电 123。"
    assert pieces[:3] == ["我", "只", "了"]


def test_generate_uses_seed_and_temperature(desk: TemplateModel) -> None:
    for seed in range(5):
        request = TextRequest(prompt="vpn", seed=seed, temperature=1.0)
        assert "".join(desk.generate(request)) == desk.answer("vpn", seed, 1.0).text


def test_generate_without_user_message_falls_back(desk: TemplateModel) -> None:
    request = TextRequest(messages=[ChatMessage("system", "vpn")], temperature=0)
    assert "".join(desk.generate(request)).startswith("I only know")


# ---------------------------------------------------------------------------- shipped help desk

# Sample questions per intent and language: every intent must be reachable in both languages.
HELPDESK_SAMPLES: dict[str, dict[str, list[str]]] = {
    "account_locked": {
        "en": ["I'm locked out of my account", "my account has been disabled", "I can't log in"],
        "zh": ["账号被锁了怎么办", "账户被冻结了", "我的账号登不上去了"],
    },
    "password_reset": {
        "en": [
            "I forgot my password",
            "how do I reset my password",
            "my password expired",
            "I can't remember my password",
        ],
        "zh": ["忘记密码了怎么办", "密码过期", "怎么修改密码", "密码忘了"],
    },
    "vpn_trouble": {
        "en": ["VPN keeps disconnecting", "why can't I connect to the VPN?", "the vpn is slow"],
        "zh": ["公司VPN连不上", "VPN连接失败，提示超时", "ＶＰＮ连不上？"],
    },
    "vpn_setup": {
        "en": [
            "how do I connect to the VPN from home",
            "how to set up vpn on my laptop",
            "how can I access internal systems from home",
        ],
        "zh": ["VPN怎么连", "在家办公怎么访问内网", "如何安装VPN客户端"],
    },
    "guest_wifi": {
        "en": ["How do guests get wifi?", "password for the guest network"],
        "zh": ["访客怎么上网", "给客户开个访客网络"],
    },
    "wifi": {
        "en": ["what is the wifi password", "I can't connect to the internet"],
        "zh": ["wifi密码是多少", "我的电脑连不上wifi", "连不上网"],
    },
    "printer": {
        "en": ["The printer on the 3rd floor doesn't work", "printer says paper jam"],
        "zh": ["打印机打不出来", "打印机卡纸了", "怎么扫描文件到邮箱"],
    },
    "phishing": {
        "en": [
            "I received a suspicious email on my phone",
            "I think I clicked a phishing link",
            "my boss emailed me asking to buy gift cards",
        ],
        "zh": ["我收到一封可疑邮件", "我不小心点了邮件里的链接", "有人冒充老板发邮件让我买购物卡"],
    },
    "contact_hours": {
        "en": [
            "what are your opening hours",
            "How can I contact the IT help desk?",
            "who do I call for IT help",
        ],
        "zh": ["IT部门电话是多少", "怎么联系IT", "你们几点下班", "人工客服"],
    },
    "email_phone": {
        "en": ["How do I set up Outlook on my iPhone", "my phone is not syncing my email"],
        "zh": ["我想在手机上收公司邮件", "iPhone上怎么设置公司邮箱"],
    },
    "new_employee": {
        "en": [
            "a new hire starts Monday, need a laptop",
            "We have a new colleague starting next week, what do I need to do?",
        ],
        "zh": ["新员工入职需要准备什么", "下周有新同事入职，需要申请什么", "我想申请一台新电脑"],
    },
    "software_install": {
        "en": ["I need to install Photoshop", "can I get admin rights to install software"],
        "zh": ["我需要安装Photoshop", "怎么申请Visio许可"],
    },
    "mfa_setup": {
        "en": ["how do I set up MFA", "I got a new phone, how do I move my authenticator"],
        "zh": ["换手机了，身份验证器怎么迁移", "收不到验证码", "怎么设置双因素认证"],
    },
    "disk_full": {
        "en": ["my C drive is full", "my computer says low disk space"],
        "zh": ["C盘满了", "电脑提示磁盘空间不足"],
    },
    "slow_computer": {
        "en": ["my laptop is very slow", "my laptop keeps freezing", "my new laptop is slow"],
        "zh": ["电脑很卡怎么办", "电脑老是死机", "系统更新后很卡"],
    },
    "shared_drive": {
        "en": [
            "I need access to the finance shared folder",
            "how do I map the network drive",
            "I don't have permission to open the HR folder",
        ],
        "zh": ["申请共享盘权限", "没有权限访问财务部的文件夹"],
    },
    "meeting_room": {
        "en": ["How do I book a meeting room?", "how do I share my screen in a teams meeting"],
        "zh": ["会议室怎么投屏", "3楼会议室的投影仪坏了", "怎么预订视频会议"],
    },
    "thanks": {
        "en": ["thanks!", "thank you so much", "ok thanks, that worked"],
        "zh": ["谢谢", "好的，谢谢", "多谢！"],
    },
    "greeting": {
        "en": ["hi", "Hello!", "good morning"],
        "zh": ["你好", "您好！", "在吗"],
    },
}


def test_samples_cover_every_helpdesk_intent(helpdesk: TemplateModel) -> None:
    assert set(HELPDESK_SAMPLES) == {intent.id for intent in helpdesk.config.intents}


@pytest.mark.parametrize(
    ("intent", "language", "question"),
    [
        (intent, lang, q)
        for intent, by_lang in HELPDESK_SAMPLES.items()
        for lang, questions in by_lang.items()
        for q in questions
    ],
)
def test_helpdesk_sample_questions(
    helpdesk: TemplateModel, intent: str, language: str, question: str
) -> None:
    answer = helpdesk.answer(question)
    assert (answer.intent, answer.language) == (intent, language)
    assert "{" not in answer.text and "}" not in answer.text  # every placeholder was filled


@pytest.mark.parametrize(
    ("question", "intent", "text_start"),
    [
        ("printer PRN-3F-01 is jammed", "printer", "Let's get PRN-3F-01 printing again"),
        ("打印机PRN-3F-01卡纸了", "printer", "PRN-3F-01无法打印？"),
        ("打印机3楼卡纸了", "printer", "打印机无法打印？"),  # "3楼" is a floor, not a printer
        ("How do I book meeting room A301?", "meeting_room", "To run a meeting in A301:"),
        ("projector in room 5B does not work", "meeting_room", "To run a meeting in 5B:"),
        ("A301会议室怎么投屏", "meeting_room", "在A301开会："),
        ("会议室怎么投屏", "meeting_room", "在会议室开会："),
    ],
)
def test_helpdesk_captures_names(
    helpdesk: TemplateModel, question: str, intent: str, text_start: str
) -> None:
    answer = helpdesk.answer(question)
    assert answer.intent == intent
    assert answer.text.startswith(text_start)


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("hello, my vpn doesn't work", "vpn_trouble"),  # a greeting in front changes nothing
        ("thanks, but my vpn still fails", "vpn_trouble"),
        ("I can't log in to the VPN", "vpn_trouble"),
        ("entered wrong password too many times and now I'm locked out", "account_locked"),
        ("the wifi password is wrong", "wifi"),
        ("你好，请问打印机怎么添加", "printer"),
    ],
)
def test_helpdesk_mixed_questions(helpdesk: TemplateModel, question: str, intent: str) -> None:
    assert helpdesk.answer(question).intent == intent


def test_helpdesk_fallback_is_honest(helpdesk: TemplateModel) -> None:
    en = helpdesk.answer("can you book me a flight to Paris?")
    assert en.intent is None and en.language == "en"
    assert "only" in en.text and "helpdesk@example.com" in en.text and "VPN" in en.text
    zh = helpdesk.answer("帮我写一首诗")
    assert zh.intent is None and zh.language == "zh"
    assert "只能回答" in zh.text and "helpdesk@example.com" in zh.text


def test_helpdesk_generate(helpdesk: TemplateModel) -> None:
    request = TextRequest(messages=[ChatMessage("user", "忘记密码了怎么办")], temperature=0)
    pieces = list(helpdesk.generate(request))
    text = "".join(pieces)
    assert text == helpdesk.answer("忘记密码了怎么办").text
    assert "https://it.example.com/password" in text
    assert helpdesk.count_tokens(text) > 50
