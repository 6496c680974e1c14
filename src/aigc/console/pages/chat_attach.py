"""Console: the Chat page's attach button and the images waiting for the next message.

The button is a file uploader drawn as one button (Quasar's own add trigger opens the picker,
as in ``console/uploads.py``); chosen files come to this process, are checked
(``chat_images.read_attachment``) and wait as previews with a remove button each until the
message is sent. A file's name is the person's own text: it is only ever set as text or as an
attribute value (``attrs``), never written into markup or NiceGUI's props parser.
"""

from __future__ import annotations

import asyncio
import html

from nicegui import events, ui

from aigc.console.attrs import attrs
from aigc.console.i18n import add
from aigc.console.pages.chat_images import (
    ACCEPT,
    Attachment,
    AttachmentRefused,
    ImageLimits,
    Preview,
    megabytes,
    read_attachment,
)
from aigc.console.session import ConsoleUser
from aigc.console.upload_guard import cap

add(
    {
        "en": {
            "chat.attach": "Attach images",
            "chat.attach.remove": "Remove {name}",
            "chat.attach.type": "{name} is not a PNG, JPEG, WebP or GIF image.",
            "chat.attach.too_large": "{name} is too large: the images of one message may "
            "have {limit} together.",
            "chat.attach.pixels": "{name} has too many pixels; make it smaller and attach it "
            "again.",
            "chat.attach.animated": "{name} is animated; attach a still image.",
            "chat.attach.damaged": "{name} is damaged and cannot be read.",
            "chat.attach.count": "At most {n} images can go with one message.",
            "chat.attach.rejected": "Only PNG, JPEG, WebP or GIF images up to {limit} can be "
            "attached.",
            "chat.attach.no_vision": "The model {model} does not read images. Choose a model "
            "that does, or remove the images.",
            "chat.attach.sent_image": "Image {name}",
        },
        "zh-CN": {
            "chat.attach": "添加图片",
            "chat.attach.remove": "移除 {name}",
            "chat.attach.type": "{name} 不是 PNG、JPEG、WebP 或 GIF 图片。",
            "chat.attach.too_large": "{name} 太大：一条消息的图片合计不能超过 {limit}。",
            "chat.attach.pixels": "{name} 的像素太多，请缩小后重新添加。",
            "chat.attach.animated": "{name} 是动图，请添加静态图片。",
            "chat.attach.damaged": "{name} 已损坏，无法读取。",
            "chat.attach.count": "一条消息最多可以带 {n} 张图片。",
            "chat.attach.rejected": "只能添加不超过 {limit} 的 PNG、JPEG、WebP 或 GIF 图片。",
            "chat.attach.no_vision": "模型 {model} 无法读取图片。请选择能读取图片的模型，"
            "或移除这些图片。",
            "chat.attach.sent_image": "图片 {name}",
        },
    }
)

STYLE = """
.aigc-attach.q-uploader { width: auto; max-height: none; min-height: 0; box-shadow: none;
  background: transparent; }
.aigc-attach .q-uploader__header { background: transparent; color: inherit; }
.aigc-attach .q-uploader__list { display: none; }
.aigc-thumb { width: 64px; height: 64px; object-fit: cover; border-radius: 4px; }
"""

_BUTTON = """
<q-btn icon="attach_file" flat round dense aria-label="{label}" title="{label}"
       data-testid="chat-attach-pick">
  <q-uploader-add-trigger></q-uploader-add-trigger>
</q-btn>
"""


def image_tag(preview: Preview | Attachment, label: str, testid: str) -> ui.element:
    """An ``<img>`` of a preview; its source and the name in its text alternative are set as
    attribute values, never parsed."""
    img = ui.element("img").classes("aigc-thumb border")
    return attrs(img, {"src": preview.thumb, "alt": label, "title": label, "data-testid": testid})


class AttachTray:
    """The images chosen for the next message: the attach button, their previews, and what
    was refused (in the person's language)."""

    def __init__(self, user: ConsoleUser, limits: ImageLimits) -> None:
        self.user = user
        self.tr = user.tr
        self.limits = limits
        self.pending: list[Attachment] = []
        ui.add_css(STYLE)
        with ui.column().classes("w-full gap-1") as self.box:
            self.previews = (
                ui.row().classes("items-center gap-2").props('data-testid="chat-attachments"')
            )
            self.alert = (
                ui.label("")
                .classes("text-orange-10 text-sm")
                .props('role="alert" data-testid="chat-attach-alert"')
            )
        self._redraw()
        self.say("")

    def button(self) -> ui.upload:
        """The attach button (call where it goes: beside the message box)."""
        upload = ui.upload(
            multiple=True,
            auto_upload=True,
            max_file_size=self.limits.bytes,
            on_multi_upload=self._uploaded,
            on_rejected=self._rejected,
        )
        upload.props(f'accept="{ACCEPT}" flat data-testid="chat-attach"').classes("aigc-attach")
        upload.add_slot("header", _BUTTON.format(label=html.escape(self.tr("chat.attach"))))
        cap(upload, self.limits.bytes)  # a request past the browser: refused unread
        self.upload = upload
        return upload

    def say(self, text: str) -> None:
        """A refusal under the previews, until the next change."""
        self.alert.set_text(text)
        self.alert.set_visibility(bool(text))

    def clear(self) -> None:
        self.pending = []
        self._redraw()

    async def _uploaded(self, event: events.MultiUploadEventArguments) -> None:
        tr, said = self.tr, []
        for file in event.files:
            if len(self.pending) >= self.limits.per_message:
                said.append(tr("chat.attach.count", n=self.limits.per_message))
                break
            if file.size() > self.limits.bytes:  # refused unread
                limit = megabytes(self.limits.bytes)
                said.append(tr("chat.attach.too_large", name=file.name, limit=limit))
                continue
            data = await file.read()
            # A browser sends a quote in a file's name as %22 (HTML's form encoding): undone,
            # so the person sees the name they gave it.
            name = file.name.replace("%22", '"')
            try:
                attachment = await asyncio.to_thread(read_attachment, name, data, self.limits)
            except AttachmentRefused as exc:
                said.append(tr(exc.key, **exc.values))
                continue
            together = sum(len(a.image.data) for a in self.pending) + len(data)
            if together > self.limits.bytes:
                limit = megabytes(self.limits.bytes)
                said.append(tr("chat.attach.too_large", name=attachment.name, limit=limit))
                continue
            self.pending.append(attachment)
        self.upload.reset()  # the same file can be chosen again
        self._redraw()
        self.say(" ".join(said))

    def _rejected(self) -> None:
        self.say(self.tr("chat.attach.rejected", limit=megabytes(self.limits.bytes)))

    def _remove(self, attachment: Attachment) -> None:
        self.pending = [a for a in self.pending if a is not attachment]
        self._redraw()
        self.say("")

    def _redraw(self) -> None:
        self.previews.clear()
        with self.previews:
            for attachment in self.pending:
                with (
                    ui.column().classes("items-center gap-0").props('data-testid="chat-attachment"')
                ):
                    image_tag(attachment, attachment.name, "chat-attachment-image")
                    remove = ui.button(icon="close", on_click=lambda a=attachment: self._remove(a))
                    remove.props('flat round dense size=sm data-testid="chat-attachment-remove"')
                    label = self.tr("chat.attach.remove", name=attachment.name)
                    attrs(remove, {"aria-label": label, "title": label})
        self.previews.set_visibility(bool(self.pending))
