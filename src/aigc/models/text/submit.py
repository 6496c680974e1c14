"""Submitting the training of a text model (n-gram, GPT, RNN): checks first, then the job.

Used by ``POST /api/train`` and ``aigc train``. Everything that can be wrong with a request
(unknown family or parameter, another tenant's file, a path outside the import roots, a name
in use) is refused here, before any job exists. The job receives the resolved data files as
``params["paths"]`` (server paths), so its handler needs no caller to read them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from aigc.access import Principal
from aigc.errors import InvalidRequest
from aigc.infra.schema import Job, ModelRecord
from aigc.models.text.data import resolve_training_data
from aigc.models.training import start_training

TRAINABLE = ("ngram", "gpt", "rnn")

_COMMON = {"tokenizer", "vocab_size", "val_fraction", "seed"}
_NEURAL = {
    "block_size",
    "n_layer",
    "n_embd",
    "dropout",
    "max_iters",
    "batch_size",
    "learning_rate",
    "min_lr",
    "warmup_iters",
    "lr_decay_iters",
    "weight_decay",
    "beta1",
    "beta2",
    "grad_clip",
    "eval_interval",
    "eval_tokens",
    "checkpoint_interval",
    "device",
}
# The parameters each family's job understands (anything else is a 400 naming it).
PARAMS: dict[str, set[str]] = {
    "ngram": _COMMON | {"order", "discount_fallback", "lowercase"},
    "gpt": _COMMON | _NEURAL | {"n_head"},
    "rnn": _COMMON | _NEURAL | {"cell", "n_hidden"},
}


# Bounds that keep one tenant's request from exhausting the server's memory or time.
_INT_RANGES = {
    "order": (1, 9),
    "vocab_size": (8, 200_000),
    "block_size": (4, 4096),
    "n_layer": (1, 48),
    "n_head": (1, 64),
    "n_embd": (8, 4096),
    "n_hidden": (8, 8192),
    "max_iters": (1, 1_000_000),
    "batch_size": (1, 1024),
    "warmup_iters": (0, 1_000_000),
    "lr_decay_iters": (1, 1_000_000),
    "eval_interval": (1, 1_000_000),
    "eval_tokens": (1, 100_000_000),
    "checkpoint_interval": (1, 1_000_000),
    "seed": (0, 2**63 - 1),
}
_FLOAT_RANGES = {
    "val_fraction": (0.0, 0.5),
    "dropout": (0.0, 0.9),
    "learning_rate": (1e-8, 1.0),
    "min_lr": (0.0, 1.0),
    "weight_decay": (0.0, 10.0),
    "beta1": (0.0, 0.99999),
    "beta2": (0.0, 0.99999),
    "grad_clip": (0.0, 1e6),
}
_CHOICES = {
    "tokenizer": ("char", "word", "bpe"),
    "cell": ("lstm", "gru"),
    "device": ("cpu", "cuda"),
}


def check_param(key: str, value: Any) -> None:
    """A 400 naming the parameter when its value has the wrong type or is out of range."""
    param = f"params.{key}"
    if key in _INT_RANGES:
        low, high = _INT_RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidRequest(f"'{key}' must be an integer from {low} to {high}", param=param)
    elif key in _FLOAT_RANGES:
        low, high = _FLOAT_RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidRequest(f"'{key}' must be a number", param=param)
        if not low <= float(value) <= high:
            raise InvalidRequest(f"'{key}' must be from {low} to {high}", param=param)
    elif key in _CHOICES:
        if value not in _CHOICES[key]:
            raise InvalidRequest(f"'{key}' must be one of {', '.join(_CHOICES[key])}", param=param)
    elif not isinstance(value, str | int | float | bool):
        raise InvalidRequest(f"'{key}' must be a number, a string or a boolean", param=param)


def submit_training(
    session: Session,
    principal: Principal,
    *,
    family: str,
    name: str,
    params: dict[str, Any],
    file_ids: list[str] | None,
    data_path: str | None,
    data_dir: Path,
    import_roots: list[Path],
    shared: bool = False,
    via_cli: bool = False,
) -> tuple[ModelRecord, Job]:
    """Validate and queue a training job; the model is listed as "training" until it ends.

    ``via_cli``: the local operator, who may name any server path under the import roots.
    """
    if family not in TRAINABLE:
        raise InvalidRequest(
            f"Trainable families are {', '.join(TRAINABLE)}; not '{family}'", param="family"
        )
    unknown = sorted(set(params) - PARAMS[family])
    if unknown:
        raise InvalidRequest(
            f"Unknown parameter '{unknown[0]}' for a {family} model; known: "
            f"{', '.join(sorted(PARAMS[family]))}",
            param=f"params.{unknown[0]}",
        )
    for key, value in params.items():
        check_param(key, value)
    if family == "gpt" and int(params.get("n_embd", 128)) % int(params.get("n_head", 4)):
        raise InvalidRequest("n_embd must be a multiple of n_head", param="params.n_embd")
    paths = resolve_training_data(
        session,
        None if via_cli else principal,
        file_ids=file_ids,
        data_path=data_path,
        data_dir=data_dir,
        import_roots=import_roots,
    )
    job_params = dict(params) | {"paths": [str(p) for p in paths]}
    return start_training(session, principal, family, name, job_params, shared=shared)
