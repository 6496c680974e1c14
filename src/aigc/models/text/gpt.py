"""GPT: a decoder-only transformer language model trained from scratch on a tenant's text.

The network is ``transformers``' GPT-2 (causal self-attention, pre-norm blocks, learned
positions, tied input/output embeddings), so a trained model is a standard Hugging Face
checkpoint: ``AutoModelForCausalLM.from_pretrained(dir)`` + ``AutoTokenizer.from_pretrained(dir)``
+ ``model.generate(...)`` work on it unchanged, and vLLM can serve it. What this module adds is
the small config people choose, the training job, and the shipped default ``gpt-pydoc``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, ValidationInfo, field_validator

from aigc.errors import value_problem
from aigc.infra.hf_import import load_transformers
from aigc.models.device import pick_device
from aigc.models.family import PATH_CONFIG, Family, register
from aigc.models.placement import to_device
from aigc.models.text import neural

if TYPE_CHECKING:  # transformers is imported when a model is built or loaded: the server
    from transformers import GPT2LMHeadModel  # starts ~2 s sooner without it


@dataclass
class GPTConfig:
    """The shape of the network; nanoGPT's names and meanings."""

    vocab_size: int
    block_size: int = 256  # the longest context the model sees
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0


def build(
    config: GPTConfig, bos_id: int | None = None, eos_id: int | None = None
) -> GPT2LMHeadModel:
    """A freshly initialised network (GPT-2's init: N(0, 0.02), scaled residual projections)."""
    load_transformers()
    from transformers import GPT2Config, GPT2LMHeadModel

    hf_config = GPT2Config(
        vocab_size=config.vocab_size,
        n_positions=config.block_size,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        resid_pdrop=config.dropout,
        embd_pdrop=config.dropout,
        attn_pdrop=config.dropout,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        tie_word_embeddings=True,
        activation_function="gelu",  # exact GELU in one fused kernel, as nanoGPT's nn.GELU
    )
    hf_config._attn_implementation = "sdpa"  # PyTorch's fused attention kernel on CPU and CUDA
    return GPT2LMHeadModel(hf_config)


def config_of(model: GPT2LMHeadModel) -> GPTConfig:
    c = model.config
    return GPTConfig(c.vocab_size, c.n_positions, c.n_layer, c.n_head, c.n_embd, c.resid_pdrop)


# --- training as a job ---------------------------------------------------------------------


class GPTParams(neural.NeuralParams):
    """A GPT's training parameters: the shared ones and the network's shape."""

    block_size: int = Field(default=256, ge=4, le=4096, description="Context length in tokens")
    n_layer: int = Field(default=4, ge=1, le=48, description="Transformer blocks")
    n_head: int = Field(default=4, ge=1, le=64, description="Attention heads")
    n_embd: int = Field(default=128, ge=8, le=4096, description="Width (a multiple of n_head)")

    @field_validator("n_embd")
    @classmethod
    def _whole_heads(cls, value: int, info: ValidationInfo) -> int:
        if value % int(info.data.get("n_head") or 1):
            raise value_problem("param_whole_heads", "n_embd must be a multiple of n_head")
        return value


def _make_model(params: dict[str, Any], vocab_size: int, bos: int | None, eos: int | None) -> Any:
    shape = GPTConfig(
        vocab_size=vocab_size,
        block_size=int(params["block_size"]),
        n_layer=int(params["n_layer"]),
        n_head=int(params["n_head"]),
        n_embd=int(params["n_embd"]),
        dropout=float(params["dropout"]),
    )
    if shape.n_embd % shape.n_head:
        raise ValueError("n_embd must be a multiple of n_head")
    return build(shape, bos, eos)


def train_gpt(ctx: Any, out_dir: Path) -> dict[str, Any]:
    """The ``train-gpt`` job: data → tokenizer → network → trainer → HF checkpoint."""
    return neural.train_job(ctx, out_dir, GPTParams, make_model=_make_model)


def load(config: dict[str, Any]) -> neural.NeuralTextModel:
    """The registry's loader: a trained checkpoint directory → a served text model."""
    load_transformers()
    from transformers import GPT2LMHeadModel

    neural.quiet_transformers()
    path = Path(config["path"])
    model = to_device(GPT2LMHeadModel.from_pretrained(path), pick_device())
    served = neural.NeuralTextModel(neural.HFCausalLM(model), neural.load_text_tokenizer(path))
    served.slides_window = True  # a window of 128-256 tokens: longer chats slide through it
    return served


# --- the default gpt-pydoc -----------------------------------------------------------------

DEFAULT_NAME = "gpt-pydoc"
# Small enough to train in a few minutes on two CPU cores; AIGC_GPT_PYDOC_ITERS shrinks it for
# tests (the bootstrap test needs only the job to be submitted and visible).
PYDOC_PARAMS: dict[str, Any] = {
    "source": "pydoc",
    "tokenizer": "bpe",
    "vocab_size": 2048,
    "block_size": 128,
    "n_layer": 4,
    "n_head": 4,
    "n_embd": 128,
    "batch_size": 16,
    "max_iters": 1500,
    "learning_rate": 1e-3,
    "min_lr": 1e-4,
    "warmup_iters": 100,
    "eval_interval": 250,
}


def pydoc_params() -> dict[str, Any]:
    params = dict(PYDOC_PARAMS)
    iters = os.environ.get("AIGC_GPT_PYDOC_ITERS")
    if iters:
        params["max_iters"] = int(iters)
        params["eval_interval"] = max(1, int(iters) // 2)
    return params


def bootstrap_default(db: Any, settings: Any) -> None:
    """Queue the training of the shared ``gpt-pydoc`` at first start (idempotent)."""
    neural.bootstrap_shared(db, DEFAULT_NAME, "gpt", pydoc_params())


def bootstrap_default_in(session: Any) -> None:
    """The same in an open session (``aigc train gpt-pydoc``)."""
    neural.submit_shared(session, DEFAULT_NAME, "gpt", pydoc_params())


FAMILY = register(
    Family(
        name="gpt",
        kind="text",
        from_folder=True,
        loader=load,
        validate=neural.validate_checkpoint_config,
        config_schema=PATH_CONFIG,
        capabilities=neural.CAPABILITIES,
        capabilities_of=neural.capabilities_of,
        summary="Train a GPT (decoder-only transformer) from scratch; saves a HF checkpoint.",
        params=GPTParams,
        trainer=train_gpt,
        long_training=True,
        bootstrap=bootstrap_default,
        engine=True,
    )
)
