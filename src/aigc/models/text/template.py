"""The rule/template text model: match an intent by rules, answer from a written template.

The earliest approach to natural-language generation, and still the right one for canned answers:
every answer is written and approved by a person, nothing is invented, and an admin can read, edit
and validate the whole "model" in one YAML file (see ``helpdesk.yaml`` for the shipped default).

YAML schema (checked by pydantic, unknown fields rejected)::

    name: template-helpdesk            # model name
    description: ...                   # optional
    languages: [en, zh]                # answer languages; the first is the default
    slots:                             # global placeholder values
      helpdesk_phone: "+1 555 0100"    #   one value for every language, or
      office_hours: {en: "...", zh: "..."}  # one per language
    intents:
      - id: vpn_setup                  # unique
        patterns: ['...']              # RE2 regexes, case-insensitive; named groups become slots
        keywords: {en: [...], zh: [...]}  # scored below any regex match
        answers: {en: ['template', ...], zh: [...]}  # one or more variants per language
        follow_up: {en: '...', zh: '...'}  # optional, appended after a blank line
    fallback: {en: ['...'], zh: ['...']}  # when no intent matches

Templates use ``{slot}`` placeholders; each must be a global slot or a named group captured by
every pattern of its intent (and, if the intent also has keywords, a global slot: keywords capture
nothing).

Patterns are compiled by RE2 (``aigc.infra.linear_re``), so matching takes time linear in the
question whatever the pattern: a member's 1 MB message cannot stall the server. RE2 has no
lookarounds or backreferences, and its ``\\w``/``\\d``/``\\b`` are ASCII (use ``\\p{L}``).
"""

from __future__ import annotations

import random
import re
import string
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aigc.infra import linear_re
from aigc.infra.linear_re import LinearPattern
from aigc.models.base import TextModelBase
from aigc.models.family import PATH_CONFIG, TEXT, Family, register
from aigc.models.protocols import TextRequest
from aigc.models.stopping import Ended
from aigc.models.tokens import count_tokens, split_tokens

HELPDESK_PATH = Path(__file__).with_name("helpdesk.yaml")

# Kana, hangul and CJK ideographs: the characters that make a question Japanese/Korean/Chinese.
_KANA = "\u3040-\u30ff"
_HANGUL = "\uac00-\ud7af"
_CJK = f"{_KANA}\u3400-\u4dbf\u4e00-\u9fff{_HANGUL}\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_KANA_CHAR = re.compile(f"[{_KANA}]")
_HANGUL_CHAR = re.compile(f"[{_HANGUL}]")
# A run of letters/digits that are not CJK (an English word, "VPN", "3F").
_LATIN_WORD = re.compile(f"[^\\W_{_CJK}]+")
# A keyword's edge: the text's start or end, or a character that is not a Latin letter/digit
# (CJK characters count as edges, so "vpn" is found in "公司vpn连不上"). Written without
# lookarounds so that RE2 can run it: the edge character is consumed, which `hit` does not mind.
_EDGE = f"(?:[^\\p{{L}}\\p{{N}}]|[{_CJK}])"
_KEYWORD_BEFORE = f"(?:^|{_EDGE})"
_KEYWORD_AFTER = f"(?:{_EDGE}|$)"
_CJK_LANGUAGES = ("zh", "ja", "ko")


class TemplateConfigError(ValueError):
    """A template config that cannot be used; ``problems`` lists every problem with its location."""

    def __init__(self, problems: list[str], source: str = "template config") -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s):\n{lines}")


class IntentConfig(BaseModel):
    """One thing users ask about: how to recognise it and what to answer."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    id: str = Field(min_length=1)
    patterns: list[str] = Field(default_factory=list)
    keywords: dict[str, list[str]] = Field(default_factory=dict)
    answers: dict[str, list[str]]
    follow_up: dict[str, str] | None = None


class TemplateConfig(BaseModel):
    """A whole template model as written in its YAML file."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    name: str = Field(min_length=1)
    description: str = ""
    languages: list[str] = Field(min_length=1)
    slots: dict[str, str | dict[str, str]] = Field(default_factory=dict)
    intents: list[IntentConfig] = Field(min_length=1)
    fallback: dict[str, list[str]]
    # Pause between streamed pieces, so a canned answer reads like typing in a chat window.
    pace_ms: float = Field(default=0.0, ge=0.0, le=1000.0)


