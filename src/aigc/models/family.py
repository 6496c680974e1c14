"""One descriptor per model family: everything the platform needs to know about it, in one place.

A family module declares a ``Family`` (its name, kind, loader, capabilities, training
parameters with their defaults and ranges, trainer and default models) and registers it with
one line, ``register(Family(...))``. The registry, training submission, the CLI (``aigc train
<family>``), the console (through ``GET /api/families``) and the model listings all read from
here, so adding a family is one file plus one line naming it: in ``BUILTIN_MODULES`` for a
family shipped with aigc, or in the ``AIGC_FAMILY_MODULES`` setting for one kept outside
(a plugin, or the test suite's toy family).
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from aigc.access import Principal
    from aigc.config import Settings
    from aigc.infra.db import Database
    from aigc.infra.jobs import JobContext

Kind = Literal["text", "image", "multimodal", "embedding"]

# Capability names shown in model listings (``"capabilities": [...]``); a client or the
# console decides what a model can do from these, never from its name.
CHAT = "chat"
COMPLETIONS = "completions"
STREAMING = "streaming"
LOGPROBS = "logprobs"
STRUCTURED_OUTPUT = "structured_output"
TOOLS = "tools"  # function calling: tools, tool_choice, tool_calls in answers
WATERMARK = "watermark"
IMAGE_GENERATION = "image_generation"
IMAGE_INTERPOLATION = "image_interpolation"
IMAGE_ENCODING = "image_encoding"
IMAGE_EMBEDDINGS = "image_embeddings"
ZERO_SHOT = "zero_shot_classification"
IMAGE_CAPTIONING = "image_captioning"
VISION = "vision"  # reads images in chat messages (``image_url`` content parts)
SOURCES = "sources"  # answers from knowledge-base sources in its prompt, citing them as [n]
TEXT = frozenset({CHAT, COMPLETIONS, STREAMING})  # what every text family does

# The families shipped with aigc, in listing order: defaults are bootstrapped in this order, and
# the console offers the first trainable one first. Plugins follow, in registration order.
BUILTIN_MODULES: list[str] = [
    "aigc.models.text.template",
    "aigc.models.upstream",
    "aigc.models.text.hf",
    "aigc.models.text.gguf",
    "aigc.models.text.gpt",
    "aigc.models.text.rnn",
    "aigc.models.text.ngram",
    "aigc.models.image.family",
    "aigc.models.multimodal.family",
]

Loader = Callable[[dict[str, Any]], Any]
# The config of a model registered by its folder on the server (platform admin or CLI only).
PATH_CONFIG: dict[str, Any] = {
    "type": "object",
    "properties": {"path": {"type": "string", "minLength": 1, "description": "Server folder"}},
    "required": ["path"],
}
TrainFn = Callable[["JobContext", Path], dict[str, Any]]
Preparer = Callable[[dict[str, Any], "Principal | None", "Session"], dict[str, Any]]


@dataclass(frozen=True)
class Family:
    """What a model family is. Model ids start with ``name`` and a dash (``gpt-support``).

    ``params`` is the pydantic model of the training parameters: its field defaults are the
    one place hyperparameter defaults are written, its ``ge``/``le`` bounds and ``Literal``
    choices are what submission checks. ``trainer`` is the body of the ``train-<name>`` job
    (``training.training_handler`` wraps it); ``trains_on`` says what its data is: uploaded
    text files (``POST /api/train``, ``aigc train NAME --data``) or image sets (the CLI).
    ``bootstrap`` makes the family's default models at start (``AIGC_DEFAULT_MODELS``): it must
    return quickly and be idempotent. ``long_training``: its training runs for minutes to hours,
    so its jobs never take a job runner's last free slot (the short ones keep a way through).
    """

    name: str
    kind: Kind
    loader: Loader
    capabilities: frozenset[str]
    summary: str = ""  # one line for CLI help and the console
    validate: Callable[[dict[str, Any]], None] | None = None  # None: not registrable by config
    # What ``validate`` takes, as a JSON schema (the API's document shows it for POST
    # /api/models); None: an object, judged by ``validate`` alone.
    config_schema: dict[str, Any] | None = field(default=None, compare=False)
    prepare: Preparer | None = None  # turn a validated config into what is stored
    params: type[BaseModel] | None = None
    trainer: TrainFn | None = None
    trains_on: Literal["text", "images"] = "text"
    long_training: bool = False
    bootstrap: Callable[[Database, Settings], None] | None = None
    engine: bool = False  # HF-format checkpoints the continuous-batching engine can serve
    # Its models compute on this platform's machines (not an upstream's): with Ray configured,
    # its text models run as Ray Serve deployments (``models.ray_serving``).
    computes_here: bool = True
    from_folder: bool = False  # the console offers to register a model folder of this family
    # Per model, when records of one family differ (mm: captioner or text-to-image).
    capabilities_of: Callable[[dict[str, Any]], frozenset[str]] | None = field(
        default=None, compare=False
    )

    def model_capabilities(self, config: dict[str, Any] | None) -> list[str]:
        """The sorted capabilities of one model of this family, from its stored config."""
        if self.capabilities_of is not None:
            return sorted(self.capabilities_of(config or {}))
        return sorted(self.capabilities)

    def view(self) -> dict[str, Any]:
        """What ``GET /api/families`` shows: the parameters as a JSON schema with defaults."""
        return {
            "name": self.name,
            "kind": self.kind,
            "summary": self.summary,
            "capabilities": sorted(self.capabilities),
            "trainable": self.trainer is not None,
            "from_folder": self.from_folder,
            "trains_on": self.trains_on if self.trainer is not None else None,
            "params_schema": self.params.model_json_schema() if self.params else None,
        }


_FAMILIES: dict[str, Family] = {}
_RANK: dict[str, tuple[int, int]] = {}  # family → (its module's place in BUILTIN_MODULES, seq)
_lock = threading.Lock()
_builtins_loaded = False


def register(family: Family) -> Family:
    """Make a family known (and its training job runnable); the one line a family module needs."""
    from aigc.infra.jobs import register_handler
    from aigc.models.training import training_handler

    if "-" in family.name or not family.name.isascii() or not family.name.isidentifier():
        raise ValueError(f"a family name is one word without dashes, not {family.name!r}")
    module = sys._getframe(1).f_globals.get("__name__", "")  # who registers: for the order
    place = BUILTIN_MODULES.index(module) if module in BUILTIN_MODULES else len(BUILTIN_MODULES)
    with _lock:
        _FAMILIES[family.name] = family
        _RANK.setdefault(family.name, (place, len(_RANK)))
    if family.trainer is not None:
        register_handler(
            f"train-{family.name}",
            training_handler(family.trainer),
            long=family.long_training,
        )
    return family


def load_families(modules: list[str] | None = None) -> list[Family]:
    """Import the built-in family modules and ``modules`` (e.g. ``settings.family_modules``):
    each registers its family when imported. Returns every family, built-ins first in
    ``BUILTIN_MODULES`` order, then the others as registered. Imports run outside ``_lock``
    (Python's import lock already serialises them; holding both could deadlock two threads)."""
    global _builtins_loaded
    if not _builtins_loaded:
        for name in BUILTIN_MODULES:
            importlib.import_module(name)
        _builtins_loaded = True
    for name in modules or []:
        importlib.import_module(name)
    with _lock:
        return sorted(_FAMILIES.values(), key=lambda f: _RANK[f.name])


def families() -> list[Family]:
    """Every registered family (the built-ins are imported on first use)."""
    return load_families()


def get_family(name: str) -> Family | None:
    load_families()
    return _FAMILIES.get(name)


def trainable(trains_on: str = "text") -> list[Family]:
    """Families that train on ``trains_on`` data (text files or image sets)."""
    return [f for f in families() if f.trainer is not None and f.trains_on == trains_on]


# --- checking parameters against a family's model ----------------------------------------------


ParamKind = Literal["int", "float", "bool", "choice", "str", "any"]


@dataclass(frozen=True)
class ParamRule:
    """One parameter's type and bounds, read from the family's pydantic model."""

    kind: ParamKind
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] = ()
    nullable: bool = False  # ``X | None``: null means the default (e.g. vocab_size)


