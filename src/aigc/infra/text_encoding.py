"""The text of an uploaded text file, whatever encoding it was saved in.

Companies keep text in more than UTF-8: GB18030/GBK on the mainland, Big5 in Taiwan and Hong
Kong, Shift_JIS in Japan, UTF-16 from Windows Notepad's and Excel's "Unicode" exports,
Windows-1252 in Europe. Guessing GB18030 whenever UTF-8 fails (as this module's predecessor
did) turns a Big5 or Shift_JIS file into fluent-looking nonsense: GB18030 decodes almost any
run of high bytes. So the encoding is detected (``charset_normalizer``, which weighs how each
candidate decoding reads), with rules of our own around it, each for a way the detector alone
went wrong: it chooses among the encodings text files are saved in only; GB text is decoded
as GB18030, the superset of the GB2312/GBK it names; a tie goes to the more common encoding;
a long text that reads cleanly as GB18030 with Chinese in it is not taken for Windows-1252;
and a UTF-8 file with a few broken bytes (a truncated copy, one stray byte) stays UTF-8, its
broken bytes replaced and counted, rather than being read whole in another encoding.
``bench/text_encodings.py`` measures it on real documents.

An encoding the sender *declared* (an HTTP ``charset``, an HTML ``<meta charset>``) is taken
as browsers take it (the WHATWG Encoding Standard's wider readings of legacy labels: Latin-1
as Windows-1252, GB2312 and GBK as GB18030), with one exception: bytes that are valid UTF-8
with non-ASCII text in them are UTF-8, whatever the label says (a template's stale ``<meta
charset="gbk">``, a server's default ``charset=iso-8859-1``); legacy-encoded text almost never
is valid UTF-8 by chance. A label that is unknown, or that the bytes do not decode in, is
ignored and the encoding detected.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

_GB = {"gb2312", "gbk", "gb18030", "hz"}
# What a wrong GB18030 reading produces: private-use characters (Big5's lead bytes land in
# GBK's user-defined areas) and control characters.
_NOT_TEXT = re.compile(r"[\ue000-\uf8ff\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
# The encodings the detector may name: Unicode, Chinese, Japanese, Korean, and the Windows
# code pages of Western, Central and Eastern Europe. Every single-byte code page is a trap for
# short Chinese text (any byte is a character in it): left to choose among all it knows, the
# detector read short pieces of GBK as Thai, and of Big5 as Johab or Mac Cyrillic. Text in
# other code pages (Thai, Greek, Hebrew, Arabic …) must be uploaded as UTF-8.
_CANDIDATES = (
    "utf_16",
    "utf_32",
    "gb18030",
    "big5",
    "cp932",
    "euc_jp",
    "cp949",
    "cp1252",
    "cp1250",
    "cp1251",
)
# Where two readings tie (Windows-1250 and -1252 read French alike but for è and ù), the
# encoding more files are saved in.
_COMMON = {name: rank for rank, name in enumerate(("cp1252", "gb18030", "big5", "cp932", "cp949"))}
_HAN = re.compile(r"[\u3400-\u9fff]")
_KANA_HANGUL = re.compile(r"[\u3040-\u30ff\uac00-\ud7af]")
# A Western single-byte text of this length almost surely holds a byte pair GB18030 cannot
# decode (an accented letter before a space or a full stop): one that decodes cleanly, with
# Chinese characters in it, is Chinese.
_LONG_ENOUGH = 200
# Broken sequences a UTF-8 text may have and still be UTF-8: one, or one per ten well-formed
# multi-byte characters, with two of those at least (a GBK or Big5 text read as UTF-8 has
# about nine broken sequences per well-formed one; a Western single-byte text has none).
_MAX_BROKEN_SHARE = 0.1


# Legacy labels read as the WHATWG Encoding Standard reads them (as browsers do): the wider
# encoding a sender of that label almost always meant.
_AS_BROWSERS_READ = {
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
    "iso8859-9": "cp1254",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "tis-620": "cp874",
}


class UndecodableText(ValueError):
    """The bytes are not text in any encoding that could be told."""


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # Python's codec name: "utf-8", "gb18030", "big5", "utf-16", …
    replaced: int = 0  # broken bytes replaced by U+FFFD (a damaged UTF-8 file)
    declared: bool = False  # read in the encoding its sender declared, not a detected one

    def note(self) -> str | None:
        """What a person should know about the reading, or None for plain UTF-8 or an
        encoding the sender declared."""
        if self.replaced:
            return f"{self.replaced} byte sequence(s) that are not valid UTF-8 were replaced by �"
        if self.encoding == "utf-8" or self.declared:
            return None
        return f"read as {self.encoding} text (the file is not UTF-8)"


def decode(data: bytes, declared: str | None = None) -> Decoded:
    """``data`` as text, or ``UndecodableText``. ``declared``: the encoding label its sender
    gave (HTTP's ``charset``, HTML's ``<meta charset>``), if any."""
    for bom, name in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32")):
        if data.startswith(bom):
            return Decoded(data.decode(name), name)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return Decoded(data.decode("utf-16"), "utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    if declared and (reading := _declared(data, declared)) is not None:
        return reading
    damaged = _damaged_utf8(data)
    if damaged is not None:
        return damaged
    return _detected(data)


def codec_of(label: str) -> str | None:
    """Python's codec for an encoding label, read as browsers read it; None when unknown."""
    try:
        name = codecs.lookup(label.strip().strip("'\"")).name
    except (LookupError, ValueError):
        return None
    return _AS_BROWSERS_READ.get(name, name)


