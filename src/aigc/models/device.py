"""Where a model runs: the one device choice every loader, trainer and embedder shares.

``auto`` (or nothing) means the first GPU when there is one, else the CPU; anything else is a
torch device name, refused up front when it names CUDA on a machine without it — a clear 400
or failed job instead of an error deep inside the first ``.to(device)``.
"""

from __future__ import annotations

import torch

from aigc.errors import refused_value


def pick_device(preference: str | None = None) -> torch.device:
    """``auto``/None: the first GPU when there is one, else the CPU; otherwise as named."""
    if preference and preference != "auto":
        device = torch.device(preference)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise refused_value(
                "device_unavailable",
                "The device {device} is not available here",
                param="device",
                code="unsupported_value",
                device=str(preference),
            )
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
