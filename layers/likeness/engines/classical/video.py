"""Pan-and-zoom ("Ken Burns") videos of one still image, encoded as H.264 MP4 with PyAV.

The first frame shows the widest window of the requested aspect ratio around the face (or the
image centre); the camera then eases in, ``zoom`` times closer, onto the face. Each frame is one
sub-pixel ``warpAffine`` of the source, so the motion is smooth rather than stepping by whole
pixels. Encoding: libx264, yuv420p (plays everywhere), CRF 20, ``+faststart`` so a browser can
start playing before the whole file has arrived.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

__all__ = ["encode_mp4", "ken_burns_frames", "ken_burns_windows"]


def _ease(t: float) -> float:
    """Smoothstep: starts and ends at rest."""
    return t * t * (3.0 - 2.0 * t)


def ken_burns_windows(
    width: int,
    height: int,
    aspect: tuple[int, int],
    focus: tuple[float, float] | None,
    zoom: float,
    frames: int,
) -> list[tuple[float, float, float, float]]:
    """(x, y, w, h) source windows, one per frame, all inside the image."""
    aw, ah = aspect
    if width * ah >= height * aw:
        w0, h0 = height * aw / ah, float(height)
    else:
        w0, h0 = float(width), width * ah / aw
    fx, fy = focus if focus is not None else (width / 2.0, height / 2.0)

    def placed(w: float, h: float) -> tuple[float, float]:
        return min(max(fx - w / 2.0, 0.0), width - w), min(max(fy - h / 2.0, 0.0), height - h)

    x0, y0 = placed(w0, h0)
    w1, h1 = w0 / zoom, h0 / zoom
    x1, y1 = placed(w1, h1)
    windows = []
    for i in range(frames):
        t = _ease(i / (frames - 1)) if frames > 1 else 0.0
        windows.append((x0 + (x1 - x0) * t, y0 + (y1 - y0) * t, w0 + (w1 - w0) * t, h0 + (h1 - h0) * t))
    return windows


def ken_burns_frames(
    image: np.ndarray, windows: list[tuple[float, float, float, float]], size: tuple[int, int]
) -> Iterator[np.ndarray]:
    """Each window of ``image`` scaled to ``size`` (width, height)."""
    out_w, out_h = size
    # one pre-shrink so no frame down-samples by more than ~2x (warpAffine has no area filter)
    smallest = min(w for _, _, w, _ in windows)
    pre = min(1.0, 2.0 * out_w / smallest)
    source = image
    if pre < 1.0:
        source = cv2.resize(
            image,
            (max(1, round(image.shape[1] * pre)), max(1, round(image.shape[0] * pre))),
            interpolation=cv2.INTER_AREA,
        )
    sx, sy = source.shape[1] / image.shape[1], source.shape[0] / image.shape[0]
    for x, y, w, h in windows:
        scale_x, scale_y = out_w / (w * sx), out_h / (h * sy)
        matrix = np.array([[scale_x, 0.0, -x * sx * scale_x], [0.0, scale_y, -y * sy * scale_y]])
        yield cv2.warpAffine(
            source, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
        )


def encode_mp4(frames: Iterator[np.ndarray], size: tuple[int, int], fps: int) -> tuple[bytes, int]:
    """H.264 MP4 bytes of RGB ``frames`` (each ``size``, even sides) and the frame count."""
    import av

    width, height = size
    count = 0
    with tempfile.TemporaryDirectory(prefix="likeness-video-") as tmp:
        path = Path(tmp) / "out.mp4"
        # faststart rewrites the file to put the index first, which needs a real (seekable) file
        with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, fps)
            stream.codec_context.options = {"crf": "20", "preset": "veryfast", "profile": "high"}
            for pixels in frames:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
                frame = frame.reformat(format="yuv420p")
                frame.pts = count
                frame.time_base = Fraction(1, fps)
                for packet in stream.encode(frame):
                    container.mux(packet)
                count += 1
            for packet in stream.encode(None):
                container.mux(packet)
        return path.read_bytes(), count
