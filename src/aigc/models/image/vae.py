"""A (class-conditional) variational autoencoder in one file: config, encoder, decoder, training.

Encoder q(z | x, y) gives μ and log σ²; a sample z = μ + σ·ε (the reparameterisation trick)
is decoded by p(x | z, y). Loss per image = reconstruction (binary cross-entropy summed over
pixels) + β · KL(q(z | x, y) ‖ N(0, I)). With ``conditional=False`` the class embedding is
all zeros, which gives the plain VAE; the same joint latent [z, embed(y)] as the GAN gives
sampling, interpolation and latent arithmetic (see ``sampling.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from aigc.models.device import pick_device
from aigc.models.image import editing, loop
from aigc.models.image.data import ImageSet, augment
from aigc.models.image.gan import upsamplings
from aigc.models.image.loop import Progress
from aigc.models.image.sampling import LatentImageGenerator


@dataclass
class VAEConfig:
    size: int = 8
    channels: int = 1
    num_classes: int = 10
    conditional: bool = True
    z_dim: int = 8
    embed_dim: int = 16
    width: int = 32
    beta: float = 1.0
    steps: int = 2000
    batch_size: int = 64
    lr: float = 2e-3
    augment: bool = False
    seed: int = 0


class VAE(nn.Module):
    def __init__(self, cfg: VAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        k = upsamplings(cfg.size)
        self.k, self.base = k, cfg.size // 2**k
        self.c0 = cfg.width * 2 ** (k - 1)
        self.label_embed = nn.Embedding(cfg.num_classes, cfg.embed_dim)
        enc: list[nn.Module] = []
        c_in, c = cfg.channels, cfg.width
        for _ in range(k):
            enc += [nn.Conv2d(c_in, c, 4, 2, 1), nn.LeakyReLU(0.2)]
            c_in, c = c, c * 2
        self.encoder = nn.Sequential(*enc, nn.Flatten())
        features = c_in * self.base**2
        self.to_stats = nn.Linear(features + cfg.embed_dim, 2 * cfg.z_dim)  # μ and log σ²
        self.fc = nn.Sequential(
            nn.Linear(cfg.z_dim + cfg.embed_dim, self.c0 * self.base**2), nn.ReLU()
        )
        dec: list[nn.Module] = []
        c = self.c0
        for i in range(k):
            last = i == k - 1
            out = cfg.channels if last else c // 2
            dec.append(nn.ConvTranspose2d(c, out, 4, 2, 1))
            if not last:
                dec.append(nn.ReLU())
            c = out
        self.decoder = nn.Sequential(*dec)

    def embed(self, y: torch.Tensor) -> torch.Tensor:
        e = self.label_embed(y)
        return e if self.cfg.conditional else torch.zeros_like(e)

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stats = self.to_stats(torch.cat([self.encoder(x), self.embed(y)], dim=1))
        mu, logvar = stats.chunk(2, dim=1)
        return mu, logvar

    def decode_logits(self, latent: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.fc(latent).view(-1, self.c0, self.base, self.base))

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(latent))

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction, KL), each averaged over the batch and summed over dimensions."""
        mu, logvar = self.encode(x, y)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        logits = self.decode_logits(torch.cat([z, self.embed(y)], dim=1))
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / len(x)
        return recon, kl


def train(
    cfg: VAEConfig,
    data: ImageSet,
    progress: Progress | None = None,
    sample_every: int = 0,
    on_samples: Callable[[int, np.ndarray], None] | None = None,
) -> VAE:
    run = loop.start(cfg.seed)
    device, rng = run.device, run.rng
    model = VAE(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    images, labels = data.images, data.labels

    def step(idx: np.ndarray) -> Callable[[], str]:
        batch = augment(images[idx], rng) if cfg.augment else images[idx]
        x = torch.from_numpy(batch).to(device)
        y = torch.from_numpy(labels[idx]).to(device)
        recon, kl = model.loss(x, y)
        loop.descend(opt, recon + cfg.beta * kl, sched)
        return lambda: f"recon {recon.item():.2f} kl {kl.item():.2f}"

    def samples(i: int) -> None:
        if on_samples:
            on_samples(i, sample_grid(model, device))

    loop.run_steps(
        run, cfg.steps, cfg.batch_size, len(images), step, progress, sample_every, samples
    )
    return model.eval()


@torch.no_grad()
def sample_grid(model: VAE, device: torch.device) -> np.ndarray:
    was_training = model.training
    model.eval()
    y = torch.arange(model.cfg.num_classes, device=device).repeat(4)
    z = torch.randn(len(y), model.cfg.z_dim, generator=torch.Generator().manual_seed(0))
    out = model.decode(torch.cat([z.to(device), model.embed(y)], dim=1)).cpu().numpy()
    model.train(was_training)
    return out


def save(model: VAE, classes: list[str], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(tensors, out_dir / "vae.safetensors")
    (out_dir / "config.json").write_text(
        json.dumps({"vae": asdict(model.cfg), "classes": classes}, ensure_ascii=False, indent=1)
    )


class VAEModel(LatentImageGenerator):
    """A trained VAE loaded for serving: sampling, reconstruction, encoding to latents."""

    def __init__(self, model_dir: str | Path) -> None:
        meta = json.loads((Path(model_dir) / "config.json").read_text())
        self.cfg = VAEConfig(**meta["vae"])
        self.classes = list(meta["classes"])
        self.device = pick_device()
        self.net = VAE(self.cfg)
        self.net.load_state_dict(load_file(Path(model_dir) / "vae.safetensors"))
        self.net.to(self.device).eval()
        self.z_dim = self.cfg.z_dim
        self.native = self.cfg.size

    @torch.no_grad()
    def encode(self, images: np.ndarray, labels: list[int]) -> torch.Tensor:
        """(N, C, H, W) floats in [0, 1] → joint latents [μ, embed(y)]."""
        x = torch.from_numpy(np.asarray(images, dtype=np.float32)).to(self.device)
        y = torch.tensor(labels, dtype=torch.long, device=self.device)
        mu, _ = self.net.encode(x, y)
        return torch.cat([mu, self.net.embed(y)], dim=1)

    def image_variations(
        self, image: Image.Image, n: int, size: int, seed: int | None = None
    ) -> np.ndarray:
        """Samples of the posterior q(z | image, class): the encoder's own neighbourhood."""
        return editing.encoded_variations(self, image, n, size, seed)
