"""Console: generate images, check where each came from, and walk between two latents.

Generation goes to ``/v1/images/generations`` (``b64_json``: the console needs the signed
bytes anyway, to verify and to offer the download), every image is checked through
``/api/provenance/verify``, and the interpolation panel calls ``/api/images/interpolate`` once
and lets a slider pick the step. A guard refusal of the prompt is shown as the policy's message.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import ui

from aigc.console import layout
from aigc.console.api import ApiError
from aigc.console.api_errors import explain_error
from aigc.console.i18n import add
from aigc.console.session import ConsoleUser, gate

SIZES = ("native", "32x32", "64x64", "128x128")
GALLERY_LIMIT = 24  # newest kept; bounds what one page view holds in memory
REFUSED = "content_policy_violation"
CSS = """
.aigc-pixel img { image-rendering: pixelated; }
"""


@dataclass
class Picture:
    """One generated image as the page keeps it: the signed PNG and what verifying it said."""

    number: int
    png: bytes
    model: str
    prompt: str
    seed: int | None
    verdict: dict[str, Any]

    @property
    def data_url(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode()

    @property
    def b64(self) -> str:
        return base64.b64encode(self.png).decode()

    @property
    def filename(self) -> str:
        return f"{self.model}-{self.number}.png"


def image_models(models: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The ready models that draw images: those whose listing says ``image_generation`` (GAN,
    VAE, text-to-image; a captioner is multimodal too but does not draw)."""
    return {
        m["id"]: m
        for m in models
        if m.get("status") == "ready" and "image_generation" in m.get("capabilities", [])
    }