def param_rules(params: type[BaseModel]) -> dict[str, ParamRule]:
    """The rule of each field of a parameters model."""
    return {name: field_rule(info) for name, info in params.model_fields.items()}


def field_rule(info: FieldInfo) -> ParamRule:
    """A field's base type (``X | None`` is X, nullable), its ``ge``/``le`` bounds and choices."""
    annotation = _strip_none(info.annotation)
    nullable = annotation is not info.annotation
    low = high = None
    for meta in info.metadata:
        low = getattr(meta, "ge", low)
        high = getattr(meta, "le", high)
    if typing.get_origin(annotation) is Literal:
        return ParamRule("choice", choices=typing.get_args(annotation), nullable=nullable)
    kinds: dict[Any, ParamKind] = {bool: "bool", int: "int", float: "float", str: "str"}
    kind = kinds.get(annotation, "any")
    if kind in ("int", "float"):
        return ParamRule(kind, low, high, nullable=nullable)
    return ParamRule(kind, nullable=nullable)


def _strip_none(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def check_value(key: str, value: Any, rule: ParamRule) -> dict[str, Any] | None:
    """Why ``value`` does not fit ``rule``, or None: the English ``msg`` (the message of a
    400) with a stable ``type`` and the ``ctx`` values it names, as a validator's problem
    (``errors.problem_detail``), so a client can say it in its reader's language."""
    if value is None and rule.nullable:  # as the parameters' JSON schema allows
        return None
    bounds = {"name": key, "low": str(rule.low), "high": str(rule.high)}
    if rule.kind == "int":
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        # 2.0 is an integer in JSON; true is not
        if isinstance(value, bool) or not whole or not _within(value, rule):
            return _problem(
                "param_int_range", "'{name}' must be an integer from {low} to {high}", bounds
            )
    elif rule.kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _problem("param_number", "'{name}' must be a number", {"name": key})
        if not _within(value, rule):
            return _problem("param_number_range", "'{name}' must be from {low} to {high}", bounds)
    elif rule.kind == "choice":
        if value not in rule.choices:
            choices = ", ".join(map(str, rule.choices))
            ctx = {"name": key, "choices": choices}
            return _problem("param_choice", "'{name}' must be one of {choices}", ctx)
    elif rule.kind == "bool":
        if not isinstance(value, bool | int | str) or str(value).lower() not in _BOOLS:
            return _problem("param_bool", "'{name}' must be true or false", {"name": key})
    elif not isinstance(value, str | int | float | bool):
        return _problem(
            "param_scalar", "'{name}' must be a number, a string or a boolean", {"name": key}
        )
    return None


def _within(value: float, rule: ParamRule) -> bool:
    return not (
        (rule.low is not None and value < rule.low) or (rule.high is not None and value > rule.high)
    )


def _problem(kind: str, template: str, ctx: dict[str, str]) -> dict[str, Any]:
    return {"type": kind, "ctx": ctx, "msg": template.format(**ctx)}


_BOOLS = {"true", "false", "1", "0", "yes", "no", "on", "off"}
