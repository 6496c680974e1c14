"""An image captioner in one file: a multimodal transformer with cross-modal attention.

The image is cut into patches, each patch linearly embedded (ViT style) and encoded by a small
transformer; a text decoder (causal self-attention, then cross-attention to the image patches)
predicts the caption token by token. The first decoder input after <s> is a language tag, so
one model captions in English or Chinese: "a handwritten seven" / "手写数字七".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from aigc.errors import InvalidRequest
from aigc.models.base import TextModelBase
from aigc.models.device import pick_device
from aigc.models.image import loop
from aigc.models.image.data import ImageSet, augment, label_captions
from aigc.models.image.inputs import image_array, pil_image
from aigc.models.image.loop import Progress
from aigc.models.multimodal.clip import normalize_text
from aigc.models.protocols import ChatMessage, TextRequest
from aigc.models.text.tokenizers import HFTokenizer, load_tokenizer, train_tokenizer
from aigc.models.tokens import count_tokens

LANGUAGES = ("en", "zh")


@dataclass
class CaptionerConfig:
    size: int = 8
    channels: int = 1
    patch: int = 2
    vocab_size: int = 0  # set from the tokenizer
    width: int = 64
    heads: int = 4
    encoder_layers: int = 2
    decoder_layers: int = 2
    max_len: int = 16
    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0


def caption_pairs(data: ImageSet, index: int) -> list[tuple[str, str]]:
    """(language, caption) targets for one image: its own captions, else from its label."""
    if data.captions and data.captions[index]:
        return [
            ("zh" if any("\u4e00" <= ch <= "\u9fff" for ch in c) else "en", c)
            for c in data.captions[index]
        ]
    label = int(data.labels[index])
    if data.classes == [str(i) for i in range(10)]:
        en, zh = label_captions(label)
    else:
        name = data.classes[label]
        en, zh = f"a picture of {name}", f"{name}的图片"
    return [("en", en), ("zh", zh)]


class Captioner(nn.Module):
    def __init__(self, cfg: CaptionerConfig, pad_id: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.pad_id = pad_id
        n_patches = (cfg.size // cfg.patch) ** 2
        # a small convolutional stem sees each pixel's neighbourhood, then one token per patch
        self.patch_embed = nn.Sequential(
            nn.Conv2d(cfg.channels, cfg.width, 3, 1, 1),
            nn.GELU(),
            nn.Conv2d(cfg.width, cfg.width, cfg.patch, cfg.patch),
        )
        self.patch_pos = nn.Parameter(torch.zeros(1, n_patches, cfg.width))
        enc = nn.TransformerEncoderLayer(
            cfg.width, cfg.heads, 4 * cfg.width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(enc, cfg.encoder_layers, enable_nested_tensor=False)
        # vocabulary + one tag per language
        self.tokens = nn.Embedding(cfg.vocab_size + len(LANGUAGES), cfg.width)
        self.positions = nn.Embedding(cfg.max_len + 2, cfg.width)
        dec = nn.TransformerDecoderLayer(
            cfg.width, cfg.heads, 4 * cfg.width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.decoder = nn.TransformerDecoder(dec, cfg.decoder_layers)
        self.head = nn.Linear(cfg.width, cfg.vocab_size)

    def language_id(self, language: str) -> int:
        return self.cfg.vocab_size + LANGUAGES.index(language)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → (B, patches, width): one token per patch, then self-attention."""
        patches = self.patch_embed(x).flatten(2).transpose(1, 2)
        return self.encoder(patches + self.patch_pos)

    def decode(self, ids: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Next-token logits for every position of ``ids`` given the image ``memory``."""
        length = ids.shape[1]
        h = self.tokens(ids) + self.positions(torch.arange(length, device=ids.device))
        causal = torch.ones(length, length, dtype=torch.bool, device=ids.device).triu(1)
        h = self.decoder(
            h, memory, tgt_mask=causal, tgt_is_causal=True, tgt_key_padding_mask=ids == self.pad_id
        )
        return self.head(h)

    def loss(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        logits = self.decode(ids[:, :-1], self.encode(x))
        targets = ids[:, 1:].masked_fill(ids[:, 1:] >= self.cfg.vocab_size, self.pad_id)
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=self.pad_id
        )


def build_sequences(
    tok: HFTokenizer, model: Captioner, pairs: list[tuple[str, str]], max_len: int
) -> torch.Tensor:
    """[<s>, language tag, caption tokens…, </s>] per pair, padded."""
    rows = [
        [
            tok.bos_id,
            model.language_id(lang),
            *tok.encode(normalize_text(text))[:max_len],
            tok.eos_id,
        ]
        for lang, text in pairs
    ]
    out = torch.full((len(rows), max(len(r) for r in rows)), tok.pad_id, dtype=torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = torch.tensor(row)
    return out


def train(
    cfg: CaptionerConfig, data: ImageSet, progress: Progress | None = None
) -> tuple[Captioner, HFTokenizer]:
    run = loop.start(cfg.seed)
    device, rng, pyrng = run.device, run.rng, run.pyrng
    pairs = [caption_pairs(data, i) for i in range(len(data))]
    tok = train_tokenizer("word", [normalize_text(c) for ps in pairs for _, c in ps])
    cfg.vocab_size = tok.vocab_size
    model = Captioner(cfg, tok.pad_id).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.steps)

    def step(idx: np.ndarray) -> Callable[[], str]:
        x = torch.from_numpy(augment(data.images[idx], rng)).to(device)
        ids = build_sequences(tok, model, [pyrng.choice(pairs[i]) for i in idx], cfg.max_len)
        loss = model.loss(x, ids.to(device))
        loop.descend(opt, loss, sched)
        return lambda: f"loss {loss.item():.3f}"

    loop.run_steps(run, cfg.steps, cfg.batch_size, len(data), step, progress)
    return model.eval(), tok


def save(model: Captioner, tok: HFTokenizer, classes: list[str], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(tensors, out_dir / "captioner.safetensors")
    tok.save(out_dir / "tokenizer")
    meta = {"captioner": asdict(model.cfg), "classes": classes, "kind": "captioner"}
    (out_dir / "config.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1))


class CaptionerModel(TextModelBase):
    """A trained captioner loaded for serving: ``caption`` for ``/api/images/caption``, and a
    chat model that answers about the images of a message (``generate``)."""

    takes_images = True
    needs_images = True

    def __init__(self, model_dir: str | Path) -> None:
        model_dir = Path(model_dir)
        meta = json.loads((model_dir / "config.json").read_text())
        self.cfg = CaptionerConfig(**meta["captioner"])
        self.tokenizer = load_tokenizer(model_dir / "tokenizer")
        self.device = pick_device()
        self.net = Captioner(self.cfg, self.tokenizer.pad_id)
        self.net.load_state_dict(load_file(model_dir / "captioner.safetensors"))
        self.net.to(self.device).eval()
        self.size = self.cfg.size
        self.channels = self.cfg.channels

    @torch.no_grad()
    def caption(self, images: np.ndarray, language: str = "en") -> list[str]:
        """Greedy captions for (N, C, H, W) floats in [0, 1] at the model's size."""
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
        tok = self.tokenizer
        x = torch.from_numpy(np.asarray(images, dtype=np.float32)).to(self.device)
        memory = self.net.encode(x)
        ids = torch.tensor(
            [[tok.bos_id, self.net.language_id(language)]] * len(x), device=self.device
        )
        done = torch.zeros(len(x), dtype=torch.bool, device=self.device)
        for _ in range(self.cfg.max_len):
            next_id = self.net.decode(ids, memory)[:, -1].argmax(-1)
            next_id = next_id.masked_fill(done, tok.pad_id)
            ids = torch.cat([ids, next_id[:, None]], dim=1)
            done |= next_id == tok.eos_id
            if done.all():
                break
        out = []
        for row in ids[:, 2:].tolist():
            kept = [t for t in row if t not in (tok.pad_id, tok.eos_id)]
            if tok.eos_id in row:
                kept = [t for t in row[: row.index(tok.eos_id)] if t != tok.pad_id]
            out.append(tok.decode(kept).strip())
        return out

    # --- chat ---------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return count_tokens(text)

    def generate(self, request: TextRequest) -> Iterator[str]:
        """The caption of each image of the latest user message that has any, in the language
        the conversation's last user message is written in. The question's words are not read
        beyond that: this model captions, it does not answer questions."""
        messages = request.messages or []
        with_images = next((m for m in reversed(messages) if m.images), None)
        if with_images is None:
            raise InvalidRequest(NEEDS_AN_IMAGE, param="messages", code="image_required")
        language = chat_language(messages)
        pixels = np.concatenate(
            [image_array(pil_image(i), self.size, self.channels) for i in with_images.images]
        )
        captions = self.caption(pixels, language)
        if len(captions) == 1:
            yield captions[0]
            return
        label = "图{}：{}" if language == "zh" else "Image {}: {}"
        yield "\n".join(label.format(i, c) for i, c in enumerate(captions, start=1))


NEEDS_AN_IMAGE = "This model answers about images only; send one as an image_url content part"


def chat_language(messages: list[ChatMessage]) -> str:
    """Chinese when the last user message has a CJK character, else English."""
    text = next((m.content for m in reversed(messages) if m.role == "user"), "")
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "en"
