"""A class-conditional DCGAN in one file: config, generator, discriminator, training, save/load.

The minimax game of Goodfellow et al.: D maximises log D(x) + log(1 − D(G(z))). For G we use
the *non-saturating* loss −log D(G(z)) (same fixed point, stronger gradients early on).
DCGAN choices: strided (transposed) convolutions, batch norm in G, LeakyReLU in D, weights
from N(0, 0.02), Adam(lr 2e-4, β1 0.5). Stabilisers: spectral norm on D's layers and a
projection discriminator for the class condition (Miyato & Koyama, 2018).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn.utils import spectral_norm

from aigc.models.device import pick_device
from aigc.models.image import loop
from aigc.models.image.data import ImageSet, augment
from aigc.models.image.loop import Progress
from aigc.models.image.sampling import LatentImageGenerator


@dataclass
class GANConfig:
    size: int = 8  # native side in pixels
    channels: int = 1
    num_classes: int = 10
    z_dim: int = 32
    embed_dim: int = 16
    width: int = 64  # channels of the last hidden layer; doubles towards the bottleneck
    steps: int = 2000
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    augment: bool = False
    ema: float = 0.99  # the served generator is an exponential moving average of G's weights
    seed: int = 0


def upsamplings(size: int) -> int:
    """How many ×2 steps from a small base grid to ``size`` (base ≥ 2 pixels)."""
    k = 0
    while k < 4 and size % (2 ** (k + 1)) == 0 and size // 2 ** (k + 1) >= 2:
        k += 1
    return max(k, 1)


def init_weights(module: nn.Module) -> None:
    """DCGAN's initialisation: N(0, 0.02) for conv and linear, N(1, 0.02) for batch-norm scale."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """[z, embed(y)] → linear → base×base grid → k transposed convolutions → image in [0, 1]."""

    def __init__(self, cfg: GANConfig) -> None:
        super().__init__()
        self.k = upsamplings(cfg.size)
        self.base = cfg.size // 2**self.k
        self.c0 = cfg.width * 2 ** (self.k - 1)
        self.label_embed = nn.Embedding(cfg.num_classes, cfg.embed_dim)
        self.fc = nn.Sequential(
            nn.Linear(cfg.z_dim + cfg.embed_dim, self.c0 * self.base**2),
            nn.BatchNorm1d(self.c0 * self.base**2),
            nn.ReLU(),
        )
        layers: list[nn.Module] = []
        c = self.c0
        for i in range(self.k):
            last = i == self.k - 1
            out = cfg.channels if last else c // 2
            layers.append(nn.ConvTranspose2d(c, out, 4, 2, 1))
            layers += [nn.Tanh()] if last else [nn.BatchNorm2d(out), nn.ReLU()]
            c = out
        self.convs = nn.Sequential(*layers)

    def embed(self, y: torch.Tensor) -> torch.Tensor:
        return self.label_embed(y)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        h = self.fc(latent).view(-1, self.c0, self.base, self.base)
        return (self.convs(h) + 1) / 2  # tanh → [0, 1]


