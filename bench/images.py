"""Image and multimodal quality by numbers, with one fixed classifier.

    .venv/bin/python bench/images.py            # digits 8×8 (+ MNIST 28×28 when present)
    .venv/bin/python bench/images.py --quick    # fewer steps, digits only: a smoke run
    .venv/bin/python bench/images.py --no-mnist

The classifier: sklearn MLPClassifier(hidden_layer_sizes=(64,), random_state=0, max_iter=500)
fit on the even-indexed images (pixels in [0, 1]); features are its hidden ReLU activations.
Generated samples (100 per class, balanced) are compared with the odd-indexed (held-out) real
images. Targets (issue 7): Fréchet distance ≤ 10× real-vs-real, classifier score ≥ 90% of the
real score, class accuracy ≥ 90%; CLIP zero-shot ≥ 85% (EN and ZH, unseen templates);
captions ≥ 90%; text-to-image ≥ 80% for "a handwritten 3" and "手写数字三".
Prints a table and writes bench/results/images.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from aigc.models.image import gan, vae  # noqa: E402
from aigc.models.image.data import (  # noqa: E402
    DIGIT_NAMES_EN,
    DIGIT_NAMES_ZH,
    ImageSet,
    load_digits,
    load_mnist,
)
from aigc.models.image.quality import FixedClassifier, evaluate  # noqa: E402
from aigc.models.image.sampling import label_from_prompt  # noqa: E402
from aigc.models.multimodal import captioner, clip, text2image  # noqa: E402

MNIST_DIR = ROOT.parent / "shared" / "data" / "images"
EN_TEMPLATES = ["a photo of a {}", "an image showing {}", "this is {}"]  # unseen in training
ZH_TEMPLATES = ["一张{}的照片", "图中是{}"]
PER_CLASS = 100


def samples_of(
    net: Any, z_dim: int, classes: int, device: torch.device
) -> tuple[np.ndarray, np.ndarray]:
    y = torch.arange(classes, device=device).repeat_interleave(PER_CLASS)
    gen = torch.Generator().manual_seed(123)
    with torch.no_grad():
        z = torch.randn(len(y), z_dim, generator=gen).to(device)
        x = net.decode(torch.cat([z, net.embed(y)], dim=1)).cpu().numpy()
    return x, y.cpu().numpy()


def quality_rows(name: str, data: ImageSet, steps: dict[str, int]) -> tuple[list[dict], dict]:
    train, held = data.even(), data.odd()
    clf = FixedClassifier(train)
    real = evaluate(clf, train.images, held.images, held.labels)
    noise = np.random.default_rng(0).random(held.images.shape).astype(np.float32)
    rand = evaluate(clf, train.images, noise)
    targets = {"frechet_max": 10 * real.frechet, "score_min": 0.9 * real.score, "accuracy_min": 0.9}
    rows = [
        {"data": name, "model": "real (odd vs even)", **real.as_dict(), "train_s": None},
        {"data": name, "model": "uniform noise", **rand.as_dict(), "train_s": None},
    ]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    for family in ("gan", "vae"):
        started = time.perf_counter()
        if family == "gan":
            cfg = gan.GANConfig(size=data.size, steps=steps["gan"], width=64)
            net = gan.train(cfg, train)
        else:
            cfg = vae.VAEConfig(size=data.size, steps=steps["vae"], width=32)
            net = vae.train(cfg, train)
        seconds = time.perf_counter() - started
        x, y = samples_of(net, cfg.z_dim, 10, device)
        q = evaluate(clf, held.images, x, y)
        ok = (
            q.frechet <= targets["frechet_max"]
            and q.score >= targets["score_min"]
            and (q.class_accuracy or 0) >= targets["accuracy_min"]
        )
        rows.append(
            {
                "data": name,
                "model": f"{family} ({cfg.steps} steps)",
                **q.as_dict(),
                "train_s": round(seconds, 1),
                "meets_targets": ok,
            }
        )
    return rows, targets


def multimodal_rows(data: ImageSet, steps: dict[str, int]) -> dict[str, Any]:
    train, held = data.even(), data.odd()
    clf = FixedClassifier(train)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        net, tok = clip.train(clip.CLIPConfig(steps=steps["clip"]), train)
        out["clip_train_s"] = round(time.perf_counter() - started, 1)
        clip.save(net, tok, train.classes, Path(tmp) / "clip")
        model = clip.CLIPModel(Path(tmp) / "clip")
        numerals = [str(i) for i in range(10)]
        for key, names, templates in (
            ("zero_shot_en_words", DIGIT_NAMES_EN, EN_TEMPLATES),
            ("zero_shot_en_numerals", numerals, EN_TEMPLATES),
            ("zero_shot_zh", DIGIT_NAMES_ZH, ZH_TEMPLATES),
        ):
            probs = model.zero_shot(held.images, names, templates)
            out[key] = round(float((probs.argmax(1) == held.labels).mean()), 4)
        queries = [
            (t.format(n), i)
            for t in EN_TEMPLATES + ZH_TEMPLATES
            for i, n in enumerate(DIGIT_NAMES_EN if t.isascii() else DIGIT_NAMES_ZH)
        ]
        top = model.retrieve([q for q, _ in queries], held.images, k=1)[:, 0]
        out["text_to_image_recall_at_1"] = round(
            float(np.mean([held.labels[j] == i for j, (_, i) in zip(top, queries, strict=True)])), 4
        )
        out["text_to_image_queries"] = len(queries)

        started = time.perf_counter()
        cap, cap_tok = captioner.train(captioner.CaptionerConfig(steps=steps["captioner"]), train)
        out["captioner_train_s"] = round(time.perf_counter() - started, 1)
        captioner.save(cap, cap_tok, train.classes, Path(tmp) / "cap")
        cap_model = captioner.CaptionerModel(Path(tmp) / "cap")
        for language in ("en", "zh"):
            captions = cap_model.caption(held.images, language)
            named = np.array([label_from_prompt(c, train.classes) for c in captions])
            out[f"caption_accuracy_{language}"] = round(float((named == held.labels).mean()), 4)
            out[f"caption_example_{language}"] = captions[0]

        started = time.perf_counter()
        t2i_cfg = text2image.Text2ImageConfig(steps=steps["text2image"])
        t2i = text2image.train(t2i_cfg, train, model)
        out["text2image_train_s"] = round(time.perf_counter() - started, 1)
        text2image.save(t2i, t2i_cfg, Path(tmp) / "clip", Path(tmp) / "t2i")
        t2i_model = text2image.Text2ImageModel(Path(tmp) / "t2i")
        for prompt in ("a handwritten 3", "手写数字三"):
            x = t2i_model.sample(prompt, 200, seed=0).cpu().numpy()
            out[f"text2image_as_3[{prompt}]"] = round(float((clf.predict(x) == 3).mean()), 4)
    return out


def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def print_table(rows: list[dict]) -> None:
    print(f"{'data':<14}{'model':<22}{'FD':>9}{'score':>8}{'class acc':>11}{'train s':>9}  ok")
    for r in rows:
        acc = "" if r["class_accuracy"] is None else f"{r['class_accuracy']:.3f}"
        secs = "" if r["train_s"] is None else f"{r['train_s']:.1f}"
        ok = {True: "yes", False: "NO"}.get(r.get("meets_targets"), "")
        print(
            f"{r['data']:<14}{r['model']:<22}{r['frechet_distance']:>9.3f}"
            f"{r['classifier_score']:>8.3f}{acc:>11}{secs:>9}  {ok}"
        )


def write(result: dict[str, Any]) -> Path:
    out = ROOT / "bench" / "results" / "images.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, digits only")
    parser.add_argument("--no-mnist", action="store_true")
    parser.add_argument("--threads", type=int, default=min(4, os.cpu_count() or 1))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    scale = 0.25 if args.quick else 1.0
    steps = {
        k: int(v * scale)
        for k, v in {
            "gan": 2000,
            "vae": 2000,
            "clip": 800,
            "captioner": 1000,
            "text2image": 1500,
        }.items()
    }
    started = time.perf_counter()
    rows, targets = quality_rows("digits 8x8", load_digits(), steps)
    result: dict[str, Any] = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "steps": steps,
        "targets_digits": targets,
    }
    mm = multimodal_rows(load_digits(), steps)
    result |= {"quality": rows, "multimodal": mm}
    write(result)  # digits done: keep them even if the MNIST part is interrupted
    if not args.quick and not args.no_mnist and MNIST_DIR.is_dir():
        mnist_rows, mnist_targets = quality_rows(
            "mnist 28x28", load_mnist(MNIST_DIR), {"gan": 3000, "vae": 3000}
        )
        rows += mnist_rows
        result["targets_mnist"] = mnist_targets
    elif not MNIST_DIR.is_dir():
        print(f"(MNIST skipped: {MNIST_DIR} not present)")
    result |= {
        "quality": rows,
        "multimodal": mm,
        "total_s": round(time.perf_counter() - started, 1),
    }
    print_table(rows)
    print()
    for key, value in mm.items():
        print(f"{key:<40}{value}")
    print(
        f"\ntargets (digits): FD ≤ {targets['frechet_max']:.3f}, score ≥ "
        f"{targets['score_min']:.3f}, class accuracy ≥ 0.9; zero-shot ≥ 0.85; captions ≥ 0.9; "
        "text-to-image ≥ 0.8"
    )
    out = write(result)
    print(f"wrote {out.relative_to(ROOT)} in {result['total_s']} s")


if __name__ == "__main__":
    main()
