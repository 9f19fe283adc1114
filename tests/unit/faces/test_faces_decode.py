"""decode_image: limits, sniffing, truncation, pixel bombs, orientation, colour modes."""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile, features

from likeness.errors import ImageRejected, PayloadTooLarge, UnsupportedMediaType
from likeness.faces.decode import decode_image
from tests.unit.faces.faces_data import FACES, PHOTOS, read_photo


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height (8-bit greyscale) with a tiny IDAT: a pixel bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 4)  # only a few rows: decoding would need all of them
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("name", PHOTOS)
def test_every_fixture_photo_decodes_to_rgb(name: str) -> None:
    with Image.open(FACES / name) as raw:
        fmt, size, mode = raw.format, raw.size, raw.mode
    decoded = decode_image(read_photo(name))
    assert decoded.format == fmt
    assert decoded.image.mode == "RGB"
    assert (decoded.width, decoded.height) == decoded.image.size == size
    assert decoded.had_alpha == (mode == "RGBA")
    arr = decoded.to_array()
    assert arr.shape == (size[1], size[0], 3) and arr.dtype == np.uint8


def test_rgba_is_composited_onto_white() -> None:
    im = Image.new("RGBA", (100, 80), (255, 0, 0, 0))  # fully transparent red
    im.paste((0, 0, 255, 255), (0, 0, 50, 80))  # opaque blue left half
    decoded = decode_image(_encode(im, "PNG"))
    arr = decoded.to_array()
    assert decoded.had_alpha and decoded.image.mode == "RGB"
    assert tuple(arr[40, 75]) == (255, 255, 255)
    assert tuple(arr[40, 10]) == (0, 0, 255)


def test_palette_with_transparency_and_la_become_rgb() -> None:
    p = Image.new("P", (80, 80), 0)
    p.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    p.paste(1, (0, 0, 40, 80))
    decoded = decode_image(_encode(p, "PNG", transparency=0))
    arr = decoded.to_array()
    assert decoded.had_alpha
    assert tuple(arr[10, 60]) == (255, 255, 255) and tuple(arr[10, 10]) == (200, 10, 10)

    la = Image.new("LA", (80, 80), (100, 255))
    decoded = decode_image(_encode(la, "PNG"))
    assert decoded.had_alpha and tuple(decoded.to_array()[0, 0]) == (100, 100, 100)


def test_grayscale_becomes_rgb() -> None:
    decoded = decode_image(_encode(Image.new("L", (120, 90), 77), "JPEG"))
    arr = decoded.to_array()
    assert decoded.image.mode == "RGB" and not decoded.had_alpha
    assert arr.shape == (90, 120, 3)
    assert abs(int(arr[45, 60, 0]) - 77) <= 1 and (arr[..., 0] == arr[..., 2]).all()


def test_16_bit_grayscale_keeps_its_brightness() -> None:
    im = Image.new("I;16", (100, 100), 40000)  # ~61% grey
    arr = decode_image(_encode(im, "PNG")).to_array()
    assert 150 <= int(arr[50, 50, 0]) <= 160


def test_exif_orientation_is_applied() -> None:
    im = Image.new("RGB", (200, 100), (10, 200, 10))
    im.paste((200, 10, 10), (0, 0, 20, 100))  # a red stripe on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    decoded = decode_image(_encode(im, "JPEG", exif=exif.tobytes()))
    assert (decoded.width, decoded.height) == (100, 200)
    assert decoded.exif_transposed
    arr = decoded.to_array()
    assert arr[5, 50, 0] > 150 and arr[195, 50, 0] < 100  # the stripe is now at the top


def test_upright_fixture_is_not_marked_transposed() -> None:
    assert not decode_image(read_photo("obama.jpg")).exif_transposed  # Orientation=1