class Discriminator(nn.Module):
    """k strided convolutions → features h; logit = w·h + ⟨embed(y), h⟩ (projection)."""

    def __init__(self, cfg: GANConfig) -> None:
        super().__init__()
        k = upsamplings(cfg.size)
        layers: list[nn.Module] = []
        c_in, c = cfg.channels, cfg.width
        for _ in range(k):
            layers += [spectral_norm(nn.Conv2d(c_in, c, 4, 2, 1)), nn.LeakyReLU(0.2)]
            c_in, c = c, c * 2
        self.convs = nn.Sequential(*layers)
        features = c_in * (cfg.size // 2**k) ** 2
        self.out = spectral_norm(nn.Linear(features, 1))
        self.project = spectral_norm(nn.Embedding(cfg.num_classes, features))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.convs(x * 2 - 1).flatten(1)
        return self.out(h).squeeze(1) + (self.project(y) * h).sum(dim=1)


def train(
    cfg: GANConfig,
    data: ImageSet,
    progress: Progress | None = None,
    sample_every: int = 0,
    on_samples: Callable[[int, np.ndarray], None] | None = None,
) -> Generator:
    """Alternate one D step and one G step per batch; returns the averaged generator."""
    run = loop.start(cfg.seed)
    device, rng = run.device, run.rng
    G, D = Generator(cfg).to(device), Discriminator(cfg).to(device)
    G.apply(init_weights)
    D.apply(init_weights)
    G_ema = copy.deepcopy(G).requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    images, labels = data.images, data.labels

    def step(idx: np.ndarray) -> Callable[[], str]:
        batch = augment(images[idx], rng) if cfg.augment else images[idx]
        real = torch.from_numpy(batch).to(device)
        y = torch.from_numpy(labels[idx]).to(device)
        z = torch.randn(len(y), cfg.z_dim, device=device)
        fake = G.decode(torch.cat([z, G.embed(y)], dim=1))
        # D: real → 1, fake → 0
        loss_d = F.softplus(-D(real, y)).mean() + F.softplus(D(fake.detach(), y)).mean()
        loop.descend(opt_d, loss_d)
        # G: non-saturating, maximise log D(G(z))
        loss_g = F.softplus(-D(fake, y)).mean()
        loop.descend(opt_g, loss_g)
        update_ema(G_ema, G, cfg.ema)
        return lambda: f"loss_d {loss_d.item():.3f} loss_g {loss_g.item():.3f}"

    def samples(i: int) -> None:
        if on_samples:
            on_samples(i, sample_grid(G_ema, cfg, device))

    loop.run_steps(
        run, cfg.steps, cfg.batch_size, len(images), step, progress, sample_every, samples
    )
    return G_ema.eval()


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema ← decay·ema + (1 − decay)·model; batch-norm statistics are copied as they are.

    Averaging the generator over its last steps smooths the GAN's oscillations (a cheap
    stabiliser that lowers the Fréchet distance)."""
    for e, p in zip(ema.parameters(), model.parameters(), strict=True):
        e.lerp_(p, 1.0 - decay)
    for eb, b in zip(ema.buffers(), model.buffers(), strict=True):
        eb.copy_(b)


@torch.no_grad()
def sample_grid(G: Generator, cfg: GANConfig, device: torch.device) -> np.ndarray:
    """One sample per class per row (10 rows of noise): the per-epoch picture of progress."""
    was_training = G.training
    G.eval()
    y = torch.arange(cfg.num_classes, device=device).repeat(4)
    z = torch.randn(len(y), cfg.z_dim, generator=torch.Generator().manual_seed(0)).to(device)
    out = G.decode(torch.cat([z, G.embed(y)], dim=1)).cpu().numpy()
    G.train(was_training)
    return out


def save(G: Generator, cfg: GANConfig, classes: list[str], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(
        {k: v.contiguous().cpu() for k, v in G.state_dict().items()},
        out_dir / "generator.safetensors",
    )
    (out_dir / "config.json").write_text(
        json.dumps({"gan": asdict(cfg), "classes": classes}, ensure_ascii=False, indent=1)
    )


class GANModel(LatentImageGenerator):
    """A trained generator loaded for serving (implements ``ImageModel``)."""

    def __init__(self, model_dir: str | Path) -> None:
        meta = json.loads((Path(model_dir) / "config.json").read_text())
        self.cfg = GANConfig(**meta["gan"])
        self.classes = list(meta["classes"])
        self.device = pick_device()
        self.net = Generator(self.cfg)
        self.net.load_state_dict(load_file(Path(model_dir) / "generator.safetensors"))
        self.net.to(self.device).eval()
        self.z_dim = self.cfg.z_dim
        self.native = self.cfg.size