def shown_time(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return iso


@ui.page("/images")
async def images_page(request: Request) -> RedirectResponse | None:
    user = await gate(request)
    if isinstance(user, RedirectResponse):
        return user
    ui.add_css(CSS)
    with layout.frame(user, "/images", "nav.images"):
        try:
            models = image_models((await user.api.get("/v1/models"))["data"])
        except ApiError as exc:
            layout.show_error(user, exc)
            models = {}
        ImagesPage(user, models).build()
    return None


class ImagesPage:
    """The form, the gallery and the interpolation panel of one page view."""

    def __init__(self, user: ConsoleUser, models: dict[str, dict[str, Any]]) -> None:
        self.user = user
        self.models = models
        self.gallery: list[Picture] = []
        self.counter = 0

    def build(self) -> None:
        tr = self.user.tr
        if not self.models:
            # Training an image model is a command on the server: only its operator can.
            operator = self.user.principal.platform_admin
            ui.label(tr("img.no_models.operator" if operator else "img.no_models")).props(
                'data-testid="img-no-models"'
            )
            return
        if not self.user.at_least("member"):
            ui.label(tr("img.viewer")).props('data-testid="img-viewer"')
            return
        self._form()
        self.refusal = (
            ui.label("")
            .classes("text-negative bg-red-1 rounded p-2 w-full")
            .props('role="alert" data-testid="img-refused"')
        )
        self.refusal.set_visibility(False)
        ui.label(tr("img.gallery")).classes("text-lg font-medium")
        self.gallery_area = ui.row().classes("w-full gap-4").props('data-testid="gallery"')
        with self.gallery_area:
            ui.label(tr("img.gallery.empty")).classes("text-grey-7")
        self.interpolation = Interpolation(self)
        self.interpolation.build()
        self._model_changed()

    def _form(self) -> None:
        tr = self.user.tr
        with ui.card().classes("w-full"), ui.row().classes("w-full items-end gap-3"):
            self.model = (
                ui.select(list(self.models), value=next(iter(self.models)), label=tr("img.model"))
                .props('outlined data-testid="img-model"')
                .classes("w-64")
                .on_value_change(self._model_changed)
            )
            self.prompt = (
                ui.input(tr("img.prompt"), placeholder=tr("img.prompt.placeholder"))
                .props('outlined data-testid="img-prompt"')
                .classes("grow")
                .on("keydown.enter", self.generate)
            )
            self.count = (
                ui.number(tr("img.n"), value=2, min=1, max=10, step=1, precision=0)
                .props('outlined data-testid="img-n"')
                .classes("w-24")
            )
            self.seed = (
                ui.number(tr("img.seed"), value=None, min=0, step=1, precision=0)
                .props(f'outlined clearable data-testid="img-seed" hint="{tr("img.seed.hint")}"')
                .classes("w-32")
            )
            self.size = (
                ui.select(
                    {s: tr("img.size.native") if s == "native" else s for s in SIZES},
                    value="native",
                    label=tr("img.size"),
                )
                .props('outlined data-testid="img-size"')
                .classes("w-36")
            )
            self.button = ui.button(tr("img.generate"), icon="brush", on_click=self.generate)
            self.button.props('color=primary data-testid="img-generate"')

    def _model_changed(self) -> None:
        able = self.models.get(self.model.value, {}).get("capabilities", [])
        # A latent space to walk (GAN, VAE); a VAE can also encode a gallery image into it.
        self.interpolation.show("image_interpolation" in able, "image_encoding" in able)

    async def generate(self) -> None:
        tr = self.user.tr
        prompt = (self.prompt.value or "").strip()
        if not prompt:
            ui.notify(tr("img.prompt.missing"), type="warning")
            return
        body: dict[str, Any] = {
            "model": self.model.value,
            "prompt": prompt,
            "n": int(self.count.value or 1),
            "response_format": "b64_json",
        }
        if self.seed.value is not None:
            body["seed"] = int(self.seed.value)
        if self.size.value != "native":
            body["size"] = self.size.value
        self.refusal.set_visibility(False)
        self.button.props("loading")
        try:
            answer = await self.user.api.post("/v1/images/generations", body)
            made = [base64.b64decode(item["b64_json"]) for item in answer["data"]]
            pictures = [await self._picture(png, prompt, body.get("seed")) for png in made]
        except ApiError as exc:
            self._failed(exc)
            return
        finally:
            self.button.props(remove="loading")
        self.gallery = (pictures + self.gallery)[:GALLERY_LIMIT]
        self._render_gallery()
        self.interpolation.gallery_changed()

    def _failed(self, exc: ApiError) -> None:
        """A refusal by the guard is the policy speaking, not a fault: say so in place."""
        if exc.code == REFUSED:
            self.refusal.set_text(explain_error(self.user.tr, exc))
            self.refusal.set_visibility(True)
        else:
            layout.show_error(self.user, exc)

    async def _picture(self, png: bytes, prompt: str, seed: int | None) -> Picture:
        self.counter += 1
        b64 = base64.b64encode(png).decode()
        verdict = await self.user.api.post("/api/provenance/verify", {"image": b64})
        return Picture(self.counter, png, self.model.value, prompt, seed, verdict)

    def _render_gallery(self) -> None:
        tr = self.user.tr
        self.gallery_area.clear()
        with self.gallery_area:
            for picture in self.gallery:
                with ui.card().classes("w-60 items-center").props('data-testid="gallery-item"'):
                    ui.image(picture.data_url).classes("w-48 h-48 aigc-pixel").props(
                        f'alt="{tr("img.alt", n=picture.number)}" data-testid="gallery-image" '
                        "fit=contain no-transition no-spinner"
                    )
                    ui.label(f"#{picture.number} · {picture.prompt}").classes(
                        "text-sm text-grey-8 ellipsis w-full"
                    )
                    _badge(self.user, picture.verdict)
                    ui.button(
                        tr("img.download"),
                        icon="download",
                        on_click=lambda p=picture: ui.download.content(
                            p.png, p.filename, "image/png"
                        ),
                    ).props('flat dense data-testid="img-download"')


def _badge(user: ConsoleUser, verdict: dict[str, Any]) -> None:
    """'Signed by this server · model · time', or 'not verified' with the verifier's reason."""
    tr = user.tr
    manifest = verdict.get("manifest") or {}
    if verdict.get("valid"):
        text = tr(
            "img.signed", model=manifest.get("model", "?"), time=shown_time(manifest.get("created"))
        )
        icon, style = "verified", "bg-green-1 text-green-10"
    else:
        text = tr("img.unverified", reason=verdict.get("reason") or "?")
        icon, style = "gpp_maybe", "bg-grey-3 text-grey-9"
    with ui.row().classes(f"items-center gap-1 rounded px-2 py-1 w-full no-wrap {style}") as badge:
        ui.icon(icon, size="xs")
        ui.label(text).classes("text-xs")
    badge._props["data-testid"] = "provenance"
    badge._props["data-valid"] = "true" if verdict.get("valid") else "false"


class Interpolation:
    """Two latent points (a class, an optional seed, or a gallery image for a VAE), the
    images on the straight line between them, and a slider that picks one."""

    def __init__(self, page: ImagesPage) -> None:
        self.page = page
        self.user = page.user
        self.frames: list[str] = []

    def build(self) -> None:
        tr = self.user.tr
        self.card = ui.card().classes("w-full").props('data-testid="interp"')
        with self.card:
            ui.label(tr("img.interp")).classes("text-lg font-medium")
            ui.label(tr("img.interp.hint")).classes("text-sm text-grey-8")
            self.ends = [
                self._end("start", tr("img.interp.start")),
                self._end("end", tr("img.interp.end")),
            ]
            with ui.row().classes("items-end gap-3"):
                self.steps = (
                    ui.number(tr("img.interp.steps"), value=8, min=2, max=32, step=1, precision=0)
                    .props('outlined data-testid="interp-steps"')
                    .classes("w-28")
                )
                self.run = ui.button(
                    tr("img.interp.run"), icon="linear_scale", on_click=self.interpolate
                )
                self.run.props('outline data-testid="interp-run"')
            with ui.row().classes("w-full items-center gap-4"):
                self.frame = (
                    ui.image("")
                    .classes("w-48 h-48 aigc-pixel")
                    .props(f'alt="{tr("img.interp.frame")}" data-testid="interp-frame"')
                    .props("fit=contain no-transition no-spinner")
                )
                with ui.column().classes("grow"):
                    self.slider = (
                        ui.slider(min=0, max=1, step=1, value=0, on_change=self._pick)
                        .props(f'markers aria-label="{tr("img.interp.slider")}"')
                        .props('data-testid="interp-slider"')
                        .classes("w-full")
                    )
                    self.position = ui.label("").props(
                        'data-testid="interp-step" aria-live="polite"'
                    )
        self.frame.set_visibility(False)
        self.slider.disable()

    def _end(self, key: str, title: str) -> dict[str, Any]:
        tr = self.user.tr
        with ui.row().classes("items-end gap-3"):
            ui.label(title).classes("w-16 font-medium")
            label = (
                ui.input(tr("img.interp.label"), placeholder=tr("img.interp.label.placeholder"))
                .props(f'outlined data-testid="interp-{key}-label"')
                .classes("w-40")
            )
            seed = (
                ui.number(tr("img.seed"), value=None, min=0, step=1, precision=0)
                .props(f'outlined clearable data-testid="interp-{key}-seed"')
                .classes("w-32")
            )
            image = (
                ui.select({0: tr("img.interp.no_image")}, value=0, label=tr("img.interp.image"))
                .props(f'outlined data-testid="interp-{key}-image"')
                .classes("w-48")
            )
        return {"label": label, "seed": seed, "image": image}

    def show(self, latent: bool, encodes: bool) -> None:
        self.card.set_visibility(latent)
        for end in self.ends:
            end["image"].set_visibility(encodes)
            if not encodes:
                end["image"].value = 0

    def gallery_changed(self) -> None:
        tr = self.user.tr
        options: dict[int, str] = {0: tr("img.interp.no_image")}
        options |= {p.number: tr("img.alt", n=p.number) for p in self.page.gallery}
        for end in self.ends:
            keep = end["image"].value if end["image"].value in options else 0
            end["image"].set_options(options, value=keep)

    def _point(self, end: dict[str, Any]) -> dict[str, Any]:
        point: dict[str, Any] = {"label": (end["label"].value or "").strip()}
        if end["seed"].value is not None:
            point["seed"] = int(end["seed"].value)
        picked = next((p for p in self.page.gallery if p.number == end["image"].value), None)
        if picked is not None:
            point["image"] = picked.b64
        return point

    async def interpolate(self) -> None:
        tr = self.user.tr
        start, end = (self._point(e) for e in self.ends)
        if not start["label"] or not end["label"]:
            ui.notify(tr("img.interp.need_labels"), type="warning")
            return
        body = {
            "model": self.page.model.value,
            "start": start,
            "end": end,
            "steps": int(self.steps.value or 8),
        }
        if self.page.size.value != "native":
            body["size"] = self.page.size.value
        self.run.props("loading")
        try:
            answer = await self.user.api.post("/api/images/interpolate", body)
        except ApiError as exc:
            self.page._failed(exc)
            return
        finally:
            self.run.props(remove="loading")
        self.frames = ["data:image/png;base64," + item["b64_json"] for item in answer["data"]]
        self.slider.props(f"max={len(self.frames) - 1}")
        self.slider.enable()
        self.slider.set_value(0)
        self.frame.set_visibility(True)
        self._show(0)

    def _pick(self) -> None:
        if self.frames:
            self._show(int(self.slider.value or 0))

    def _show(self, index: int) -> None:
        index = max(0, min(index, len(self.frames) - 1))
        self.frame.set_source(self.frames[index])
        self.position.set_text(self.user.tr("img.interp.position", k=index + 1, n=len(self.frames)))


add(
    {
        "en": {
            "img.no_models": "No image model is ready for your organization yet. Ask an "
            "administrator to add one.",
            "img.no_models.operator": "No image model is ready for your organization yet. "
            "Train one on the server (for example `aigc train vae --data digits --name "
            "vae-digits`).",
            "img.viewer": "Viewers can look but not generate images: ask an administrator for "
            "the member role.",
            "img.model": "Model",
            "img.prompt": "Prompt",
            "img.prompt.placeholder": "e.g. a handwritten seven",
            "img.prompt.missing": "Write a prompt first.",
            "img.n": "Images",
            "img.seed": "Seed",
            "img.seed.hint": "empty: random",
            "img.size": "Size",
            "img.size.native": "model's own",
            "img.generate": "Generate",
            "img.gallery": "Gallery",
            "img.gallery.empty": "Generated images appear here.",
            "img.alt": "Generated image {n}",
            "img.download": "Download",
            "img.signed": "Signed by this server · {model} · {time}",
            "img.unverified": "Not verified ({reason})",
            "img.interp": "Interpolate",
            "img.interp.hint": "Walk in a straight line between two points of the model's "
            "latent space: a class with an optional seed (no seed: the class's centre), or — "
            "for a VAE — a gallery image.",
            "img.interp.start": "From",
            "img.interp.end": "To",
            "img.interp.label": "Class",
            "img.interp.label.placeholder": "e.g. 3",
            "img.interp.image": "Or gallery image",
            "img.interp.no_image": "none",
            "img.interp.steps": "Steps",
            "img.interp.run": "Interpolate",
            "img.interp.frame": "Interpolated image",
            "img.interp.slider": "Interpolation step",
            "img.interp.position": "Step {k} of {n}",
            "img.interp.need_labels": "Name a class for both ends.",
        },
        "zh-CN": {
            "img.no_models": "您的组织还没有可用的图像模型，请联系管理员添加。",
            "img.no_models.operator": "您的组织还没有可用的图像模型。请在服务器上训练一个"
            "（例如 `aigc train vae --data digits --name vae-digits`）。",
            "img.viewer": "访客只能查看，不能生成图像：请向管理员申请成员角色。",
            "img.model": "模型",
            "img.prompt": "提示词",
            "img.prompt.placeholder": "例如：手写的数字七",
            "img.prompt.missing": "请先填写提示词。",
            "img.n": "数量",
            "img.seed": "随机种子",
            "img.seed.hint": "留空：随机",
            "img.size": "尺寸",
            "img.size.native": "模型原始尺寸",
            "img.generate": "生成",
            "img.gallery": "图库",
            "img.gallery.empty": "生成的图像会显示在这里。",
            "img.alt": "生成的图像 {n}",
            "img.download": "下载",
            "img.signed": "本服务器签名 · {model} · {time}",
            "img.unverified": "未通过验证（{reason}）",
            "img.interp": "插值",
            "img.interp.hint": "在模型潜空间的两点之间沿直线过渡：一个类别加可选的随机种子"
            "（不填种子即该类别的中心），或（VAE 模型）图库中的一张图像。",
            "img.interp.start": "起点",
            "img.interp.end": "终点",
            "img.interp.label": "类别",
            "img.interp.label.placeholder": "例如 3",
            "img.interp.image": "或图库图像",
            "img.interp.no_image": "无",
            "img.interp.steps": "步数",
            "img.interp.run": "插值",
            "img.interp.frame": "插值图像",
            "img.interp.slider": "插值步",
            "img.interp.position": "第 {k} / {n} 步",
            "img.interp.need_labels": "请为起点和终点都填写类别。",
        },
    }
)
