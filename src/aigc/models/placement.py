"""Moving a loaded model to its device, with the model's own type kept.

transformers wraps ``PreTrainedModel.to`` in a decorator that static type checkers cannot bind
to an instance, so every ``model.to(device)`` on a checkpoint reads as a type error. The call
here is the same call (it still runs the model's own ``to``, checks included); only its static
type goes through ``torch.nn.Module.to``, which returns the module itself.
"""

from __future__ import annotations

from typing import TypeVar

import torch

M = TypeVar("M", bound=torch.nn.Module)


def to_device(model: M, device: torch.device) -> M:
    """``model`` moved to ``device`` in place, and returned."""
    model.to(device)
    return model
