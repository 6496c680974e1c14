"""Submitting the training of a text model (any family trained on text): checks, then the job.

Used by ``POST /api/train`` and ``aigc train``. Everything that can be wrong with a request
(unknown family, a parameter its parameters model does not know or allow, another tenant's
file, a path outside the import roots, a name in use) is refused here, before any job exists.
The job receives the resolved data as ``params["paths"]`` (server paths) and
``params["file_keys"]`` (uploads, by blob-store key: ``training_handler`` fetches them onto the
instance that runs the job and adds them to ``paths``), so its handler needs no caller.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from aigc.access import Principal, require_model_allowed
from aigc.errors import InvalidRequest, problem_detail, refused_value
from aigc.infra import untrusted
from aigc.infra.schema import Job, ModelRecord
from aigc.models.family import Family, check_value, param_rules
from aigc.models.family import trainable as trainable_families
from aigc.models.text.data import resolve_training_data
from aigc.models.training import start_training


def check_params(family: Family, params: dict[str, Any]) -> None:
    """A 400 naming the first unknown parameter, or the first value of a wrong type, out of
    range, or inconsistent with the others; the rules are the family's parameters model."""
    model = family.params
    if model is None:
        raise refused_value(
            "family_without_params",
            "The {family} family has no training parameters",
            param="family",
            family=family.name,
        )
    known = sorted(model.model_fields)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise refused_value(
            "param_unknown",
            "Unknown parameter '{name}' for a {family} model; known: {known}",
            param=f"params.{unknown[0]}",
            name=unknown[0],
            family=family.name,
            known=", ".join(known),
        )
    rules = param_rules(model)
    for key, value in params.items():
        problem = check_value(key, value, rules[key])
        if problem:
            where = f"params.{key}"
            raise InvalidRequest(
                problem["msg"],
                param=where,
                code="invalid_value",
                details=[problem_detail(where, problem)],
            )
    try:
        model.model_validate(params)
    except ValidationError as exc:  # a rule across fields (e.g. GPT: n_embd % n_head)
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        param = f"params.{where}" if where else "params"
        raise InvalidRequest(
            message, param=param, code="invalid_value", details=[problem_detail(param, error)]
        ) from None


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
    require_model_allowed(principal, name, param="name")  # before any file is looked at
    trainable = trainable_families("text")
    chosen = next((f for f in trainable if f.name == family), None)
    if chosen is None:
        names = ", ".join(f.name for f in trainable)
        raise refused_value(
            "literal_error",
            "Trainable families are {expected}; not '{value}'",
            param="family",
            expected=names,
            value=str(untrusted.field(family)),
        )
    check_params(chosen, params)
    keys, paths = resolve_training_data(
        session,
        None if via_cli else principal,
        file_ids=file_ids,
        data_path=data_path,
        data_dir=data_dir,
        import_roots=import_roots,
    )
    job_params = dict(params) | {"paths": [str(p) for p in paths], "file_keys": keys}
    return start_training(session, principal, family, name, job_params, shared=shared)
