"""Turn untrusted upload bytes into a validated RGB image (Pillow only).

Order matters: every cheap check (byte size, container sniffing, header
dimensions) runs before any pixel is decoded, so a hostile upload costs us
no more than reading its header.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from likeness.errors import ImageRejected, PayloadTooLarge, UnsupportedMediaType
from likeness.faces.types import DecodedImage

__all__ = ["DEFAULT_FORMATS", "decode_image"]

logger = logging.getLogger(__name__)

DEFAULT_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP")

_EXIF_ORIENTATION = 0x0112
_WHITE = (255, 255, 255)


def _human_bytes(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} bytes"


def _format_list(formats: Sequence[str]) -> str:
    names = [f.upper() for f in formats]
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _has_transparency(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info


def _to_rgb(im: Image.Image) -> tuple[Image.Image, bool]:
    """Normalise any mode to RGB; transparency is flattened onto white (how a viewer shows it)."""
    if _has_transparency(im):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _WHITE + (255,))
        background.alpha_composite(rgba)
        return background.convert("RGB"), True
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit greyscale: Pillow's direct convert clips at 255, so rescale first
        im = im.convert("I").point(lambda v: v / 256).convert("L")
    elif im.mode == "F":
        im = im.convert("L")
    if im.mode != "RGB":
        im = im.convert("RGB")
    return im, False


def decode_image(
    data: bytes,
    *,
    max_bytes: int = 15 * 1024 * 1024,
    max_pixels: int = 40_000_000,
    min_side: int = 64,
    allowed_formats: Sequence[str] = DEFAULT_FORMATS,
) -> DecodedImage:
    """Validate and decode an uploaded image.

    Raises PayloadTooLarge (413), UnsupportedMediaType (415) or ImageRejected (422)
    with a message that tells the uploader what to change.
    """
    allowed = tuple(f.upper() for f in allowed_formats)
    accepted = _format_list(allowed)

    if len(data) > max_bytes:
        raise PayloadTooLarge(
            f"The image is {_human_bytes(len(data))}; the limit is {_human_bytes(max_bytes)}.",
            fix="Upload a smaller or more compressed photo.",
        )
    if not data:
        raise UnsupportedMediaType(
            f"The upload is empty; send a {accepted} image.", fix=f"Upload a {accepted} photo."
        )

    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # Someone switched this on process-wide; it would let half-uploaded files through as grey
        # blocks, so turn it back off rather than accept them.
        logger.warning("PIL.ImageFile.LOAD_TRUNCATED_IMAGES was enabled; disabling it for upload decoding")
        ImageFile.LOAD_TRUNCATED_IMAGES = False

    # Escalate Pillow's decompression-bomb warning so it cannot slip through as a log line.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            # Sniff the real container from the bytes (all plugins, header only) so a GIF renamed
            # .jpg is reported as a GIF; the client-supplied name and content type are ignored.
            im: Image.Image = Image.open(io.BytesIO(data))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected(
                "The image has too many pixels to process safely.",
                fix=f"Upload a photo of at most {max_pixels:,} pixels (for example 6000x6000).",
            ) from exc
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise UnsupportedMediaType(
                f"The file is not a recognised image; send a {accepted} image.",
                fix=f"Upload a {accepted} photo.",
            ) from exc

        fmt = (im.format or "").upper()
        if fmt == "MPO":
            # phone cameras add a multi-picture index to JPEGs; Pillow reports those as MPO
            fmt = "JPEG"
        if fmt not in allowed:
            raise UnsupportedMediaType(
                f"{fmt or 'This'} images are not accepted; send a {accepted} image.",
                fix=f"Convert the photo to {accepted} and upload it again.",
            )

        width, height = im.size
        if width * height > max_pixels:
            raise ImageRejected(
                f"The image is {width}x{height} pixels ({width * height:,}); "
                f"at most {max_pixels:,} pixels are accepted.",
                fix="Downscale the photo and upload it again.",
            )

        try:
            im.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRejected(
                "The image has too many pixels to process safely.",
                fix="Downscale the photo and upload it again.",
            ) from exc
        except Exception as exc:  # any decoder failure means we cannot trust the pixels
            raise ImageRejected(
                "The image could not be read: the image is truncated or corrupt.",
                fix="Upload the original photo again; the file may have been cut off during transfer.",
            ) from exc

    orientation = 1
    try:
        orientation = int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # unreadable EXIF is common and harmless: treat as upright
        orientation = 1
    exif_transposed = False
    if orientation != 1:
        try:
            transposed = ImageOps.exif_transpose(im)
        except Exception:  # a broken EXIF block should not cost the user the photo
            logger.info("ignoring unusable EXIF orientation %s", orientation)
        else:
            if transposed is not None:
                im = transposed
                exif_transposed = orientation in range(2, 9)

    rgb, had_alpha = _to_rgb(im)
    width, height = rgb.size
    if min(width, height) < min_side:
        raise ImageRejected(
            f"The image is {width}x{height} pixels; at least {min_side} px on the shorter side is needed.",
            fix="Upload a larger photo in which the face is clearly visible.",
        )

    return DecodedImage(
        image=rgb,
        format=fmt,
        width=width,
        height=height,
        had_alpha=had_alpha,
        exif_transposed=exif_transposed,
    )
