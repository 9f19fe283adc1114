"""Image and video helpers for the fakes: fit a still to an aspect ratio and size, make a short MP4.

Fitting pads (letterboxes) with the image's edge colour and never crops, so a face in the input
stays whole in what the fake answers.
"""

from __future__ import annotations

import io
from fractions import Fraction

import numpy as np
from PIL import Image


def parse_aspect(value: str) -> float:
    """``"16:9"`` -> 16/9; ValueError for anything that is not two positive numbers."""
    left, sep, right = value.partition(":")
    if not sep:
        raise ValueError(f"not an aspect ratio: {value!r}")
    width, height = float(left), float(right)
    if width <= 0 or height <= 0:
        raise ValueError(f"not an aspect ratio: {value!r}")
    return width / height


def size_for_aspect(aspect: float, long_side: int) -> tuple[int, int]:
    """(width, height) with this aspect (width / height) and this long side."""
    if aspect >= 1:
        return long_side, max(1, round(long_side / aspect))
    return max(1, round(long_side * aspect)), long_side


def cap_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled down, aspect kept, so the long side is at most ``max_side``."""
    long_side = max(width, height)
    if long_side <= max_side:
        return width, height
    scale = max_side / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))


def edge_colour(image: Image.Image) -> tuple[int, int, int]:
    """The mean colour of the image's one-pixel border."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    red, green, blue = (int(round(v)) for v in border.mean(axis=0))
    return red, green, blue


def letterbox(image: Image.Image, aspect: float) -> Image.Image:
    """``image`` centred on a canvas of this aspect filled with its edge colour (no crop, no resize)."""
    image = image.convert("RGB")
    width, height = image.size
    if abs(width / height - aspect) < 1e-3:
        return image
    if width / height > aspect:
        canvas_size = (width, max(height, round(width / aspect)))
    else:
        canvas_size = (max(width, round(height * aspect)), height)
    canvas = Image.new("RGB", canvas_size, edge_colour(image))
    canvas.paste(image, ((canvas_size[0] - width) // 2, (canvas_size[1] - height) // 2))
    return canvas


def fit_image(image: Image.Image, width: int, height: int) -> Image.Image:
    """``image`` letterboxed to width:height and resized to exactly (width, height)."""
    padded = letterbox(image, width / height)
    if padded.size == (width, height):
        return padded
    return padded.resize((width, height), Image.Resampling.LANCZOS)


def fit_long_side(image: Image.Image, aspect: float | None, long_side: int, max_side: int) -> Image.Image:
    """``image`` fitted to ``aspect`` (None: its own) with this long side, capped at ``max_side``."""
    if aspect is None:
        aspect = image.width / image.height
    natural_width, natural_height = size_for_aspect(aspect, long_side)
    width, height = cap_size(natural_width, natural_height, max_side)
    return fit_image(image, width, height)


def scale_image(image: Image.Image, factor: float, max_side: int) -> Image.Image:
    """``image`` scaled by ``factor``, long side capped at ``max_side`` (an upscaler's stand-in)."""
    width, height = cap_size(
        max(1, round(image.width * factor)), max(1, round(image.height * factor)), max_side
    )
    return image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)


def mp4_from_image(image: Image.Image, *, max_side: int = 480, fps: int = 8, seconds: float = 1.0) -> bytes:
    """An H.264 MP4 (yuv420p) whose frames all show ``image``, long side <= max_side, even sides."""
    import av

    width, height = cap_size(image.width, image.height, max_side)
    width, height = max(2, width - width % 2), max(2, height - height % 2)
    still = image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    pixels = np.ascontiguousarray(np.asarray(still))
    frames = max(1, round(fps * seconds))
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.codec_context.options = {"crf": "23", "preset": "ultrafast"}
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()
