"""Any local Hugging Face causal LM (GPT-2, Llama, Qwen, ... or our own GPT) served by path.

The platform admin registers a folder under the import roots (``aigc models add --path DIR
--name hf-NAME``); nothing is downloaded. Chat requests use the tokenizer's own chat template
when it has one, otherwise the documented default of ``protocols.chat_prompt``
("Role: text" lines, then "Assistant:"). Weights load in the checkpoint's own dtype, on CUDA when
present.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from aigc.infra.hf_import import load_transformers
from aigc.models.device import pick_device
from aigc.models.family import PATH_CONFIG, Family, register
from aigc.models.placement import to_device
from aigc.models.text import neural


def load(config: dict[str, Any]) -> neural.NeuralTextModel:
    load_transformers()
    from transformers import AutoModelForCausalLM

    neural.quiet_transformers()
    path = Path(config["path"])
    device = pick_device()
    dtype: Any = "auto" if device.type == "cuda" else torch.float32  # half is slow on CPU
    model = to_device(AutoModelForCausalLM.from_pretrained(path, dtype=dtype), device)
    # Checkpoints trained with a beginning-of-text token expect it before the prompt.
    tokenizer = neural.load_text_tokenizer(path, add_special_tokens=True)
    return neural.NeuralTextModel(neural.HFCausalLM(model), tokenizer)


FAMILY = register(
    Family(
        name="hf",
        kind="text",
        loader=load,
        validate=neural.validate_checkpoint_config,
        config_schema=PATH_CONFIG,
        capabilities=neural.CAPABILITIES,
        capabilities_of=neural.capabilities_of,
        summary="Any local Hugging Face causal LM, registered by its folder",
        engine=True,
        from_folder=True,
    )
)