@dataclass(frozen=True)
class TemplateAnswer:
    """What the model answered and why: the intent (None = fallback) and the language chosen."""

    intent: str | None
    language: str
    text: str


# ----------------------------------------------------------------------------- loading/validation


class _DuplicateKeyLoader(yaml.SafeLoader):
    """SafeLoader that records duplicate mapping keys, which PyYAML would silently overwrite."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    line = key_node.start_mark.line + 1
                    self.duplicates.append(
                        f"line {line}: duplicate key {key_node.value!r} (YAML keeps only the last)"
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


def _read(path_or_text: str | Path) -> tuple[str, str]:
    """(YAML text, a label for messages): a Path is a file, a str is always the YAML itself.

    A str is what a tenant admin sends as ``config.yaml``; taking a one-line one ending .yaml as
    a path let them read the server's files (naming a path is for the operator alone).
    """
    if isinstance(path_or_text, Path):
        return path_or_text.read_text(encoding="utf-8"), str(path_or_text)
    return path_or_text, "template config"


def _where(loc: tuple[str | int, ...], data: Any = None) -> str:
    """``intents[3] (vpn_setup).answers.zh[0]`` from a location path; names intents by id."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
            if i == 1 and loc[0] == "intents" and isinstance(data, dict):
                intents = data.get("intents")
                if isinstance(intents, list) and part < len(intents):
                    item = intents[part]
                    if isinstance(item, dict) and item.get("id"):
                        out += f" ({item['id']})"
        else:
            out += f".{part}" if out else str(part)
    return out


