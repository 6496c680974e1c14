"""Every generated PNG carries a signed manifest and the GB 45438-2025 implicit label.

Three PNG text chunks:

* ``AIGC`` — the implicit label of GB 45438-2025 (标识办法 metadata): ``Label`` "1" (AI
  generated), ``ContentProducer``, ``ProduceID``, ``ContentPropagator``, ``PropagateID`` and
  the reserved codes (``ReservedCode1`` carries the pixel hash for integrity checks);
* ``aigc.manifest`` — JSON: model, time, tenant, request id, content id, the SHA-256 of the
  decoded pixels (mode, size and bytes) and a copy of the label;
* ``aigc.signature`` — HMAC-SHA256 of the canonical manifest under a key derived from the
  server secret.

A JPEG or WebP (``output_format``) carries the same three texts as one JSON object, in its
comment (JPEG) or its XMP chunk (WebP); its pixel hash is that of the pixels the file decodes
to (the lossy encoding is made first, then signed: the metadata leaves the pixels as they are).

Verification recomputes both: editing any metadata breaks the signature, changing one pixel
breaks the hash. Only the server that signed (or one sharing its secret) can verify; C2PA
with public-key certificates would let anyone verify and is the upgrade path.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, PngImagePlugin

LABEL_CHUNK, MANIFEST_CHUNK, SIGNATURE_CHUNK = "AIGC", "aigc.manifest", "aigc.signature"
PROVIDER = "aigc"
# OpenAI's output_format → Pillow's format name (its media type: inputs.FORMATS).
FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def signing_key(server_secret: bytes, purpose: str = "image-provenance") -> bytes:
    """A key for one purpose, derived from the server secret (the secret itself never signs)."""
    return hmac.new(server_secret, purpose.encode(), hashlib.sha256).digest()


def pixel_hash(img: Image.Image) -> str:
    """SHA-256 over the decoded pixels with their mode and size (not over the file bytes)."""
    h = hashlib.sha256(f"{img.mode}:{img.width}x{img.height}:".encode())
    h.update(img.tobytes())
    return h.hexdigest()


def _canonical(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def _sign(key: bytes, manifest: dict[str, Any]) -> str:
    return hmac.new(key, _canonical(manifest), hashlib.sha256).hexdigest()


def new_content_id() -> str:
    return f"img_{secrets.token_hex(12)}"


def to_image(pixels: np.ndarray) -> Image.Image:
    """(H, W, 1) or (H, W, 3) bytes → a PIL image (L or RGB)."""
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        return Image.fromarray(pixels[:, :, 0], mode="L")
    return Image.fromarray(pixels, mode="RGB")


def with_visible_label(img: Image.Image, text: str = "AI") -> Image.Image:
    """The explicit label: a band under the image saying it is AI-generated.

    Images narrower than 32 px are first enlarged (nearest neighbour, integer factor) so the
    label stays legible.
    """
    factor = max(1, -(-32 // img.width))
    if factor > 1:
        img = img.resize((img.width * factor, img.height * factor), Image.Resampling.NEAREST)
    band = 12
    out = Image.new(
        img.mode, (img.width, img.height + band), 255 if img.mode == "L" else (255,) * 3
    )
    out.paste(img, (0, 0))
    ImageDraw.Draw(out).text((2, img.height), text, fill=0 if img.mode == "L" else (0, 0, 0))
    return out


def signed_image(
    pixels: np.ndarray,
    key: bytes,
    *,
    model: str,
    tenant_id: str,
    request_id: str,
    content_id: str | None = None,
    visible_label: bool = False,
    output_format: str = "png",
    quality: int | None = None,
) -> tuple[bytes, dict[str, Any]]:
    """One image as ``output_format`` (png, jpeg, webp; ``quality`` 0-100 for the lossy two)
    with label, manifest and signature; returns (file bytes, manifest)."""
    img = to_image(pixels)
    if visible_label:
        img = with_visible_label(img)
    content_id = content_id or new_content_id()
    if output_format == "png":
        decoded = img
    else:  # the pixels the file will decode to: what the hash must cover
        decoded = Image.open(io.BytesIO(_encode(img, output_format, quality, None)))
        decoded.load()
    manifest = _manifest(pixel_hash(decoded), model, tenant_id, request_id, content_id)
    manifest["visible_label"] = visible_label
    texts = {
        LABEL_CHUNK: json.dumps(manifest["AIGC"], ensure_ascii=False),
        MANIFEST_CHUNK: json.dumps(manifest, ensure_ascii=False),
        SIGNATURE_CHUNK: _sign(key, manifest),
    }
    return _encode(img, output_format, quality, texts), manifest


def _manifest(
    digest: str, model: str, tenant_id: str, request_id: str, content_id: str
) -> dict[str, Any]:
    label = {
        "Label": "1",
        "ContentProducer": PROVIDER,
        "ProduceID": content_id,
        "ReservedCode1": f"sha256:{digest}",
        "ContentPropagator": PROVIDER,
        "PropagateID": content_id,
        "ReservedCode2": "",
    }
    return {
        "version": 1,
        "generator": PROVIDER,
        "model": model,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "tenant": tenant_id,
        "request_id": request_id,
        "content_id": content_id,
        "pixels_sha256": digest,
        "ai_generated": True,
        "visible_label": False,
        "AIGC": label,
    }


def _encode(
    img: Image.Image, output_format: str, quality: int | None, texts: dict[str, str] | None
) -> bytes:
    """The file: PNG text chunks, or the texts as one JSON object in a JPEG's comment or a
    WebP's XMP chunk (neither changes the encoded pixels)."""
    buf = io.BytesIO()
    fmt = FORMATS[output_format]
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        for name, text in (texts or {}).items():
            if name == SIGNATURE_CHUNK:
                info.add_text(name, text)
            else:
                info.add_itxt(name, text)
        img.save(buf, format=fmt, pnginfo=info)
        return buf.getvalue()
    options: dict[str, Any] = {"quality": 100 if quality is None else quality}
    if texts is not None:
        meta = json.dumps(texts, ensure_ascii=False).encode()
        options["comment" if fmt == "JPEG" else "xmp"] = meta
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def _texts(img: Image.Image) -> dict[str, str]:
    """The provenance texts of a file in any of ``FORMATS`` (empty when it has none)."""
    if img.format == "PNG":
        return dict(getattr(img, "text", {}) or {})
    raw = img.info.get("comment" if img.format == "JPEG" else "xmp")
    try:
        texts = json.loads(raw) if isinstance(raw, (bytes, str)) else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    if not isinstance(texts, dict):
        return {}
    return {k: v for k, v in texts.items() if isinstance(v, str)}


