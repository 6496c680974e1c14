"""The console's one translation table: every text in both languages, same placeholders."""

from __future__ import annotations

import string

from aigc.console import i18n
from aigc.console.i18n import Translator, pick_language


def load_every_page() -> None:
    """Importing the page modules registers their texts (as mounting the console does)."""
    from aigc.console import setup  # noqa: F401  (the first-run setup page)
    from aigc.console.pages import (  # noqa: F401
        admin,
        chat,
        errors,
        images,
        knowledge,
        login,
        models,
        training,
    )


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_has_both_languages_with_the_same_placeholders() -> None:
    load_every_page()
    english, chinese = i18n.TABLE["en"], i18n.TABLE["zh-CN"]
    assert len(english) > 300  # every page's section was added
    assert set(english) == set(chinese), set(english) ^ set(chinese)
    for key, text in english.items():
        assert text.strip() and chinese[key].strip(), key
        assert placeholders(text) == placeholders(chinese[key]), key


def test_chinese_texts_are_chinese() -> None:
    load_every_page()
    chinese = i18n.TABLE["zh-CN"]
    han = [k for k, t in chinese.items() if any("\u4e00" <= ch <= "\u9fff" for ch in t)]
    assert len(han) / len(chinese) > 0.9  # the rest are names like "aigc", "JSON", "ID"


def test_language_choice() -> None:
    assert pick_language(None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert pick_language(None, "zh-TW") == "zh-CN"
    assert pick_language(None, "fr-FR,en-US;q=0.5") == "en"
    assert pick_language("en", "zh-CN") == "en"  # a choice made in the console wins
    assert pick_language("xx", None) == "en"


def test_translator_formats_and_falls_back() -> None:
    load_every_page()
    tr = Translator("zh-CN")
    assert tr("common.error", message="超时") == "出错了：超时"
    assert Translator("en")("no.such.key") == "no.such.key"


def test_every_training_parameter_of_the_built_in_families_has_a_label() -> None:
    """The training form labels a family's fields from this table; a field without a key
    showed the schema's English title ("Vocab Size", "Min Lr") on the Chinese page."""
    from aigc.console.pages.training import schema_params
    from aigc.models.family import families

    load_every_page()
    for family in families():
        for param in schema_params(family.view()["params_schema"]):
            key = f"training.param.{param.key}"
            assert key in i18n.TABLE["zh-CN"], (family.name, param.key, param.title)
