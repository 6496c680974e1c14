"""Edits and variations as plain functions (``models/image/editing.py``, the route's checks of
masks and sizes) on the few-step models of conftest, without HTTP."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from aigc.errors import InvalidRequest
from aigc.gateway.image_forms import FileField, Upload, form_body
from aigc.gateway.image_uploads import alpha_of, edit_alpha, square_image
from aigc.gateway.routes.images import ImageEditForm, output_side
from aigc.models.image import editing
from aigc.models.image.data import ImageSet
from aigc.models.image.gan import GANModel
from aigc.models.image.vae import VAEModel
from aigc.models.torch_threads import TorchThreads

pytestmark = pytest.mark.timeout(900)
MAX_PIXELS = 4096 * 4096


def grey(digits: ImageSet, index: int, side: int = 8) -> Image.Image:
    arr = (digits.images[index, 0] * 255).round().astype(np.uint8)
    return Image.fromarray(arr.repeat(side // 8, axis=0).repeat(side // 8, axis=1))


def upload(img: Image.Image, fmt: str = "PNG", param: str = "image") -> Upload:
    out = io.BytesIO()
    img.save(out, fmt)
    return Upload(param, out.getvalue())


def test_paste_keeps_every_opaque_pixel_and_only_those() -> None:
    image = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16))
    alpha = np.full((16, 16), 255, np.uint8)
    alpha[3:9, 5:12] = 0
    drawn = np.zeros((2, 16, 16, 1), np.uint8)
    out = editing.paste(drawn, image, alpha, 16, 1)
    hole = alpha == 0
    assert (out[:, hole] == 0).all()
    assert (out[:, ~hole, 0] == np.asarray(image)[~hole]).all()
    # At twice the side both are upscaled: the hole grows with them.
    big = editing.paste(np.zeros((1, 32, 32, 1), np.uint8), image, alpha, 32, 1)
    assert (big[0, 6:18, 10:24] == 0).all() and big[0, 0, 0, 0] == 0 and big[0, 0, 2, 0] == 1


def test_best_class_reads_losses_class_major() -> None:
    losses = torch.tensor([5.0, 4.0, 0.5, 9.0, 3.0, 2.0])  # 3 classes × 2 starts
    assert editing.best_class(losses, 3) == 1


@pytest.mark.parametrize("family", ["vae", "gan"])
def test_an_edit_fits_the_kept_pixels(
    digits: ImageSet, vae_dir: Path, gan_dir: Path, family: str
) -> None:
    """The search lowers the error on the kept pixels below that of the starting latents,
    and the named class is the one decoded (the result differs from another class's)."""
    model = VAEModel(vae_dir) if family == "vae" else GANModel(gan_dir)
    image = grey(digits, 11)
    alpha = np.full((8, 8), 255, np.uint8)
    alpha[5:] = 0
    target = editing.native_pixels(model, image)
    keep = editing.native_keep(alpha, 8, model.device)
    starts = torch.randn(3, model.z_dim, generator=torch.Generator().manual_seed(0))
    label = int(digits.labels[11])
    before, start_losses = editing.fit_latents(model, target, keep, [label] * 3, starts, 0)
    after, losses = editing.fit_latents(model, target, keep, [label] * 3, starts)
    assert (losses < start_losses).all(), (losses, start_losses)
    assert not torch.equal(before, after)
    edits = model.edit_images(image, alpha, str(label), 2, 8, seed=3)
    assert edits.shape == (2, 8, 8, 1)
    assert (edits[:, :5, :, 0] == np.asarray(image)[:5]).all()
    again = model.edit_images(image, alpha, str(label), 2, 8, seed=3)
    assert np.array_equal(edits, again)  # seeded: the same edit


def test_vae_variations_sample_the_posterior_near_the_image(
    digits: ImageSet, vae_dir: Path
) -> None:
    model = VAEModel(vae_dir)
    image = grey(digits, 21)
    source = np.asarray(image, dtype=np.float64)
    varied = model.image_variations(image, 4, 16, seed=0)
    assert varied.shape == (4, 16, 16, 1) and len({v.tobytes() for v in varied}) == 4
    near = np.abs(varied[:, ::2, ::2, 0] - source).mean()
    # Prior samples of the same model, every class: further away on average.
    label = int(digits.labels[21])
    labels = [c for c in range(10) if c != label]
    prior = model.decode(model.latent(labels, seed=0))[:, :, :, 0]
    assert near < np.abs(prior - source).mean()


def test_gan_variations_search_then_perturb(digits: ImageSet, gan_dir: Path) -> None:
    model = GANModel(gan_dir)
    varied = model.image_variations(grey(digits, 5), 3, 8, seed=1)
    assert varied.shape == (3, 8, 8, 1) and len({v.tobytes() for v in varied}) == 3
    assert np.array_equal(varied, model.image_variations(grey(digits, 5), 3, 8, seed=1))


def test_masks_are_read_as_openai_reads_them(digits: ImageSet) -> None:
    image = grey(digits, 1, side=16)
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[:8, :, 3] = 255
    alpha = edit_alpha(image, upload(Image.fromarray(rgba), param="mask"), MAX_PIXELS)
    assert (alpha[8:] == 0).all() and (alpha[:8] == 255).all()
    # A palette PNG with a transparent colour is a mask too.
    palette = Image.fromarray(rgba[:, :, 3]).convert("P")
    palette.info["transparency"] = 0
    assert (edit_alpha(image, upload(palette, param="mask"), MAX_PIXELS)[8:] == 0).all()
    refused = [
        (image, upload(Image.fromarray(rgba[:8, :8]), param="mask")),  # another size
        (image, upload(Image.fromarray(rgba).convert("RGB"), "JPEG", "mask")),  # no PNG
        (image, upload(Image.fromarray(rgba[:, :, 3]), param="mask")),  # no alpha channel
        (image, None),  # an opaque image, no mask
    ]
    for img, mask in refused:
        with pytest.raises(InvalidRequest) as caught:
            edit_alpha(img, mask, MAX_PIXELS)
        assert caught.value.param == "mask"
    own = Image.fromarray(np.dstack([np.asarray(image)] * 3 + [rgba[:, :, 3]]))
    assert (alpha_of(own) == rgba[:, :, 3]).all()
    with pytest.raises(InvalidRequest) as caught:
        square_image(upload(Image.new("L", (16, 8))), MAX_PIXELS)
    assert caught.value.param == "image"


def test_the_output_side_follows_the_image_when_the_model_offers_it(digits: ImageSet) -> None:
    sizes = [8, 16, 24]
    assert output_side(None, grey(digits, 1, 16), sizes) == 16
    assert output_side("auto", Image.new("L", (20, 20)), sizes) == 8
    assert output_side("24x24", grey(digits, 1, 16), sizes) == 24
    with pytest.raises(InvalidRequest):
        output_side("20x20", grey(digits, 1, 16), sizes)


def test_the_form_body_documents_files_and_fields() -> None:
    body = form_body(ImageEditForm, [FileField("image", "x", many=16)], ["image"])
    schema = body["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["properties"]["image"]["items"] == {"type": "string", "format": "binary"}
    assert schema["required"] == ["image", "model", "prompt"]
    assert schema["additionalProperties"] is False and "n" in schema["properties"]
    assert schema["properties"]["output_compression"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 100,
        "title": "Output Compression",
        "description": "jpeg and webp: quality (default 100)",
    }  # no null: a form part is text, and text has no null


def test_a_forms_numbers_are_read_from_their_text() -> None:
    """The form's parts are text: "0" must be the number 0 (it was refused as no integer)."""
    form = ImageEditForm.model_validate(
        {"model": "m", "prompt": "p", "output_compression": "0", "n": "2", "stream": "false"}
    )
    assert (form.output_compression, form.n, form.stream) == (0, 2, False)


@pytest.mark.parametrize("family", ["vae", "gan"])
def test_the_latent_search_runs_on_one_cpu_thread(
    digits: ImageSet, vae_dir: Path, gan_dir: Path, family: str
) -> None:
    """The search's many tiny steps run on one torch thread whatever the calling thread has
    (a team of threads spun and waited: 5-8 s an edit on a busy 2-core machine instead of
    0.4-0.7 s), with the same bytes; the caller gets its own number back after, and threads
    started later the process default."""
    model = VAEModel(vae_dir) if family == "vae" else GANModel(gan_dir)
    image = grey(digits, 11, side=16)
    alpha = np.full((16, 16), 255, np.uint8)
    alpha[8:] = 0
    default = torch.get_num_threads()
    seen: list[int] = []
    hook = model.net.fc.register_forward_pre_hook(
        lambda *_: seen.append(torch.get_num_threads()) if torch.is_grad_enabled() else None
    )
    out: dict[str, Any] = {}

    def caller(threads: int) -> None:
        TorchThreads().limit_this_thread(threads)
        out[f"edit {threads}"] = model.edit_images(image, alpha, "", 2, 16, seed=4)
        out[f"after {threads}"] = torch.get_num_threads()
        if family == "gan":
            out[f"variations {threads}"] = model.image_variations(image, 2, 16, seed=4)

    try:
        for threads in (1, 3):
            thread = threading.Thread(target=caller, args=(threads,))
            thread.start()
            thread.join()
    finally:
        hook.remove()
    assert seen and set(seen) == {1}, sorted(set(seen))
    assert out["after 1"] == 1 and out["after 3"] == 3
    assert np.array_equal(out["edit 1"], out["edit 3"])
    if family == "gan":
        assert np.array_equal(out["variations 1"], out["variations 3"])
    fresh: list[int] = []
    later = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
    later.start()
    later.join()
    assert fresh == [default] and torch.get_num_threads() == default