def _placeholders(template: str) -> tuple[list[str], list[str]]:
    """(placeholder names, problems): only plain ``{name}`` placeholders are allowed."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        return [], [f"bad template ({exc}); write a literal brace as {{{{ or }}}}"]
    names: list[str] = []
    problems: list[str] = []
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            shown = field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            problems.append(f"placeholder {{{shown}}} must be a plain {{slot_name}}")
        else:
            names.append(field)
    return names, problems


def _check_templates(
    where: str,
    templates: dict[str, list[str]] | dict[str, str] | None,
    languages: list[str],
    known: set[str],
    captured_by_patterns: set[str],
    has_keywords: bool,
) -> list[str]:
    """Problems of one {lang: templates} mapping: languages covered, placeholders known."""
    in_intent = where.startswith("intents[")
    problems: list[str] = []
    templates = templates or {}
    for lang in languages:
        if lang not in templates:
            problems.append(f"{where}.{lang}: missing for language {lang!r}")
    for lang, value in templates.items():
        if lang not in languages:
            problems.append(f"{where}.{lang}: language {lang!r} is not in languages {languages}")
        items = [value] if isinstance(value, str) else value
        if not items:
            problems.append(f"{where}.{lang}: needs at least one template")
        for j, template in enumerate(items):
            loc = f"{where}.{lang}" if isinstance(value, str) else f"{where}.{lang}[{j}]"
            if not template.strip():
                problems.append(f"{loc}: empty template")
            names, bad = _placeholders(template)
            problems += [f"{loc}: {p}" for p in bad]
            for name in dict.fromkeys(names):
                if name in known:
                    continue
                if name in captured_by_patterns and has_keywords:
                    problems.append(
                        f"{loc}: placeholder {{{name}}} is captured by the patterns but a keyword"
                        " match captures nothing; add a default for it under slots"
                    )
                elif name not in captured_by_patterns:
                    nor = " nor a named group of every pattern of this intent" if in_intent else ""
                    problems.append(f"{loc}: unknown placeholder {{{name}}}: not a slot{nor}")
    return problems


def check_template_config(config: TemplateConfig) -> list[str]:
    """The problems pydantic cannot see: regexes, placeholders, languages, duplicate ids."""
    problems: list[str] = []
    languages = config.languages
    for lang in {lang for lang in languages if languages.count(lang) > 1}:
        problems.append(f"languages: {lang!r} is listed more than once")
    for name, value in config.slots.items():
        if not name.isidentifier():
            problems.append(f"slots.{name}: a slot name must be an identifier (letters, _, digits)")
        if isinstance(value, dict):
            problems += [
                f"slots.{name}.{lang}: missing for language {lang!r}"
                for lang in languages
                if lang not in value
            ]
            problems += [
                f"slots.{name}.{lang}: language {lang!r} is not in languages {languages}"
                for lang in value
                if lang not in languages
            ]
    known = set(config.slots)

    first_index: dict[str, int] = {}
    for i, intent in enumerate(config.intents):
        where = f"intents[{i}] ({intent.id})"
        if intent.id in first_index:
            first = first_index[intent.id]
            problems.append(f"{where}.id: duplicate id {intent.id!r} (also intents[{first}])")
        first_index.setdefault(intent.id, i)

        group_sets: list[set[str]] = []
        for j, pattern in enumerate(intent.patterns):
            try:
                group_sets.append(set(linear_re.compile(pattern, ignore_case=True).groupindex))
            except linear_re.LinearRegexError as exc:
                problems.append(f"{where}.patterns[{j}]: bad regex {pattern!r}: {exc}")
        captured = set.intersection(*group_sets) if group_sets else set()

        has_keywords = False
        for lang, words in intent.keywords.items():
            if lang not in languages:
                problems.append(
                    f"{where}.keywords.{lang}: language {lang!r} is not in languages {languages}"
                )
            for j, word in enumerate(words):
                if not word.strip():
                    problems.append(f"{where}.keywords.{lang}[{j}]: empty keyword")
                else:
                    has_keywords = True
        if not intent.patterns and not has_keywords:
            problems.append(f"{where}: needs at least one pattern or keyword to be reachable")

        problems += _check_templates(
            f"{where}.answers", intent.answers, languages, known, captured, has_keywords
        )
        if intent.follow_up is not None:
            problems += _check_templates(
                f"{where}.follow_up", intent.follow_up, languages, known, captured, has_keywords
            )
    problems += _check_templates("fallback", config.fallback, languages, known, set(), False)
    return problems


def _parse(text: str) -> tuple[TemplateConfig | None, list[str]]:
    """Parse and validate YAML text; (config or None, every problem found)."""
    loader = _DuplicateKeyLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        return None, [f"YAML syntax error: {exc}"]
    finally:
        loader.dispose()
    problems = list(loader.duplicates)
    if not isinstance(data, dict):
        return None, [*problems, "top level: expected a mapping (name, languages, intents, ...)"]
    try:
        config = TemplateConfig.model_validate(data)
    except ValidationError as exc:
        # Structure first: the semantic checks need a well-formed config to run on.
        for err in exc.errors():
            loc = tuple(err["loc"])
            if loc[0] == "slots" and len(loc) > 2:  # one line instead of one per union member
                problem = f"slots.{loc[1]}: must be text or a mapping {{language: text}}"
            else:
                problem = f"{_where(loc, data) or 'top level'}: {err['msg']}"
            if problem not in problems:
                problems.append(problem)
        return None, problems
    return config, problems + check_template_config(config)


def load_template_config(path_or_text: str | Path) -> TemplateConfig:
    """Load a template config from a file path or YAML text; raise listing every problem."""
    text, source = _read(path_or_text)
    config, problems = _parse(text)
    if problems or config is None:
        raise TemplateConfigError(problems, source)
    return config


def validate_template_file(path: str | Path) -> list[str]:
    """Problems in a template YAML file, each with its location; empty means valid (for the CLI)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot read: {exc}"]
    return _parse(text)[1]