@dataclass
class Verdict:
    valid: bool
    reason: str
    manifest: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"valid": self.valid, "reason": self.reason, "manifest": self.manifest}


def verify_png(data: bytes, key: bytes) -> Verdict:
    """Check signature, label and pixels of an image we generated (PNG, JPEG or WebP)."""
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception:
        return Verdict(False, "not a readable image")
    text = _texts(img)
    if MANIFEST_CHUNK not in text or SIGNATURE_CHUNK not in text:
        return Verdict(False, "no provenance manifest")
    try:
        manifest = json.loads(text[MANIFEST_CHUNK])
        label = json.loads(text.get(LABEL_CHUNK, "null"))
    except json.JSONDecodeError:
        return Verdict(False, "manifest is not valid JSON")
    if not isinstance(manifest, dict):
        return Verdict(False, "manifest is not valid JSON")
    if not hmac.compare_digest(_sign(key, manifest), text[SIGNATURE_CHUNK]):
        return Verdict(False, "signature does not match the manifest", manifest)
    if label != manifest.get("AIGC"):
        return Verdict(False, "the AIGC label differs from the signed one", manifest)
    if pixel_hash(img) != manifest.get("pixels_sha256"):
        return Verdict(False, "pixels were changed after signing", manifest)
    return Verdict(True, "signature and pixels match", manifest)


def link_signature(key: bytes, content_id: str, expires: int) -> str:
    """The signature of an expiring download link for one stored image."""
    return hmac.new(key, f"{content_id}:{expires}".encode(), hashlib.sha256).hexdigest()
