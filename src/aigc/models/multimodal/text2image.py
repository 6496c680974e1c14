"""Text-to-image: a VAE whose condition is the CLIP text embedding of a caption.

Training pairs each image with one of its captions; the frozen CLIP text encoder turns the
caption into a unit vector, which a linear layer maps into the VAE's condition slot (where the
class VAE has its label embedding). At generation the prompt's CLIP embedding takes that slot,
so any phrasing CLIP understands — in English or Chinese — steers the decoder.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from aigc.models.base import ImageModelBase
from aigc.models.device import pick_device
from aigc.models.image import loop
from aigc.models.image.data import ImageSet, augment
from aigc.models.image.loop import Progress
from aigc.models.image.sampling import allowed_sizes, to_uint8, upscale
from aigc.models.image.vae import VAE, VAEConfig
from aigc.models.multimodal.clip import CLIPModel, captions_for
from aigc.models.protocols import ImageRequest


@dataclass
class Text2ImageConfig:
    clip_dim: int = 64
    vae: VAEConfig | None = None
    steps: int = 1500
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0


class TextConditionedVAE(VAE):
    """The VAE of ``image/vae.py`` with its label embedding replaced by a text projection."""

    def __init__(self, cfg: VAEConfig, clip_dim: int) -> None:
        super().__init__(cfg)
        self.cond_proj = nn.Linear(clip_dim, cfg.embed_dim)

    def embed(self, text_embedding: torch.Tensor) -> torch.Tensor:
        return self.cond_proj(text_embedding)


def train(
    cfg: Text2ImageConfig, data: ImageSet, clip: CLIPModel, progress: Progress | None = None
) -> TextConditionedVAE:
    run = loop.start(cfg.seed)
    device, rng, pyrng = run.device, run.rng, run.pyrng
    vae_cfg = cfg.vae or VAEConfig()
    vae_cfg.size, vae_cfg.channels, vae_cfg.num_classes = data.size, data.channels, 1
    cfg.vae, cfg.clip_dim = vae_cfg, clip.cfg.embed_dim
    captions = [captions_for(data, i) for i in range(len(data))]
    distinct = sorted({c for caps in captions for c in caps})
    table = clip.embed_texts(distinct).to(device)  # frozen: embedded once
    row = {c: i for i, c in enumerate(distinct)}
    model = TextConditionedVAE(vae_cfg, cfg.clip_dim).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)

    def step(idx: np.ndarray) -> Callable[[], str]:
        x = torch.from_numpy(augment(data.images[idx], rng, max_shift=0)).to(device)
        cond = table[[row[pyrng.choice(captions[i])] for i in idx]]
        recon, kl = model.loss(x, cond)
        loop.descend(opt, recon + vae_cfg.beta * kl, sched)
        return lambda: f"recon {recon.item():.2f} kl {kl.item():.2f}"

    loop.run_steps(run, cfg.steps, cfg.batch_size, len(data), step, progress)
    return model.eval()


def save(model: TextConditionedVAE, cfg: Text2ImageConfig, clip_dir: Path, out_dir: Path) -> None:
    """The VAE plus a copy of the CLIP model it reads prompts with (so it stands alone)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(tensors, out_dir / "text2image.safetensors")
    if Path(clip_dir).resolve() != (out_dir / "clip").resolve():
        shutil.copytree(clip_dir, out_dir / "clip", dirs_exist_ok=True)
    meta = {"kind": "text2image", "text2image": asdict(cfg)}
    (out_dir / "config.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1))


class Text2ImageModel(ImageModelBase):
    """Prompt → images (implements ``ImageModel``)."""

    def __init__(self, model_dir: str | Path) -> None:
        model_dir = Path(model_dir)
        meta = json.loads((model_dir / "config.json").read_text())["text2image"]
        vae_cfg = VAEConfig(**meta.pop("vae"))
        self.cfg = Text2ImageConfig(**meta, vae=vae_cfg)
        self.clip = CLIPModel(model_dir / "clip")
        self.device = pick_device()
        self.net = TextConditionedVAE(vae_cfg, self.cfg.clip_dim)
        self.net.load_state_dict(load_file(model_dir / "text2image.safetensors"))
        self.net.to(self.device).eval()
        self.native = vae_cfg.size

    @property
    def sizes(self) -> list[int]:
        return allowed_sizes(self.native)

    @torch.no_grad()
    def sample(self, prompt: str, n: int, seed: int | None = None) -> torch.Tensor:
        """(n, C, H, W) floats in [0, 1] for one prompt."""
        gen = torch.Generator().manual_seed(seed if seed is not None else int(torch.seed() % 2**31))
        z = torch.randn(n, self.net.cfg.z_dim, generator=gen).to(self.device)
        cond = self.net.embed(self.clip.embed_texts([prompt]).to(self.device)).expand(n, -1)
        return self.net.decode(torch.cat([z, cond], dim=1))

    def generate_images(self, request: ImageRequest) -> np.ndarray:
        images = to_uint8(self.sample(request.prompt, request.n, request.seed))
        return upscale(images, request.size or self.native)
