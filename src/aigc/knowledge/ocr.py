"""Text from a page image with Tesseract (the Debian packages, through pytesseract).

Tesseract is optional: without it a scanned page is reported as unread, never indexed empty.
The page's orientation and script are detected first (Tesseract's OSD), so a page scanned
sideways or upside down reads as text and is read in its own language; each call has a time
budget.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aigc.infra.canonical_text import WIDE
from aigc.knowledge import note_codes
from aigc.knowledge.reasons import with_reason

if TYPE_CHECKING:
    from PIL.Image import Image

_ROTATE = re.compile(r"Rotate:\s*(\d+)")
_SCRIPT = re.compile(r"Script:\s*(\w+)")
_SCRIPT_CONFIDENCE = re.compile(r"Script confidence:\s*([\d.]+)")
# Below this OSD is guessing (a short notice, a page of Chinese with English in it scored
# 0.0–0.8; a page of one script scores 10 and more): every configured language reads it.
MIN_SCRIPT_CONFIDENCE = 2.0


class OcrFailed(RuntimeError):
    """Tesseract did not read the page (timed out or failed); the message says which, in
    English, and ``why`` (``note_codes.OCR_FAILED_*``) with ``values`` (the seconds, or
    Tesseract's own words) say it for the console in its reader's language."""

    def __init__(self, message: str, why: str, /, **values: Any) -> None:
        super().__init__(message)
        self.why, self.values = why, values


def available(languages: str) -> str | None:
    """None when Tesseract and every language of ``languages`` (``eng+chi_sim``) are installed,
    else what is missing, in words."""
    if shutil.which("tesseract") is None:
        return "OCR (Tesseract) is not installed on this server"
    import pytesseract

    try:
        installed = set(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractError, OSError) as exc:
        return with_reason("OCR (Tesseract) does not run on this server", exc)
    missing = [lang for lang in languages.split("+") if lang not in installed]
    if missing:
        return f"the OCR languages {', '.join(missing)} are not installed on this server"
    return None


# Tesseract's OSD names a script; these are the languages that read it.
_SCRIPT_LANGUAGES = {"Latin": "eng", "Han": "chi_sim"}


@dataclass
class Layout:
    """What OSD saw: degrees to turn the image clockwise, and the script (empty if unsure:
    none named, or named with a confidence under ``MIN_SCRIPT_CONFIDENCE``)."""

    turn: int = 0
    script: str = ""


def detect_layout(image: Image, timeout_s: float) -> Layout:
    """Orientation and script of a page image; nothing when Tesseract cannot tell (too little
    text on the page)."""
    import pytesseract

    try:
        osd = pytesseract.image_to_osd(image, timeout=timeout_s)
    except pytesseract.TesseractError:
        return Layout()
    except RuntimeError as exc:  # pytesseract's timeout
        seconds = f"{timeout_s:.0f}"
        raise OcrFailed(
            f"orientation detection took longer than {seconds} s",
            note_codes.OCR_FAILED_LAYOUT_TIMEOUT,
            seconds=seconds,
        ) from exc
    turn, script = _ROTATE.search(osd), _SCRIPT.search(osd)
    confidence = _SCRIPT_CONFIDENCE.search(osd)
    sure = confidence is not None and float(confidence.group(1)) >= MIN_SCRIPT_CONFIDENCE
    return Layout(
        int(turn.group(1)) % 360 if turn else 0, script.group(1) if script and sure else ""
    )


def languages_for(script: str, languages: str) -> str:
    """Only the configured language that reads ``script`` (faster, and English is not read as
    Chinese characters); all configured languages when the script is unknown or unlisted."""
    wanted = _SCRIPT_LANGUAGES.get(script)
    return wanted if wanted in languages.split("+") else languages


# Tesseract reading with Chinese and English together puts a space between Chinese characters
# (本 周 五 下 午): Chinese has none.
_SPACE_IN_CHINESE = re.compile(rf"(?<=[{WIDE}])[ \t]+(?=[{WIDE}])")


def read_image(image: Image, languages: str, timeout_s: float) -> str:
    """The text of a page image, upright first; ``OcrFailed`` past ``timeout_s`` or on error."""
    import pytesseract

    layout = detect_layout(image, timeout_s / 3)
    if layout.turn:
        image = image.rotate(-layout.turn, expand=True)  # PIL turns counter-clockwise
    lang = languages_for(layout.script, languages)
    try:
        text: str = pytesseract.image_to_string(image, lang=lang, timeout=timeout_s)
    except pytesseract.TesseractError as exc:
        detail = exc.message.strip()[:200]
        raise OcrFailed(
            f"Tesseract failed ({detail})", note_codes.OCR_FAILED_TESSERACT, detail=detail
        ) from exc
    except RuntimeError as exc:
        seconds = f"{timeout_s:.0f}"
        raise OcrFailed(
            f"reading took longer than {seconds} s", note_codes.OCR_FAILED_TIMEOUT, seconds=seconds
        ) from exc
    return _SPACE_IN_CHINESE.sub("", text)
