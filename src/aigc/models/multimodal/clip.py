"""A CLIP-style dual encoder in one file: image encoder, text encoder, contrastive training.

Images and captions are mapped into one space where matching pairs have high cosine
similarity. Loss: the symmetric cross-entropy of Radford et al. (2021) over the batch's
image×text similarity matrix, scaled by a learnable temperature. With few classes a batch holds
many images of one class, so when labels are known every same-class caption counts as a
positive (uniform soft targets) instead of a false negative.

Text is tokenized by the project's word tokenizer (English words, single Han characters), so
English and Chinese captions share one encoder. Zero-shot classification embeds a prompt per
class ("a photo of a {}") and picks the nearest; retrieval ranks by the same similarity.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from aigc.models.base import LoadedModel
from aigc.models.device import pick_device
from aigc.models.image import loop
from aigc.models.image.data import ImageSet, augment, digit_captions
from aigc.models.image.gan import upsamplings
from aigc.models.image.loop import Progress
from aigc.models.text.tokenizers import HFTokenizer, load_tokenizer, train_tokenizer


@dataclass
class CLIPConfig:
    size: int = 8
    channels: int = 1
    vocab_size: int = 0  # set from the tokenizer
    embed_dim: int = 64  # the joint space
    width: int = 64  # hidden size of both encoders
    text_layers: int = 2
    heads: int = 4
    max_len: int = 24
    steps: int = 800
    batch_size: int = 128
    lr: float = 1e-3
    word_dropout: float = 0.15  # unknown-word robustness: template words → <unk>
    seed: int = 0


def normalize_text(text: str) -> str:
    return " ".join(text.lower().split())


def captions_for(data: ImageSet, index: int) -> list[str]:
    """An image's captions: its own, else generated from its class (digits: EN and ZH)."""
    if data.captions and data.captions[index]:
        return data.captions[index]
    label = int(data.labels[index])
    if data.classes == [str(i) for i in range(10)]:
        return digit_captions(label)
    name = data.classes[label]
    return [f"a picture of {name}", f"{name} image", f"{name}的图片", f"一张{name}"]


def encode_texts(tok: HFTokenizer, texts: Sequence[str], max_len: int) -> torch.Tensor:
    """Token ids padded to one length (at most ``max_len``), pad id 0-filled by tok.pad_id."""
    ids = [tok.encode(normalize_text(t))[:max_len] or [tok.unk_id] for t in texts]
    width = max(len(x) for x in ids)
    out = torch.full((len(ids), width), tok.pad_id, dtype=torch.long)
    for i, row in enumerate(ids):
        out[i, : len(row)] = torch.tensor(row)
    return out


