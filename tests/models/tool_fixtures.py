"""What the local function-calling tests share: two tools, their schemas, decoding under the
tool-call grammar (optionally steered into starting a call), the calls read back from a model's
pieces, and the check that a forced call is one valid call and nothing else."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import torch
from jsonschema import Draft202012Validator

from aigc.guard import structured
from aigc.models.protocols import FunctionTool, TextRequest, ToolCallDelta, ToolSet
from aigc.models.stopping import Ended
from aigc.models.text import neural

WEATHER = FunctionTool(
    "get_weather",
    "The weather in a city",
    {
        "type": "object",
        "properties": {
            "city": {"type": "string", "enum": ["Paris", "Beijing", "北京"]},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "required": ["city", "days"],
    },
)
CLOCK = FunctionTool(
    "get_time",
    None,
    {"type": "object", "properties": {"utc": {"type": "boolean"}}, "required": ["utc"]},
)
SCHEMAS = {t.name: t.parameters for t in (WEATHER, CLOCK)}


def run(model: neural.NeuralTextModel, request: TextRequest, *first: Any) -> list[str]:
    """The model's pieces for ``request``, decoded under its tool-call grammar; ``first``:
    logits processors that act before the grammar (``StartACall``)."""
    assert request.tools is not None
    processors = (*first, structured.tool_processor(model, request.tools))
    return list(model.generate(replace(request, logits_processors=processors)))


class StartACall:
    """Steers the random model into starting a call (its first token is ``token``, the
    template's call marker: ``<tool_call>``, ``[TOOL_CALLS]``), as a trained model would when
    it decides to call: the grammar must then finish the call."""

    def __init__(self, token: int) -> None:
        self.token = token

    def __call__(self, generated: list[int], logits: torch.Tensor) -> torch.Tensor:
        if generated:
            return logits
        steered = torch.full_like(logits, float("-inf"))
        steered[..., self.token] = 0.0
        return steered


def calls_of(pieces: list[str]) -> list[tuple[str, dict[str, Any]]]:
    """Each call's name and parsed arguments, from its deltas in order."""
    joined: dict[int, list[str]] = {}
    for p in pieces:
        if isinstance(p, ToolCallDelta):
            call = joined.setdefault(p.call_index, ["", ""])
            call[0] += p.name or ""
            call[1] += p.arguments
    return [(name, json.loads(arguments)) for name, arguments in joined.values()]


def check_forced_call(pieces: list[str], tools: ToolSet) -> tuple[str, dict[str, Any]]:
    """A named or required choice: exactly one call (the named one), its arguments valid
    against the tool's schema, no text beside it, and finish_reason tool_calls."""
    calls = calls_of(pieces)
    assert len(calls) == 1
    name, arguments = calls[0]
    assert name == (tools.name or name) and name in SCHEMAS
    Draft202012Validator(SCHEMAS[name]).validate(arguments)
    assert not [p for p in pieces if p and not isinstance(p, ToolCallDelta)]  # no stray text
    assert [p.finish_reason for p in pieces if isinstance(p, Ended)][-1:] == ["tool_calls"]
    return calls[0]
