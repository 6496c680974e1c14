"""Guard policies: YAML documents of rules, validated with pydantic.

A rule says *where* it runs (stage: input, retrieval, output), *what* it looks for (detector),
*what happens* on a hit (action) and *for whom* (scope: models, keys). Example::

    name: default
    rules:
      - id: secrets                 # unique within the policy
        stage: input
        detector: pii               # pii | injection | moderation | regex | keywords
        entities: [SECRET, URL_CREDENTIALS]
        action: redact              # allow | block | redact | pseudonymize | flag
      - id: customer-pii
        stage: input
        detector: pii
        entities: [EMAIL_ADDRESS, PHONE_NUMBER, CN_MOBILE, CN_RESIDENT_ID]
        action: pseudonymize        # placeholders to the model, originals back to the user
        scope: {models: [template-helpdesk]}
      - id: injection
        stage: input
        detector: injection
        threshold: 0.8              # left out: the detector's calibrated point (0.6 here)
        action: flag
      - id: no-codenames
        stage: output
        detector: keywords
        words: [Project Falcon, 猎鹰计划]
        action: block
        message: This answer mentioned an internal code name.
    labels:
      explicit: false               # GB 45438-2025 explicit label on text answers
    watermark:
      enabled: false                # green-list watermark on local neural models' answers

``pattern`` is an RE2 regular expression (no lookarounds or backreferences; ``\\w``, ``\\d`` and
``\\b`` are ASCII): it runs on every request's text, so it must match in linear time.

``redact`` replaces a value by a placeholder for good; ``pseudonymize`` restores it in the answer
the user sees; ``block`` refuses (input: 400 ``content_policy_violation``; output: the stream
ends with ``finish_reason: "content_filter"``; retrieval: a chunk is dropped, a tool result
refuses the request); ``drop`` (retrieval only) leaves the chunk or tool result out and goes
on; ``flag`` only records the decision.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from aigc.errors import problem_detail, value_problem
from aigc.guard import pii
from aigc.infra import linear_re
from aigc.infra.canonical_text import canonical
from aigc.infra.linear_re import LinearPattern

Stage = Literal["input", "retrieval", "output"]
Detector = Literal["pii", "injection", "moderation", "regex", "keywords"]
Action = Literal["allow", "block", "drop", "redact", "pseudonymize", "flag"]


class PolicyError(ValueError):
    """A policy that cannot be used; ``problems`` lists each with its location (English), and
    ``details`` the same problems by their stable type and values (``errors.problem_detail``)
    for a reader in another language."""

    def __init__(self, problems: list[str], details: list[dict[str, Any]] | None = None) -> None:
        self.problems = problems
        self.details = details or []
        super().__init__("; ".join(problems))


class Scope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: list[str] | None = None  # model names (None: every model)
    keys: list[str] | None = None  # API key ids (None: every key)

    def covers(self, model: str | None, key_id: str | None) -> bool:
        if self.models is not None and model not in self.models:
            return False
        return self.keys is None or key_id in self.keys


# A rule's threshold when its author gives none: the point each detector was calibrated at
# (about 1-2 % of benign requests or documents score that or more), not one number for every
# score. A flat 0.5 made a new moderation rule block 41 % of the English and 69 % of the
# Chinese "how to ..." questions of Alpaca (held out) and an input injection rule flag 13 % of
# Alpaca's English instructions.
INPUT_INJECTION_THRESHOLD = 0.6  # injection.score on requests (train_guard.calibrated's point)
DOCUMENT_INJECTION_THRESHOLD = 0.7  # injection.score_document on chunks and tool results


def calibrated_threshold(detector: str, stage: str) -> float:
    """The threshold a ``detector`` rule of ``stage`` gets when none is written."""
    if detector == "moderation":
        from aigc.guard.moderation import THRESHOLD

        return THRESHOLD
    if detector == "injection":
        return DOCUMENT_INJECTION_THRESHOLD if stage == "retrieval" else INPUT_INJECTION_THRESHOLD
    return 0.5  # pii, regex, keywords: a match is a hit, no score is compared


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=100)
    stage: Stage
    detector: Detector
    action: Action
    entities: list[str] | None = None  # pii: which entities (None: all)
    categories: list[str] | None = None  # moderation: which categories (None: all)
    # injection / moderation score; when the author gives none, the detector's calibrated
    # point for the rule's stage (``calibrated_threshold``), filled in by ``_threshold``
    threshold: float = Field(ge=0.0, le=1.0)
    pattern: str | None = None  # regex
    words: list[str] | None = None  # keywords (case-insensitive)
    message: str | None = Field(default=None, max_length=500)
    scope: Scope = Field(default_factory=Scope)

    @model_validator(mode="before")
    @classmethod
    def _threshold(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("threshold") is None:
            detector, stage = data.get("detector"), data.get("stage")
            return {**data, "threshold": calibrated_threshold(str(detector), str(stage))}
        return data

    @field_validator("pattern")
    @classmethod
    def _linear(cls, pattern: str | None) -> str | None:
        """Tenant admins write these and they run on every request: RE2 only, so matching
        stays linear in the text (refused here, when the policy is stored)."""
        if pattern is not None:
            try:
                linear_re.compile(pattern)
            except linear_re.LinearRegexError as exc:
                raise value_problem(
                    "policy_pattern_not_linear", "{reason}", reason=str(exc)
                ) from None
        return pattern

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.detector == "pii":
            unknown = sorted(set(self.entities or []) - set(pii.ALL_ENTITIES))
            if unknown:
                raise value_problem(
                    "policy_unknown_entities",
                    "unknown PII entities {unknown}; known: {known}",
                    unknown=str(unknown),
                    known=str(pii.ALL_ENTITIES),
                )
        elif self.action in ("redact", "pseudonymize") and self.detector not in ("regex",):
            raise value_problem(
                "policy_action_needs_detector",
                "action '{action}' needs detector 'pii' or 'regex'",
                action=self.action,
            )
        if self.action == "pseudonymize" and self.stage != "input":
            raise value_problem(
                "policy_pseudonymize_input_only", "pseudonymize works on the input stage only"
            )
        if self.action == "drop" and self.stage != "retrieval":
            raise value_problem(
                "policy_drop_retrieval_only",
                "drop works on the retrieval stage only (chunks, tool results)",
            )
        if self.detector == "regex" and not self.pattern:
            raise value_problem("policy_regex_needs_pattern", "detector 'regex' needs 'pattern'")
        if self.detector == "keywords" and not self.words:
            raise value_problem("policy_keywords_needs_words", "detector 'keywords' needs 'words'")
        if self.detector == "moderation" and self.categories:
            from aigc.guard.moderation import CATEGORIES

            unknown = sorted(set(self.categories) - set(CATEGORIES))
            if unknown:
                raise value_problem(
                    "policy_unknown_categories",
                    "unknown categories {unknown}; known: {known}",
                    unknown=str(unknown),
                    known=str(list(CATEGORIES)),
                )
        return self

    @cached_property
    def compiled(self) -> LinearPattern | None:
        """The rule's matcher, compiled by RE2: linear in the text, whatever the tenant wrote."""
        if self.detector == "regex":
            assert self.pattern is not None
            return linear_re.compile(self.pattern)
        if self.detector == "keywords":  # read as ``infra.canonical_text`` reads (checks.py)
            assert self.words is not None
            words = "|".join(linear_re.escape(canonical(w)) for w in self.words)
            return linear_re.compile(words, ignore_case=True)
        return None


