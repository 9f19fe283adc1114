"""Images sent inside JSON: data URLs (``data:image/png;base64,...``) or raw base64, or
``{"upload_id"}`` naming an image uploaded with POST /uploads (likeness.uploads: its bytes get
``check_image``, the same checks).

Checked where they arrive, so a bad one is a 4xx and no job is created: the base64 must
decode, the bytes must be a JPEG, PNG or WebP that Pillow can fully load (a truncated file
fails), and each image has a size limit. Pillow is imported only when an image is checked.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from dataclasses import dataclass

from likeness.errors import ImageRejected, PayloadTooLarge

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
_DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[\w-]+=[^;,]*)*)(?P<b64>;base64)?,")
_BASE64_CHARS = re.compile(rb"^[A-Za-z0-9+/=_-]*$")


@dataclass(frozen=True)
class InlineImage:
    data: bytes
    format: str  # JPEG | PNG | WEBP
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


def sniff_format(data: bytes) -> str | None:
    """JPEG, PNG or WEBP from the file's magic bytes, else None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def decode_inline_image(
    value: str, *, label: str, max_bytes: int, max_pixels: int = 40_000_000
) -> InlineImage:
    """Decode and verify one inline image; ``label`` names it in errors ("reference_images[2]")."""
    text = value.strip()
    declared: str | None = None
    match = _DATA_URL.match(text)
    if match:
        if not match.group("b64"):
            raise ImageRejected(f"{label} is a data URL without ';base64'", fix="Send base64-encoded bytes.")
        declared = match.group("type")
        text = text[match.end() :]
    # base64 grows bytes by 4/3: refuse an oversized string before decoding it
    if len(text) * 3 // 4 > max_bytes + 3:
        raise PayloadTooLarge(
            f"{label} is larger than {max_bytes // (1024 * 1024)} MB",
            code="image_too_large",
            fix=f"Send images of at most {max_bytes // (1024 * 1024)} MB each.",
        )
    raw = "".join(text.split()).encode("ascii", errors="replace")
    if not _BASE64_CHARS.match(raw):
        raise ImageRejected(
            f"{label} is not base64 or a data URL", fix="Send data:image/...;base64,... or raw base64."
        )
    try:
        data = base64.b64decode(
            raw + b"=" * (-len(raw) % 4), altchars=b"-_" if b"-" in raw or b"_" in raw else None
        )
    except (binascii.Error, ValueError) as exc:
        raise ImageRejected(f"{label} is not valid base64: {exc}") from exc
    return check_image(data, label=label, max_bytes=max_bytes, max_pixels=max_pixels, declared=declared)


def check_image(
    data: bytes, *, label: str, max_bytes: int, max_pixels: int = 40_000_000, declared: str | None = None
) -> InlineImage:
    """Verify an image's bytes (an inline image once decoded, or an upload): size, type, pixels."""
    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"{label} is larger than {max_bytes // (1024 * 1024)} MB",
            code="image_too_large",
            fix=f"Send images of at most {max_bytes // (1024 * 1024)} MB each.",
        )
    image_format = sniff_format(data)
    if image_format is None:
        shown = f" (declared {declared})" if declared else ""
        raise ImageRejected(
            f"{label} is not a JPEG, PNG or WebP image{shown}", fix="Send a JPEG, PNG or WebP image."
        )
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            if width * height > max_pixels:
                raise ImageRejected(f"{label} has {width}x{height} pixels, more than this service accepts")
            im.load()  # a truncated file fails here, not later in the job
    except ImageRejected:
        raise
    except Exception as exc:
        raise ImageRejected(
            f"{label} could not be decoded: {exc}", fix="Send a complete, valid image."
        ) from exc
    return InlineImage(data=data, format=image_format, width=width, height=height)