# ----------------------------------------------------------------------------- matching/answering


def _normalise(text: str) -> str:
    """NFKC (full-width ＶＰＮ/？ become VPN/?) and single spaces, so rules see one spelling."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _primary(language: str) -> str:
    return language.replace("_", "-").split("-")[0].casefold()


def question_language(text: str, languages: list[str]) -> str:
    """The configured language to answer in, from the share of CJK characters in the question.

    A CJK character counts like one English word (as in ``tokens.count_tokens``); a question that is
    mostly CJK gets the configured Chinese/Japanese/Korean language, otherwise the first
    non-CJK one; the first configured language when nothing fits.
    """
    cjk = len(_CJK_CHAR.findall(text))
    words = len(_LATIN_WORD.findall(text))
    if cjk == 0 and words == 0:
        return languages[0]
    if cjk > words:
        script = "ja" if _KANA_CHAR.search(text) else "ko" if _HANGUL_CHAR.search(text) else "zh"
        wanted = [lang for lang in languages if _primary(lang) == script]
    else:
        wanted = [lang for lang in languages if _primary(lang) not in _CJK_LANGUAGES]
    return wanted[0] if wanted else languages[0]


def _question(request: TextRequest) -> str:
    """The text to answer: the last user message of a chat, or the completion prompt."""
    if request.messages is not None:
        users = [m.content for m in request.messages if m.role == "user"]
        return users[-1] if users else ""
    return request.prompt or ""


class _Slots(dict[str, str]):
    """Slot values for str.format_map; an optional group that captured nothing renders empty."""

    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class _Keyword:
    """A normalised keyword, its weight, and how to find it."""

    text: str
    weight: int
    boundary: LinearPattern | None  # None: Chinese/Japanese/Korean, matched as a substring

    def hit(self, folded: str) -> bool:
        if self.boundary is None:
            return self.text in folded
        return self.boundary.search(folded) is not None


def _keyword(word: str) -> _Keyword:
    """CJK keywords match as substrings (no spaces between words); others as whole words,
    plural -s/-es included ("guest" also finds "guests").

    Longer keywords are more specific and weigh more; a CJK character counts as two letters
    (a Chinese word is about two characters, an English word about five letters).
    """
    text = _normalise(word).casefold()
    weight = len(text.replace(" ", "")) + len(_CJK_CHAR.findall(text))
    if _CJK_CHAR.search(text):
        return _Keyword(text, weight, None)
    word = linear_re.escape(text)
    pattern = linear_re.compile(_KEYWORD_BEFORE + word + "(?:e?s)?" + _KEYWORD_AFTER)
    return _Keyword(text, weight, pattern)


class TemplateModel(TextModelBase):
    """A TextModel that answers from the templates of the best-matching intent."""

    context_length: int | None = None  # it matches patterns on any length of input

    def __init__(self, config: TemplateConfig) -> None:
        problems = check_template_config(config)
        if problems:
            raise TemplateConfigError(problems, config.name)
        self.config = config
        self.name = config.name
        self._rules = [
            (
                intent,
                [linear_re.compile(p, ignore_case=True) for p in intent.patterns],
                [_keyword(w) for words in intent.keywords.values() for w in words],
            )
            for intent in config.intents
        ]

    @classmethod
    def from_file(cls, path: str | Path) -> TemplateModel:
        return cls(load_template_config(Path(path)))

    def count_tokens(self, text: str) -> int:
        return count_tokens(text)

    def match(self, text: str) -> tuple[IntentConfig | None, dict[str, str]]:
        """The winning intent (None: fallback) and the slots its regex captured.

        Score = (a pattern matched, sum of keyword weights), compared in that order, so any regex
        match beats any number of keywords; ties go to the intent first in the file.
        """
        normal = _normalise(text)
        folded = normal.casefold()
        best: IntentConfig | None = None
        best_slots: dict[str, str] = {}
        best_score: tuple[bool, int] = (False, 0)
        for intent, patterns, keywords in self._rules:
            slots: dict[str, str] | None = None
            for pattern in patterns:
                # Match the un-casefolded text (IGNORECASE) so captured names keep their spelling.
                found = pattern.search(normal)
                if found:
                    slots = {k: v.strip() for k, v in found.groupdict().items() if v and v.strip()}
                    break
            score = (slots is not None, sum(k.weight for k in keywords if k.hit(folded)))
            if score > best_score:
                best, best_slots, best_score = intent, slots or {}, score
        return best, best_slots

    def answer(
        self, text: str, seed: int | None = None, temperature: float = 0.0
    ) -> TemplateAnswer:
        """Answer one question: pick intent and language, choose a variant, fill the slots."""
        language = question_language(text, self.config.languages)
        intent, captured = self.match(text)
        templates = intent.answers[language] if intent else self.config.fallback[language]
        if temperature <= 0 or len(templates) == 1:
            template = templates[0]
        else:
            template = random.Random(seed).choice(templates)
        slots = _Slots(
            {k: v if isinstance(v, str) else v[language] for k, v in self.config.slots.items()}
        )
        slots.update(captured)
        reply = template.format_map(slots).strip()
        if intent is not None and intent.follow_up:
            reply += "\n\n" + intent.follow_up[language].format_map(slots).strip()
        return TemplateAnswer(intent.id if intent else None, language, reply)

    @property
    def runs_inline(self) -> bool:
        """Matching a short question takes microseconds: no worker thread, unless answers are
        paced. The pipeline still moves long questions to a thread (matching is linear in them)."""
        return self.config.pace_ms == 0

    def generate(self, request: TextRequest) -> Iterator[str]:
        """Yield the answer word by word (character by character for Chinese), like a real model."""
        result = self.answer(_question(request), seed=request.seed, temperature=request.temperature)
        pause = self.config.pace_ms / 1000
        for i, piece in enumerate(split_tokens(result.text)):
            if pause and i:
                time.sleep(pause)
            yield piece
        yield Ended("stop")  # the whole answer was given (a cut at max_tokens is the gateway's)


# --- the family ------------------------------------------------------------------------------


def _builtin_or_path(path: str) -> Path:
    if path.startswith("builtin:"):
        return Path(__file__).parent / f"{path.removeprefix('builtin:')}.yaml"
    return Path(path)


def load(config: dict[str, Any]) -> TemplateModel:
    """The registry's loader: the YAML stored in the record, or a (built-in) file."""
    if "yaml" in config:
        return TemplateModel(load_template_config(config["yaml"]))
    return TemplateModel.from_file(_builtin_or_path(config["path"]))


def validate_config(config: dict[str, Any]) -> None:
    from aigc.errors import InvalidRequest, refused_value

    source = config.get("yaml") or config.get("path")
    if not isinstance(source, str):
        raise InvalidRequest(
            "A template model needs its YAML text in config.yaml (or a server path)",
            param="config.yaml",
            code="missing_required_parameter",
        )
    try:
        load_template_config(Path(source) if "path" in config else source)
    except TemplateConfigError as exc:
        raise refused_value(
            "template_invalid",
            "Invalid template configuration: {reason}",
            param="config",
            reason=str(exc),
        ) from None


CONFIG_SCHEMA = {
    "anyOf": [
        {
            "type": "object",
            "properties": {
                "yaml": {
                    "type": "string",
                    "minLength": 1,
                    "contentMediaType": "application/yaml",
                    "description": "The whole model: name, languages, intents (as helpdesk.yaml)",
                }
            },
            "required": ["yaml"],
        },
        PATH_CONFIG,
    ]
}

FAMILY = register(
    Family(
        name="template",
        kind="text",
        loader=load,
        validate=validate_config,
        config_schema=CONFIG_SCHEMA,
        capabilities=TEXT,
        summary="Rule/template answers written by people (YAML)",
    )
)
