"""RNN: a recurrent language model (LSTM or GRU), the classic neural LM before transformers.

    h_t = φ(h_{t-1}, x_t)          φ: a stack of LSTM or GRU cells over token embeddings
    p(x_{t+1} | x_≤t) = softmax(W h_t + b)

Trained by the same loop as GPT (``models.trainer``: random windows, truncated back-propagation
through time inside each window) and saved the same way: config.json, model.safetensors and the
tokenizer files in one folder.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field
from safetensors.torch import load_file, save_file
from torch import nn

from aigc.models.device import pick_device
from aigc.models.family import PATH_CONFIG, Family, register
from aigc.models.text import neural

MODEL_TYPE = "aigc-rnn"


@dataclass
class RNNConfig:
    vocab_size: int
    cell: str = "lstm"  # lstm | gru
    n_embd: int = 128
    n_hidden: int = 256
    n_layer: int = 2
    dropout: float = 0.0
    block_size: int = 128  # the window trained on (back-propagation through time)
    eos_token_id: int | None = None
    bos_token_id: int | None = None


class RNNLanguageModel(nn.Module):
    def __init__(self, config: RNNConfig) -> None:
        super().__init__()
        if config.cell not in ("lstm", "gru"):
            raise ValueError("cell must be 'lstm' or 'gru'")
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.n_embd)
        rnn_class = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.rnn = rnn_class(
            config.n_embd,
            config.n_hidden,
            num_layers=config.n_layer,
            dropout=config.dropout if config.n_layer > 1 else 0.0,
            batch_first=True,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.n_hidden, config.vocab_size)

    def forward(self, ids: torch.Tensor, state: Any = None) -> torch.Tensor:
        """Logits for every position of ``ids`` [B, T] → [B, T, V] (training and scoring)."""
        return self.forward_with_state(ids, state)[0]

    def forward_with_state(self, ids: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        hidden, state = self.rnn(self.drop(self.embed(ids)), state)
        return self.head(self.drop(hidden)), state

    # --- files: the same conventions as a Hugging Face checkpoint ---------------------------

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = {"model_type": MODEL_TYPE, "architectures": ["RNNLanguageModel"]}
        (directory / "config.json").write_text(json.dumps(config | asdict(self.config), indent=2))
        weights = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(weights, directory / "model.safetensors", metadata={"format": "pt"})

    @classmethod
    def from_pretrained(cls, directory: Path) -> RNNLanguageModel:
        directory = Path(directory)
        raw = json.loads((directory / "config.json").read_text())
        if raw.get("model_type") != MODEL_TYPE:
            raise ValueError(f"{directory.name} is not an aigc RNN checkpoint")
        fields = RNNConfig.__dataclass_fields__
        model = cls(RNNConfig(**{k: v for k, v in raw.items() if k in fields}))
        model.load_state_dict(load_file(directory / "model.safetensors"))
        return model


class RNNStepLM:
    """``decoding.StepLM`` over the RNN: the state is the hidden (and cell) state."""

    max_context: int | None = None  # a recurrent model reads any length

    def __init__(self, model: RNNLanguageModel) -> None:
        self.model = model.eval()
        self.device = next(model.parameters()).device
        self.vocab_size = model.config.vocab_size

    def prefill(self, ids: torch.Tensor) -> tuple[torch.Tensor, Any]:
        logits, state = self.model.forward_with_state(ids)
        return logits[:, -1, :], state

    def step(
        self, state: Any, ids: torch.Tensor, history: torch.Tensor
    ) -> tuple[torch.Tensor, Any]:
        logits, state = self.model.forward_with_state(ids[:, None], state)
        return logits[:, -1, :], state

    def select(self, state: Any, rows: torch.Tensor) -> Any:
        if isinstance(state, tuple):  # LSTM: (h, c), each [layers, batch, hidden]
            return tuple(s[:, rows].contiguous() for s in state)
        return state[:, rows].contiguous()


# --- training and loading --------------------------------------------------------------------


class RNNParams(neural.NeuralParams):
    """An RNN's training parameters: the shared ones and the network's shape."""

    cell: Literal["lstm", "gru"] = "lstm"
    block_size: int = Field(default=128, ge=4, le=4096, description="Window trained on (BPTT)")
    n_layer: int = Field(default=2, ge=1, le=48, description="Stacked cells")
    n_embd: int = Field(default=128, ge=8, le=4096, description="Token embedding width")
    n_hidden: int = Field(default=256, ge=8, le=8192, description="Hidden state width")


def _make_model(
    params: dict[str, Any], vocab_size: int, bos: int | None, eos: int | None
) -> RNNLanguageModel:
    return RNNLanguageModel(
        RNNConfig(
            vocab_size=vocab_size,
            cell=str(params["cell"]),
            n_embd=int(params["n_embd"]),
            n_hidden=int(params["n_hidden"]),
            n_layer=int(params["n_layer"]),
            dropout=float(params["dropout"]),
            block_size=int(params["block_size"]),
            eos_token_id=eos,
            bos_token_id=bos,
        )
    )


def train_rnn(ctx: Any, out_dir: Path) -> dict[str, Any]:
    """The ``train-rnn`` job."""
    return neural.train_job(ctx, out_dir, RNNParams, make_model=_make_model)


def load(config: dict[str, Any]) -> neural.NeuralTextModel:
    path = Path(config["path"])
    model = RNNLanguageModel.from_pretrained(path).to(pick_device())
    return neural.NeuralTextModel(RNNStepLM(model), neural.load_text_tokenizer(path))


FAMILY = register(
    Family(
        name="rnn",
        kind="text",
        from_folder=True,
        loader=load,
        validate=neural.validate_checkpoint_config,
        config_schema=PATH_CONFIG,
        capabilities=neural.CAPABILITIES,
        summary="Train an LSTM/GRU language model (-p cell=gru for a GRU).",
        params=RNNParams,
        trainer=train_rnn,
        long_training=True,
    )
)