class ImageEncoder(nn.Module):
    def __init__(self, cfg: CLIPConfig) -> None:
        super().__init__()
        k = upsamplings(cfg.size)
        layers: list[nn.Module] = [nn.Conv2d(cfg.channels, cfg.width // 2, 3, 1, 1), nn.GELU()]
        c = cfg.width // 2
        for _ in range(k):
            layers += [nn.Conv2d(c, cfg.width, 4, 2, 1), nn.GELU()]
            c = cfg.width
        self.convs = nn.Sequential(*layers, nn.Flatten())
        self.proj = nn.Linear(cfg.width * (cfg.size // 2**k) ** 2, cfg.embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.convs(x))


class TextEncoder(nn.Module):
    """Token + position embeddings → transformer encoder → mean over real tokens → projection."""

    def __init__(self, cfg: CLIPConfig, pad_id: int) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.tokens = nn.Embedding(cfg.vocab_size, cfg.width)
        self.positions = nn.Embedding(cfg.max_len, cfg.width)
        layer = nn.TransformerEncoderLayer(
            cfg.width, cfg.heads, 2 * cfg.width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, cfg.text_layers, enable_nested_tensor=False)
        self.proj = nn.Linear(cfg.width, cfg.embed_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pad = ids == self.pad_id
        pos = torch.arange(ids.shape[1], device=ids.device)
        h = self.blocks(self.tokens(ids) + self.positions(pos), src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).float()
        return self.proj((h * keep).sum(1) / keep.sum(1).clamp(min=1))


class CLIP(nn.Module):
    def __init__(self, cfg: CLIPConfig, pad_id: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.image = ImageEncoder(cfg)
        self.text = TextEncoder(cfg, pad_id)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def embed_images(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image(x), dim=-1)

    def embed_texts(self, ids: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text(ids), dim=-1)

    def loss(
        self, x: torch.Tensor, ids: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        scale = self.logit_scale.clamp(max=math.log(100)).exp()
        logits = scale * self.embed_images(x) @ self.embed_texts(ids).T
        if labels is None:
            target = torch.eye(len(x), device=x.device)
        else:
            target = (labels[:, None] == labels[None, :]).float()
        target = target / target.sum(1, keepdim=True)
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def train(
    cfg: CLIPConfig, data: ImageSet, progress: Progress | None = None
) -> tuple[CLIP, HFTokenizer]:
    run = loop.start(cfg.seed)
    device, rng, pyrng = run.device, run.rng, run.pyrng
    all_captions = [captions_for(data, i) for i in range(len(data))]
    tok = train_tokenizer("word", [normalize_text(c) for caps in all_captions for c in caps])
    cfg.vocab_size = tok.vocab_size
    model = CLIP(cfg, tok.pad_id).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.steps)

    def step(idx: np.ndarray) -> Callable[[], str]:
        x = torch.from_numpy(augment(data.images[idx], rng)).to(device)
        ids = encode_texts(tok, [pyrng.choice(all_captions[i]) for i in idx], cfg.max_len)
        drop = (torch.rand(ids.shape) < cfg.word_dropout) & (ids != tok.pad_id)
        ids = ids.masked_fill(drop, tok.unk_id).to(device)
        loss = model.loss(x, ids, torch.from_numpy(data.labels[idx]).to(device))
        loop.descend(opt, loss, sched)
        return lambda: (
            f"loss {loss.item():.3f} temperature {1 / model.logit_scale.exp().item():.3f}"
        )

    loop.run_steps(run, cfg.steps, cfg.batch_size, len(data), step, progress)
    return model.eval(), tok


def save(model: CLIP, tok: HFTokenizer, classes: list[str], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous().cpu() for k, v in model.state_dict().items()},
        out_dir / "clip.safetensors",
    )
    tok.save(out_dir / "tokenizer")
    (out_dir / "config.json").write_text(
        json.dumps({"clip": asdict(model.cfg), "classes": classes}, ensure_ascii=False, indent=1)
    )


class CLIPModel(LoadedModel):
    """A trained dual encoder loaded for serving: embeddings, zero-shot labels, retrieval."""

    def __init__(self, model_dir: str | Path) -> None:
        model_dir = Path(model_dir)
        meta = json.loads((model_dir / "config.json").read_text())
        self.cfg = CLIPConfig(**meta["clip"])
        self.classes: list[str] = list(meta["classes"])
        self.tokenizer = load_tokenizer(model_dir / "tokenizer")
        self.device = pick_device()
        self.net = CLIP(self.cfg, self.tokenizer.pad_id)
        self.net.load_state_dict(load_file(model_dir / "clip.safetensors"))
        self.net.to(self.device).eval()
        self.size = self.cfg.size
        self.channels = self.cfg.channels

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        ids = encode_texts(self.tokenizer, texts, self.cfg.max_len).to(self.device)
        return self.net.embed_texts(ids)

    @torch.no_grad()
    def embed_images(self, images: np.ndarray) -> torch.Tensor:
        """(N, C, H, W) floats in [0, 1] at the model's size → unit vectors."""
        x = torch.from_numpy(np.asarray(images, dtype=np.float32)).to(self.device)
        return self.net.embed_images(x)

    @torch.no_grad()
    def class_embeddings(self, names: Sequence[str], templates: Sequence[str]) -> torch.Tensor:
        """One unit vector per class: the mean of its prompts' embeddings (prompt ensembling)."""
        rows = [self.embed_texts([t.format(n) for t in templates]).mean(0) for n in names]
        return F.normalize(torch.stack(rows), dim=-1)

    @torch.no_grad()
    def zero_shot(
        self, images: np.ndarray, names: Sequence[str], templates: Sequence[str] = ("{}",)
    ) -> np.ndarray:
        """Class probabilities for each image from text prompts alone, shape (N, classes)."""
        sims = self.embed_images(images) @ self.class_embeddings(names, templates).T
        scale = self.net.logit_scale.clamp(max=math.log(100)).exp()
        return torch.softmax(scale * sims, dim=-1).cpu().numpy()

    @torch.no_grad()
    def retrieve(self, texts: Sequence[str], images: np.ndarray, k: int = 1) -> np.ndarray:
        """Indices of the ``k`` images most similar to each text, shape (len(texts), k)."""
        sims = self.embed_texts(texts) @ self.embed_images(images).T
        return sims.topk(k, dim=1).indices.cpu().numpy()