class Labels(BaseModel):
    """GB 45438-2025 labels for AI-generated content."""

    model_config = ConfigDict(extra="forbid")
    explicit: bool = False  # append a visible label to text answers
    text: str = "（本内容由人工智能生成 / AI-generated content）"


class WatermarkOptions(BaseModel):
    """The green-list watermark on local neural models' answers (see ``watermark.py``)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    gamma: float = Field(default=0.25, gt=0.0, lt=1.0)
    delta: float = Field(default=2.0, gt=0.0, le=10.0)


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    rules: list[Rule] = Field(default_factory=list)
    labels: Labels = Field(default_factory=Labels)
    watermark: WatermarkOptions = Field(default_factory=WatermarkOptions)

    @model_validator(mode="after")
    def _unique_ids(self) -> Policy:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise value_problem(
                    "policy_rule_id_twice", "rule id '{id}' is used twice", id=rule.id
                )
            seen.add(rule.id)
        return self


def parse_policy(text: str) -> Policy:
    """YAML text → Policy, or PolicyError naming every problem and where it is."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = {"line": mark.line + 1, "column": mark.column + 1} if mark is not None else {}
        syntax = {"type": "yaml_syntax", "ctx": where, "msg": str(exc)}
        raise PolicyError([f"not valid YAML: {exc}"], [problem_detail(None, syntax)]) from exc
    if not isinstance(data, dict):
        shape = "a policy is a YAML mapping with 'name' and 'rules'"
        raise PolicyError([shape], [problem_detail(None, {"type": "policy_not_mapping"})])
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        found = [(".".join(str(p) for p in err["loc"]) or "policy", err) for err in exc.errors()]
        problems = [f"{loc}: {err['msg']}" for loc, err in found]
        details = [problem_detail(loc, dict(err)) for loc, err in found]
        raise PolicyError(problems, details) from exc


DEFAULT_POLICY_YAML = """\
name: default
description: Applies to every tenant without a policy of its own.
rules:
  - id: secrets
    stage: input
    detector: pii
    entities: [SECRET, URL_CREDENTIALS]
    action: redact
  - id: injection
    stage: input
    detector: injection
    action: flag
  - id: indirect-injection
    stage: retrieval
    detector: injection
    action: flag
"""
DEFAULT_POLICY = parse_policy(DEFAULT_POLICY_YAML)


def default_threshold(rule_id: str) -> float:
    """The threshold the default policy gives one of its rules (what a new install runs)."""
    return next(r.threshold for r in DEFAULT_POLICY.rules if r.id == rule_id)


def rules_for(
    policies: list[Policy], stage: Stage, model: str | None, key: str | None
) -> list[Rule]:
    """The rules of one stage that apply to this model and key, in document order."""
    return [
        rule
        for policy in policies
        for rule in policy.rules
        if rule.stage == stage and rule.scope.covers(model, key)
    ]