def _declared(data: bytes, label: str) -> Decoded | None:
    """``data`` in the declared encoding, or None when the label is unknown or the bytes are
    not text in it (a wrong label is ignored, as a missing one)."""
    codec = codec_of(label)
    if codec is None or codec.startswith("utf-8"):
        return None  # UTF-8 was tried first; broken UTF-8 is the damaged-UTF-8 rule's case
    try:
        text = data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None
    return None if _NOT_TEXT.search(text) else Decoded(text, codec, declared=True)


def _damaged_utf8(data: bytes) -> Decoded | None:
    """UTF-8 with a few broken sequences, or None when the bytes are not UTF-8 at all."""
    text = data.decode("utf-8", errors="replace")
    broken = text.count("\ufffd") - data.decode("utf-8", errors="ignore").count("\ufffd")
    well_formed = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
    if broken and well_formed >= 2 and broken <= max(1, _MAX_BROKEN_SHARE * well_formed):
        return Decoded(text, "utf-8", replaced=broken)
    return None


def _detected(data: bytes) -> Decoded:
    from charset_normalizer import from_bytes

    found = from_bytes(data, cp_isolation=list(_CANDIDATES))
    best = found.best()
    if best is not None:  # of readings that read equally well, the more common encoding
        tied = [r for r in found if (r.chaos, r.coherence) == (best.chaos, best.coherence)]
        best = min(tied, key=lambda r: _COMMON.get(codecs.lookup(r.encoding).name, len(_COMMON)))
    gb = _gb18030(data)
    if best is None:
        if gb is not None:
            return Decoded(gb, "gb18030")
        raise UndecodableText(
            "The file is not text in an encoding that could be recognised (UTF-8, UTF-16, "
            "GB18030, Big5, Shift_JIS, …); save it as UTF-8 and upload it again"
        )
    name = codecs.lookup(best.encoding).name
    if name in _GB and gb is not None:
        return Decoded(gb, "gb18030")
    text = str(best)
    if (
        gb is not None
        and len(data) >= _LONG_ENOUGH
        and _HAN.search(gb)
        and not _HAN.search(text)
        and not _KANA_HANGUL.search(text)
    ):
        return Decoded(gb, "gb18030")  # mostly-ASCII Chinese text taken for a Western one
    return Decoded(text, name)


def _gb18030(data: bytes) -> str | None:
    """``data`` read as GB18030 when that reading is clean text, else None."""
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return None
    return None if _NOT_TEXT.search(text) else text
