"""A file uploader whose buttons say what they do, to a screen reader too.

Quasar's QUploader draws its header buttons as bare icons: a screen reader announces the
"+" that opens the file picker as "add box" (the icon's ligature) and its file input has no
name. This header is Quasar's own, rebuilt with the same parts (the add trigger opens the
picker, as Quasar's does) and a translated name on each button.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from nicegui import ui

from aigc.console.i18n import add
from aigc.console.session import ConsoleUser
from aigc.console.upload_guard import cap, megabytes

add(
    {
        "en": {
            "upload.pick": "Choose files to upload",
            "upload.clear": "Clear the list of uploaded files",
        },
        "zh-CN": {
            "upload.pick": "选择要上传的文件",
            "upload.clear": "清除已上传文件列表",
        },
    }
)

_HEADER = """
<div class="q-uploader__header-content row items-center no-wrap q-pa-sm q-gutter-xs">
  <q-btn v-if="props.uploadedFiles.length > 0" icon="done_all" flat dense round
         aria-label="{clear}" title="{clear}" @click="props.removeUploadedFiles"></q-btn>
  <q-spinner v-if="props.isUploading" class="q-uploader__spinner"></q-spinner>
  <div class="col column justify-center">
    <div class="q-uploader__title">{label}</div>
    <div class="q-uploader__subtitle">
      {{{{ props.uploadSizeLabel }}}} / {{{{ props.uploadProgressLabel }}}}
    </div>
  </div>
  <q-btn v-if="props.canAddFiles" type="a" icon="add_box" flat dense round
         aria-label="{pick}" title="{pick}" data-testid="upload-pick">
    <q-uploader-add-trigger></q-uploader-add-trigger>
  </q-btn>
</div>
"""


def labelled_upload(
    user: ConsoleUser,
    label: str,
    on_upload: Callable[..., Any],
    max_bytes: int,
    multiple: bool = False,
) -> ui.upload:
    """``ui.upload`` (uploading as soon as files are chosen) with named header buttons, each
    file at most ``max_bytes``: the browser refuses a larger one (and says so), and so does
    the server for a request sent without it (``upload_guard``)."""

    def rejected() -> None:
        ui.notify(user.tr("upload.too_large", limit=megabytes(max_bytes)), type="warning")

    upload = ui.upload(
        label=label,
        multiple=multiple,
        auto_upload=True,
        on_upload=on_upload,
        max_file_size=max_bytes,
        on_rejected=rejected,
    )
    cap(upload, max_bytes)
    texts = {
        "label": html.escape(label),
        "pick": html.escape(user.tr("upload.pick")),
        "clear": html.escape(user.tr("upload.clear")),
    }
    upload.add_slot("header", _HEADER.format(**texts))
    return upload
