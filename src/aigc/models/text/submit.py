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

from aigc.gateway.auth import Principal
from aigc.gateway.errors import InvalidRequest
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
        if not isinstance(value, str | int | float | bool) or value is None:
            raise InvalidRequest(f"Parameter '{key}' must be a number or a string", param=key)
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