def test_truncated_jpeg_is_rejected() -> None:
    data = read_photo("obama.jpg")
    with pytest.raises(ImageRejected) as exc:
        decode_image(data[: len(data) // 2])
    assert "the image is truncated or corrupt" in exc.value.message
    assert exc.value.status_code == 422 and exc.value.error_code == "image_rejected"


def test_truncated_jpeg_is_rejected_even_if_pillow_was_told_to_load_truncated(monkeypatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = read_photo("obama.jpg")
    with pytest.raises(ImageRejected):
        decode_image(data[: len(data) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_truncated_png_is_rejected() -> None:
    data = read_photo("alex-lacamoire.png")
    with pytest.raises(ImageRejected, match="truncated or corrupt"):
        decode_image(data[: len(data) // 2])


@pytest.mark.parametrize("data", [b"hello, this is not an image\n" * 10, b"%PDF-1.4\n" + b"0" * 100, b""])
def test_non_images_are_unsupported_media(data: bytes) -> None:
    with pytest.raises(UnsupportedMediaType) as exc:
        decode_image(data)
    assert exc.value.status_code == 415
    assert "JPEG, PNG or WEBP" in exc.value.message


def test_gif_is_named_in_the_refusal() -> None:
    with pytest.raises(UnsupportedMediaType, match="GIF images are not accepted"):
        decode_image(_encode(Image.new("RGB", (100, 100)), "GIF"))


def test_allowed_formats_are_enforced_from_the_bytes() -> None:
    png = read_photo("alex-lacamoire.png")
    with pytest.raises(UnsupportedMediaType, match="PNG images are not accepted; send a JPEG image"):
        decode_image(png, allowed_formats=("JPEG",))


@pytest.mark.skipif(not features.check("webp"), reason="Pillow built without WEBP")
def test_webp_is_accepted() -> None:
    decoded = decode_image(_encode(Image.new("RGB", (100, 70), (1, 2, 3)), "WEBP", lossless=True))
    assert decoded.format == "WEBP" and decoded.to_array().shape == (70, 100, 3)


def test_multi_picture_jpeg_from_a_phone_is_a_jpeg() -> None:
    frames = [Image.new("RGB", (120, 90), (200, 30, 30)), Image.new("RGB", (60, 45), (0, 0, 0))]
    data = _encode(frames[0], "MPO", save_all=True, append_images=frames[1:])
    with Image.open(io.BytesIO(data)) as raw:
        assert raw.format == "MPO"
    decoded = decode_image(data)
    assert decoded.format == "JPEG" and (decoded.width, decoded.height) == (120, 90)


def test_one_pixel_png_is_rejected() -> None:
    with pytest.raises(ImageRejected) as exc:
        decode_image(_encode(Image.new("RGB", (1, 1)), "PNG"))
    assert "image is 1x1 pixels; at least 64 px on the shorter side is needed" in exc.value.message


def test_thin_image_is_rejected_on_its_short_side() -> None:
    with pytest.raises(ImageRejected, match="1000x40 pixels"):
        decode_image(_encode(Image.new("RGB", (1000, 40)), "PNG"))
    assert decode_image(_encode(Image.new("RGB", (64, 64)), "PNG")).width == 64


def test_oversized_payload_is_rejected_before_decoding() -> None:
    with pytest.raises(PayloadTooLarge) as exc:
        decode_image(read_photo("obama.jpg"), max_bytes=100_000)
    assert exc.value.status_code == 413 and "limit" in exc.value.message
    with pytest.raises(PayloadTooLarge):
        decode_image(b"\0" * (15 * 1024 * 1024 + 1))


@pytest.mark.parametrize(
    ("width", "height", "limits"),
    [
        (20_000, 20_000, {}),  # beyond Pillow's own hard limit (DecompressionBombError)
        (7_000, 7_000, {}),  # 49 Mpx: over our 40 Mpx default, under Pillow's limits
        (10_000, 10_000, {"max_pixels": 200_000_000}),  # Pillow's bomb warning, escalated
    ],
)
def test_pixel_bombs_are_rejected_from_the_header(width: int, height: int, limits: dict) -> None:
    data = _png_header_only(width, height)
    assert len(data) < 200_000
    started = time.perf_counter()
    with pytest.raises(ImageRejected) as exc:
        decode_image(data, **limits)
    # rejected from the header: no 100-400 MB pixel buffer was decoded
    assert time.perf_counter() - started < 1.0
    assert "pixels" in exc.value.message and "truncated" not in exc.value.message


def test_real_compressed_pixel_bomb_is_rejected() -> None:
    # a genuine, fully valid 8000x8000 PNG of zeros (64 Mpx) is only ~60 KB
    data = _encode(Image.new("L", (8000, 8000)), "PNG", optimize=False, compress_level=9)
    assert len(data) < 200_000
    with pytest.raises(ImageRejected, match="at most 40,000,000 pixels"):
        decode_image(data)
