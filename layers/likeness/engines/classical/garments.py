"""Garment vision: cut a garment out of its photo and describe what can be measured.

No model weights. The input is a flat-lay or packshot photo on a plain background, or a
cut-out PNG / WebP with alpha (then the alpha is the mask and nothing is segmented).

Segmentation (``segment_garment``), on a copy at most ``WORK_SIDE`` px on the longer side:

1. The background is modelled from the image border: a smooth (bilinear) surface per CIE LAB
   channel, fitted twice so a garment touching the border does not bend it. Its residual on
   the border is the photo's noise.
2. Pixels farther than ``max(MIN_DELTA_E, 3 x border noise)`` from the background surface are
   the garment. The floor is low on purpose: on tshirt_front.png the white stripes are only
   dE 3.5 from the backdrop.
3. Morphological open / close, keep the largest connected part (and parts at least a quarter
   its size), fill holes (a print the colour of the backdrop is still garment).
4. GrabCut refines only a band along the outline; the eroded inside stays garment and the
   dilated outside stays background, so it cannot eat pale parts of the garment. When it
   moves more than ``_GRABCUT_MAX_CHANGE`` of the area it is assumed lost and ignored.

The description is built only from measurements (no fabric, brand or text is guessed):
dominant colours (k-means in LAB, named from ``COLOUR_NAMES``), a pattern cue (periodic rows
or columns of lightness), the silhouette (mask width near the top, middle and bottom), a
category guess with a confidence from shape cues, and a length cue from the aspect ratio.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from likeness.engines.base import EngineError

__all__ = [
    "CATEGORIES",
    "COLOUR_NAMES",
    "GarmentAnalysis",
    "GarmentColour",
    "analyze_garment",
    "colour_name",
    "segment_garment",
]

WORK_SIDE = 512  # segmentation and measurements run at this size; shapes are scale-free
MAX_CUTOUT_SIDE = 1024  # the cut-out keeps the source resolution up to this
MIN_DELTA_E = 2.0  # a garment pixel differs from the backdrop by at least this much (CIE76)
NOISE_FACTOR = 3.0  # ... and by this many times the border's own residual
BUSY_BACKGROUND = 12.0  # border residual (dE, 90th percentile) above which the backdrop is not plain
MIN_COVERAGE = 0.01  # a garment covers at least this share of the photo...
MAX_COVERAGE = 0.97  # ...and leaves some backdrop
_GRABCUT_MAX_CHANGE = 0.2
_MAX_COLOURS = 3
_MERGE_DELTA_E = 12.0  # k-means centres closer than this are one colour (shade, weave)
_MIN_COLOUR_SHARE = 0.05

CATEGORIES = ("top", "dress/skirt", "trousers", "unknown")
COLOUR_NAMES = (
    "white",
    "cream",
    "light grey",
    "grey",
    "dark grey",
    "black",
    "red",
    "burgundy",
    "pink",
    "orange",
    "brown",
    "beige",
    "yellow",
    "olive",
    "green",
    "dark green",
    "light green",
    "teal",
    "light blue",
    "blue",
    "navy",
    "purple",
    "lavender",
)
_LIGHT_NAMES = {"white", "cream", "light grey", "beige"}  # said last: "navy and white"


@dataclass(frozen=True)
class GarmentColour:
    hex: str  # "#1c2a56"
    name: str  # one of COLOUR_NAMES
    share: float  # of the garment's pixels, 0..1
    lab: tuple[float, float, float]  # CIE L*a*b*, L in 0..100

    def to_dict(self) -> dict[str, Any]:
        return {
            "hex": self.hex,
            "name": self.name,
            "share": round(self.share, 3),
            "lab": [round(v, 1) for v in self.lab],
        }


@dataclass(frozen=True)
class GarmentAnalysis:
    label: str
    cutout_png: bytes = field(repr=False)  # RGBA, tight crop around the garment
    width: int  # of the cut-out
    height: int
    coverage: float  # garment pixels / source pixels
    box: tuple[int, int, int, int]  # the cut-out's x1, y1, x2, y2 in the source image
    source_size: tuple[int, int]  # width, height of the source image
    from_alpha: bool  # the input's own alpha was the mask (nothing segmented)
    colours: tuple[GarmentColour, ...]  # by share, largest first
    pattern: str  # solid | horizontal stripes | vertical stripes | checked | mixed colours
    silhouette: str  # straight | A-line/flared | fitted | tapered
    category: str  # one of CATEGORIES
    category_confidence: float  # 0..0.9: shape cues only, never certain
    sleeves: str | None  # short | long | none for tops and dresses, None for trousers / unknown
    length: str  # short | regular | knee | long
    description: str
    measurements: dict[str, float]
    rgba: np.ndarray = field(repr=False, compare=False)  # HxWx4 uint8, the cut-out's pixels

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (no pixels)."""
        return {
            "label": self.label,
            "width": self.width,
            "height": self.height,
            "coverage": round(self.coverage, 4),
            "box": list(self.box),
            "from_alpha": self.from_alpha,
            "colours": [c.to_dict() for c in self.colours],
            "pattern": self.pattern,
            "silhouette": self.silhouette,
            "category": self.category,
            "category_confidence": round(self.category_confidence, 2),
            "sleeves": self.sleeves,
            "length": self.length,
            "description": self.description,
            "measurements": {k: round(v, 4) for k, v in self.measurements.items()},
        }


# decoding


def _decode(data: bytes, label: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(HxWx3 RGB, HxW alpha or None). Validation (size, format, truncation) is the upload
    decoder's; the alpha is read here because the decoder flattens it onto white."""
    from PIL import Image, ImageOps

    from likeness.errors import LikenessError
    from likeness.faces.decode import decode_image

    try:
        decoded = decode_image(data)
    except LikenessError as exc:
        raise EngineError(f"{label} could not be used: {exc.message}", code="input_rejected") from exc
    if not decoded.had_alpha:
        return decoded.to_array(), None
    with Image.open(io.BytesIO(data)) as im:
        rgba = np.array((ImageOps.exif_transpose(im) or im).convert("RGBA"))
    alpha = rgba[..., 3]
    # a fully opaque (or fully clear) alpha channel says nothing about the garment
    if int((alpha < 250).sum()) < alpha.size * 0.01 or int((alpha > 5).sum()) < alpha.size * 0.005:
        return np.ascontiguousarray(rgba[..., :3]), None
    return np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(alpha)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """Float CIE LAB (L 0..100), the space dE is measured in."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


# segmentation


def _border_mask(h: int, w: int) -> np.ndarray:
    ring = max(2, round(min(h, w) * 0.02))
    mask = np.zeros((h, w), bool)
    mask[:ring] = mask[-ring:] = True
    mask[:, :ring] = mask[:, -ring:] = True
    return mask


def _background_model(lab: np.ndarray) -> tuple[np.ndarray, float]:
    """A bilinear LAB surface fitted to the border (refitted without its outliers: a garment that
    touches the edge), and the border residual's 90th percentile (dE)."""
    h, w = lab.shape[:2]
    border = _border_mask(h, w)
    ys, xs = np.nonzero(border)
    u, v = xs / max(w - 1, 1), ys / max(h - 1, 1)
    design = np.stack([np.ones_like(u), u, v, u * v], axis=1)
    values = lab[ys, xs].astype(np.float64)
    keep = np.ones(len(values), bool)
    coef = np.zeros((4, 3))
    residual = np.zeros(len(values))
    for _ in range(2):
        coef, *_ = np.linalg.lstsq(design[keep], values[keep], rcond=None)
        residual = np.linalg.norm(values - design @ coef, axis=1)
        keep = residual <= max(float(np.percentile(residual, 80)) * 2.0, MIN_DELTA_E)
    noise = float(np.percentile(residual[keep], 90)) if keep.any() else 0.0
    gu, gv = np.meshgrid(np.linspace(0, 1, w), np.linspace(0, 1, h))
    grid = np.stack([np.ones_like(gu), gu, gv, gu * gv], axis=-1)
    return (grid @ coef).astype(np.float32), noise


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Background regions that do not reach the image border become garment."""
    inverse = (mask == 0).astype(np.uint8)
    count, labels = cv2.connectedComponents(inverse, connectivity=4)
    if count <= 1:
        return mask
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    holes = (labels > 0) & ~np.isin(labels, edge)
    out = mask.copy()
    out[holes] = 255
    return out


def _largest_parts(mask: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= areas.max() * 0.25) + 1  # e.g. a pair of socks stays whole
    return np.where(np.isin(labels, keep), 255, 0).astype(np.uint8)


def _grabcut_band(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """GrabCut deciding only a band along the outline of ``mask``."""
    h, w = mask.shape
    k = max(3, round(min(h, w) * 0.015)) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    inner = cv2.erode(mask, kernel)
    outer = cv2.dilate(mask, kernel)
    gc = np.full((h, w), cv2.GC_BGD, np.uint8)
    gc[outer > 0] = cv2.GC_PR_BGD
    gc[mask > 0] = cv2.GC_PR_FGD
    gc[inner > 0] = cv2.GC_FGD
    if not (gc == cv2.GC_FGD).any() or not (gc == cv2.GC_BGD).any():
        return mask
    # only the band's box (with a margin of backdrop for the colour model) is worth the time
    ys, xs = np.nonzero(outer)
    margin = 3 * k
    y1, y2 = max(0, int(ys.min()) - margin), min(h, int(ys.max()) + 1 + margin)
    x1, x2 = max(0, int(xs.min()) - margin), min(w, int(xs.max()) + 1 + margin)
    window = np.ascontiguousarray(gc[y1:y2, x1:x2])
    if not (window == cv2.GC_BGD).any():
        return mask
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(12345)  # GrabCut's k-means init: the same photo always gives the same cut
    try:
        crop = np.ascontiguousarray(cv2.cvtColor(rgb[y1:y2, x1:x2], cv2.COLOR_RGB2BGR))
        cv2.grabCut(crop, window, (0, 0, 0, 0), bgd, fgd, 3, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return mask  # a degenerate colour model (e.g. one flat colour in the band)
    gc[y1:y2, x1:x2] = window
    refined = np.where((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    changed = float(np.count_nonzero(refined != mask)) / max(1, int(np.count_nonzero(mask)))
    return refined if changed <= _GRABCUT_MAX_CHANGE else mask


def segment_garment(rgb: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """A binary mask (HxW uint8, 255 = garment) of the garment in the HxWx3 ``rgb``, at the
    image's own size, and what was measured on the way (backdrop noise, threshold...)."""
    h, w = rgb.shape[:2]
    scale = min(1.0, WORK_SIDE / max(h, w))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1.0 else rgb
    lab = _lab(cv2.GaussianBlur(small, (3, 3), 0))
    background, noise = _background_model(lab)
    stats = {"background_noise": noise}
    if noise > BUSY_BACKGROUND:
        stats["threshold"] = math.inf
        return np.zeros((h, w), np.uint8), stats  # no plain backdrop to separate from
    threshold = max(MIN_DELTA_E, NOISE_FACTOR * noise)
    stats["threshold"] = threshold
    distance = np.linalg.norm(lab - background, axis=2)
    mask: np.ndarray = np.where(distance > threshold, 255, 0).astype(np.uint8)
    small_k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, small_k)
    close_k = max(3, round(min(sh, sw) * 0.01)) | 1
    mask = cv2.morphologyEx(
        mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close_k,) * 2)
    )
    if not mask.any():
        return np.zeros((h, w), np.uint8), stats
    mask = _fill_holes(_largest_parts(mask))
    mask = _fill_holes(_largest_parts(_grabcut_band(small, mask)))
    if scale < 1.0:
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_LINEAR)
        mask = np.where(mask >= 128, 255, 0).astype(np.uint8)
    return mask, stats


# the cut-out


def _cutout(rgb: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Tight RGBA crop (longer side at most MAX_CUTOUT_SIDE) with the backdrop's colour taken
    out of the soft edge, so the cut-out leaves no light halo on a darker photo."""
    ys, xs = np.nonzero(alpha > 8)
    pad = 2
    x1, y1 = max(0, int(xs.min()) - pad), max(0, int(ys.min()) - pad)
    x2, y2 = min(alpha.shape[1], int(xs.max()) + 1 + pad), min(alpha.shape[0], int(ys.max()) + 1 + pad)
    crop_rgb = rgb[y1:y2, x1:x2]
    crop_a = alpha[y1:y2, x1:x2]
    longest = max(crop_a.shape)
    if longest > MAX_CUTOUT_SIDE:
        s = MAX_CUTOUT_SIDE / longest
        size = (max(1, round(crop_a.shape[1] * s)), max(1, round(crop_a.shape[0] * s)))
        crop_rgb = cv2.resize(crop_rgb, size, interpolation=cv2.INTER_AREA)
        crop_a = cv2.resize(crop_a, size, interpolation=cv2.INTER_AREA)
    solid = (crop_a >= 250).astype(np.float32)
    if solid.any():
        # edge pixels take the colour of the nearby solid garment (a normalised blur)
        sigma = max(1.0, max(crop_a.shape) / 300)
        weight = cv2.GaussianBlur(solid, (0, 0), sigma)
        spread = cv2.GaussianBlur(crop_rgb.astype(np.float32) * solid[..., None], (0, 0), sigma)
        inward = spread / np.maximum(weight, 1e-4)[..., None]
        edge = ((crop_a < 250) & (weight > 1e-3))[..., None]
        crop_rgb = np.where(edge, np.clip(np.round(inward), 0, 255), crop_rgb).astype(np.uint8)
    rgba = np.dstack([crop_rgb, crop_a]).astype(np.uint8)
    return np.ascontiguousarray(rgba), (x1, y1, x2, y2)


def _encode_png(rgba: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", compress_level=4)
    return buf.getvalue()


# colours


def colour_name(lab: tuple[float, float, float] | np.ndarray) -> str:
    """A plain name from COLOUR_NAMES for a CIE LAB colour, by lightness, chroma and hue.

    The hue bands were set on sRGB references converted to LAB: red 35 deg, orange 64, yellow
    94, green 141, teal 196, light blue 259, blue 295, navy 290 (at L 18), purple 317.
    """
    lightness, a, b = (float(v) for v in lab)
    chroma = math.hypot(a, b)
    hue = math.degrees(math.atan2(b, a)) % 360.0
    if chroma < 7.0 or (lightness < 15.0 and chroma < 12.0):
        if lightness >= 86.0:
            return "white"
        if lightness >= 68.0:
            return "light grey"
        if lightness >= 38.0:
            return "grey"
        return "dark grey" if lightness >= 20.0 else "black"
    if lightness >= 85.0 and chroma < 12.0 and 60.0 <= hue < 110.0:
        return "cream"
    if hue >= 345.0 or hue < 50.0:
        if lightness >= 65.0 or (hue >= 345.0 and lightness >= 50.0):
            return "pink"
        return "burgundy" if lightness < 30.0 else "red"
    if hue < 80.0:
        return "orange" if lightness >= 50.0 and chroma >= 40.0 else "brown"
    if hue < 110.0:
        if lightness < 50.0:
            return "olive"
        return "yellow" if chroma >= 45.0 else "beige"
    if hue < 175.0:
        if lightness < 30.0:
            return "dark green"
        return "light green" if lightness >= 78.0 else "green"
    if hue < 230.0:
        return "teal"
    if hue < 300.0:
        if lightness < 25.0:
            return "navy"
        return "light blue" if lightness >= 60.0 else "blue"
    return "lavender" if lightness >= 65.0 else "purple"


def _hex(lab: np.ndarray) -> str:
    rgb = cv2.cvtColor(lab.reshape(1, 1, 3).astype(np.float32), cv2.COLOR_LAB2RGB)[0, 0]
    r, g, b = (int(np.clip(round(float(v) * 255.0), 0, 255)) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def _dominant_colours(lab_pixels: np.ndarray) -> tuple[GarmentColour, ...]:
    """k-means (k=3) in LAB, then centres closer than _MERGE_DELTA_E merged (two shades of one
    weave are one colour) and shares under _MIN_COLOUR_SHARE dropped (edge blends)."""
    samples = lab_pixels.astype(np.float32)
    if len(samples) > 8000:
        samples = samples[:: len(samples) // 8000 + 1]  # a deterministic subsample
    k = min(_MAX_COLOURS, len(samples))
    cv2.setRNGSeed(7)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.2)
    _, labels, centres = cv2.kmeans(samples, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)  # type: ignore[call-overload]
    counts = np.bincount(labels.ravel(), minlength=k).astype(np.float64)
    groups = [(centres[i].astype(np.float64), counts[i]) for i in range(k) if counts[i] > 0]
    while len(groups) > 1:
        pairs = [
            (float(np.linalg.norm(groups[i][0] - groups[j][0])), i, j)
            for i in range(len(groups))
            for j in range(i + 1, len(groups))
        ]
        distance, i, j = min(pairs)
        if distance >= _MERGE_DELTA_E:
            break
        (ci, ni), (cj, nj) = groups[i], groups[j]
        merged = ((ci * ni + cj * nj) / (ni + nj), ni + nj)
        groups = [g for n, g in enumerate(groups) if n not in (i, j)] + [merged]
    total = sum(n for _, n in groups)
    kept = [(c, n / total) for c, n in groups if n / total >= _MIN_COLOUR_SHARE]
    norm = sum(s for _, s in kept)
    kept.sort(key=lambda cs: -cs[1])
    return tuple(
        GarmentColour(
            hex=_hex(c),
            name=colour_name(c),
            share=s / norm,
            lab=(float(c[0]), float(c[1]), float(c[2])),
        )
        for c, s in kept
    )


# pattern


def _periodicity(profile: np.ndarray) -> tuple[float, float]:
    """(autocorrelation at the strongest repeat, its period in samples) of a 1-D profile; (0, 0)
    when nothing repeats at least three times."""
    n = len(profile)
    if n < 12:
        return 0.0, 0.0
    x = profile - profile.mean()
    denom = float((x * x).sum())
    if denom <= 1e-9:
        return 0.0, 0.0
    full = np.correlate(x, x, mode="full")[n - 1 :] / denom
    below = np.flatnonzero(full < 0)
    if below.size == 0:
        return 0.0, 0.0
    start = int(below[0])
    stop = max(start + 1, n // 3)
    if start >= stop:
        return 0.0, 0.0
    lag = start + int(np.argmax(full[start:stop]))
    return float(full[lag]), float(lag)


def _pattern(
    lightness: np.ndarray, mask: np.ndarray, colours: tuple[GarmentColour, ...]
) -> tuple[str, dict[str, float]]:
    """Stripes: the lightness changes along one axis and repeats. ``explained`` is the share of
    the lightness variance that row (or column) means explain: near 1 for horizontal stripes
    (every row is one colour), near 0 for a solid or an irregular print."""
    inside = mask > 0
    values = lightness[inside]
    spread = float(values.std()) if values.size else 0.0
    found: dict[str, float] = {"lightness_spread": spread}
    axes = {}
    for axis, name in ((1, "rows"), (0, "columns")):
        counts = inside.sum(axis=axis)
        sums = np.where(inside, lightness, 0.0).sum(axis=axis)
        enough = counts >= max(3, 0.2 * counts.max())
        means = sums[enough] / counts[enough]
        weights = counts[enough].astype(np.float64)
        explained = (
            float(np.average((means - values.mean()) ** 2, weights=weights)) / (spread**2)
            if spread > 0 and means.size
            else 0.0
        )
        repeat, period = _periodicity(means)
        found[f"{name}_explained"] = explained
        found[f"{name}_repeat"] = repeat
        found[f"{name}_period_px"] = period
        axes[name] = (explained, repeat)
    if spread < 6.0:
        return "solid", found
    striped = {name: e >= 0.45 and r >= 0.3 for name, (e, r) in axes.items()}
    if axes["rows"][0] >= 0.2 and axes["columns"][0] >= 0.2 and min(r for _, r in axes.values()) >= 0.3:
        return "checked", found
    if striped["rows"] and axes["rows"][0] >= axes["columns"][0]:
        return "horizontal stripes", found
    if striped["columns"]:
        return "vertical stripes", found
    distinct = [c for c in colours if c.share >= 0.1]
    if len(distinct) >= 2:
        return "mixed colours", found
    return "solid", found


# shape


def _runs(row: np.ndarray, min_gap: int, min_run: int) -> list[tuple[int, int]]:
    """The filled spans of a mask row, gaps narrower than ``min_gap`` bridged."""
    xs = np.flatnonzero(row)
    if xs.size == 0:
        return []
    spans = []
    start = prev = int(xs[0])
    for x in xs[1:]:
        x = int(x)
        if x - prev > min_gap:
            spans.append((start, prev))
            start = x
        prev = x
    spans.append((start, prev))
    return [(a, b) for a, b in spans if b - a + 1 >= min_run]


@dataclass
class _Shape:
    aspect: float  # height / width of the mask's box
    extent: np.ndarray  # per row: leftmost-to-rightmost / box width
    filled: np.ndarray  # per row: garment pixels / box width
    runs: list[list[tuple[int, int]]]
    width: int
    height: int

    def band(self, values: np.ndarray, low: float, high: float) -> float:
        a, b = round(low * self.height), max(round(low * self.height) + 1, round(high * self.height))
        part = values[a:b]
        return float(np.median(part)) if part.size else 0.0


def _shape(mask: np.ndarray) -> _Shape:
    ys, xs = np.nonzero(mask)
    box = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] > 0
    h, w = box.shape
    min_gap, min_run = max(2, round(w * 0.02)), max(2, round(w * 0.02))
    runs = [_runs(row, min_gap, min_run) for row in box]
    extent = np.array([(r[-1][1] - r[0][0] + 1) / w if r else 0.0 for r in runs])
    filled = box.sum(axis=1) / w
    return _Shape(aspect=h / w, extent=extent, filled=filled, runs=runs, width=w, height=h)


def _leg_gap(shape: _Shape) -> float:
    """How far up from the hem two separate legs reach, as a share of the height (0: none).
    A leg gap is two spans with the gap between them near the middle."""
    reach = 0
    for row in reversed(range(shape.height)):
        spans = shape.runs[row]
        if len(spans) < 2:
            if reach < shape.height * 0.02:  # the hem's first rows can be ragged
                reach = 0
                continue
            break
        gap_mid = (spans[0][1] + spans[-1][0]) / 2.0 / shape.width
        if not 0.3 <= gap_mid <= 0.7:
            break
        reach += 1
    return reach / shape.height


def _sleeves(shape: _Shape) -> tuple[float, float, float]:
    """(sleeve ratio, where the sleeves end, share of middle rows with three spans).

    Ratio: the widest row in the upper 45% over the body width lower down; a T-shirt laid flat
    measures ~1.7, a dress or trousers ~1. The end is the first row below the widest one back
    within 15% of the body width."""
    body = shape.band(shape.filled, 0.6, 0.9)
    top = shape.extent[: max(1, round(shape.height * 0.45))]
    widest = int(np.argmax(top))
    ratio = float(top[widest]) / max(body, 1e-6)
    end = shape.height
    for row in range(widest, shape.height):
        if shape.extent[row] <= body * 1.15:
            end = row
            break
    middle = shape.runs[round(shape.height * 0.45) : round(shape.height * 0.85)]
    three = sum(1 for spans in middle if len(spans) >= 3) / max(1, len(middle))
    return ratio, end / shape.height, three


def _describe_shape(shape: _Shape) -> tuple[str, float, str | None, str, str, dict[str, float]]:
    """(category, confidence, sleeves, silhouette, length, measurements)."""
    top_w = shape.band(shape.extent, 0.05, 0.2)
    mid_w = shape.band(shape.extent, 0.45, 0.55)
    bottom_w = shape.band(shape.extent, 0.82, 0.95)
    waist_w = float(np.min(shape.extent[round(shape.height * 0.25) : max(round(shape.height * 0.6), 1)]))
    leg_gap = _leg_gap(shape)
    sleeve_ratio, sleeve_end, three_spans = _sleeves(shape)
    flare = bottom_w / max(mid_w, 1e-6)
    m = {
        "aspect": shape.aspect,
        "top_width": top_w,
        "middle_width": mid_w,
        "bottom_width": bottom_w,
        "waist_width": waist_w,
        "flare": flare,
        "leg_gap": leg_gap,
        "sleeve_ratio": sleeve_ratio,
        "sleeve_end": sleeve_end,
        "three_span_rows": three_spans,
        "body_width": shape.band(shape.filled, 0.6, 0.9),
    }

    sleeves: str | None = None
    if leg_gap >= 0.12 and shape.aspect >= 0.6:
        category = "trousers"
        confidence = 0.55 + 0.35 * min(1.0, (leg_gap - 0.12) / 0.25)
        # legs: thigh width against hem width
        thigh = shape.band(shape.filled, 1.0 - leg_gap + 0.02, 1.0 - leg_gap + 0.12)
        hem = shape.band(shape.filled, 0.9, 0.98)
        m["leg_taper"] = hem / max(thigh, 1e-6)
        silhouette = (
            "A-line/flared" if m["leg_taper"] >= 1.2 else "tapered" if m["leg_taper"] <= 0.75 else "straight"
        )
        length = "long" if shape.aspect >= 1.5 else "short" if shape.aspect < 1.0 else "regular"
        m["torso_width"] = shape.band(shape.extent, 0.0, 0.06)  # the waistband
        return category, confidence, sleeves, silhouette, length, m

    has_sleeves = sleeve_ratio >= 1.3 or three_spans >= 0.5
    if has_sleeves:
        sleeves = "long" if three_spans >= 0.5 or sleeve_end >= 0.6 else "short"
    if flare >= 1.2:
        silhouette = "A-line/flared"
    elif waist_w < 0.85 * min(top_w, bottom_w):
        silhouette = "fitted"
    elif flare <= 0.8:
        silhouette = "tapered"
    else:
        silhouette = "straight"

    tall_for_a_top = 1.8 if has_sleeves else 1.45
    if shape.aspect >= tall_for_a_top and flare >= 0.9:
        category = "dress/skirt"
        margin = min(1.0, (shape.aspect - tall_for_a_top) / 0.5) * 0.5 + min(1.0, (flare - 0.9) / 0.4) * 0.5
        confidence = 0.5 + 0.35 * margin
        sleeves = sleeves or "none"
        length = "long" if shape.aspect >= 2.3 else "knee" if shape.aspect >= 1.45 else "short"
        m["torso_width"] = shape.band(shape.filled, 0.08, 0.25)
    elif has_sleeves:
        category = "top"
        confidence = 0.55 + 0.35 * min(1.0, (max(sleeve_ratio, 1.3) - 1.3) / 0.4)
        length = "long" if shape.aspect >= 1.6 else "short" if shape.aspect < 0.8 else "regular"
        m["torso_width"] = m["body_width"]
    elif shape.aspect < 1.45:
        category = "top"  # no sleeves seen: a vest or tank top, or something else entirely
        confidence = 0.35
        sleeves = "none"
        length = "short" if shape.aspect < 0.8 else "regular"
        m["torso_width"] = m["body_width"]
    else:
        category, confidence, length = "unknown", 0.0, "regular"
        m["torso_width"] = m["body_width"]
    return category, confidence, sleeves, silhouette, length, m


# the sentence


def _colour_phrase(colours: tuple[GarmentColour, ...]) -> str:
    names: list[str] = []
    for c in colours:
        if c.name not in names:
            names.append(c.name)
    names.sort(key=lambda n: n in _LIGHT_NAMES)  # stable: "navy and white", not "white and navy"
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _sentence(
    colours: tuple[GarmentColour, ...],
    category: str,
    sleeves: str | None,
    pattern: str,
    silhouette: str,
    length: str,
) -> str:
    noun = {
        "top": "top",
        "dress/skirt": "dress or skirt",
        "trousers": "trousers",
        "unknown": "garment of unclear type",
    }[category]
    if category == "trousers":
        noun = {"long": "full-length trousers", "short": "shorts", "regular": "cropped trousers"}[length]
    elif category == "dress/skirt":
        noun = {
            "long": "long dress or skirt",
            "knee": "knee-length dress or skirt",
            "short": "short dress or skirt",
        }[length]
    elif category == "top" and length == "long":
        noun = "long top"
    colour = _colour_phrase(colours)
    head = f"{colour} {noun}".strip()
    if sleeves in ("short", "long"):
        head += f" with {sleeves} sleeves"
    elif sleeves == "none" and category == "top":
        head += " without sleeves"
    pattern_text = "solid colour" if pattern == "solid" else pattern
    return f"{head[:1].upper()}{head[1:]}, {pattern_text}, {silhouette} silhouette."


# entry point


def analyze_garment(data: bytes, *, label: str = "the garment image") -> GarmentAnalysis:
    """Cut the garment in ``data`` (JPEG / PNG / WebP) out of its background and describe it.

    Raises ``EngineError``: ``input_rejected`` when the bytes are not a usable image,
    ``garment_not_found`` when nothing garment-like separates from the background.
    """
    rgb, alpha = _decode(data, label)
    h, w = rgb.shape[:2]
    stats: dict[str, float] = {}
    if alpha is not None:
        mask = np.where(alpha >= 128, 255, 0).astype(np.uint8)
        soft = alpha
    else:
        mask, stats = segment_garment(rgb)
        # a soft edge about a pixel wide at the work scale
        sigma = max(0.6, max(h, w) / WORK_SIDE * 0.6)
        soft = cv2.GaussianBlur(mask, (0, 0), sigma) if mask.any() else mask
    coverage = float(np.count_nonzero(mask)) / mask.size
    if not MIN_COVERAGE <= coverage <= MAX_COVERAGE:
        why = (
            "its background is not plain enough to separate a garment from"
            if stats.get("threshold") == math.inf
            else "nothing separates from its background"
            if coverage < MIN_COVERAGE
            else "no background is left around the garment"
        )
        raise EngineError(
            f"no garment was found in {label}: {why}; send a photo of one garment on a plain "
            "background, or a cut-out PNG with transparency",
            code="garment_not_found",
            missing=label,
        )

    rgba, box = _cutout(rgb, soft)
    # measure at the work scale: shape cues are scale-free and k-means needs no more pixels
    scale = min(1.0, WORK_SIDE / max(h, w))
    small_mask = (
        mask
        if scale >= 1.0
        else cv2.resize(
            mask, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_NEAREST
        )
    )
    small_rgb = (
        rgb
        if scale >= 1.0
        else cv2.resize(rgb, (small_mask.shape[1], small_mask.shape[0]), interpolation=cv2.INTER_AREA)
    )
    lab = _lab(small_rgb)
    inner = cv2.erode(small_mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    if np.count_nonzero(inner) < 50:
        inner = small_mask  # a thin garment: keep its edge pixels rather than nothing
    colours = _dominant_colours(lab[inner > 0])
    pattern, pattern_stats = _pattern(lab[..., 0], inner, colours)
    shape = _shape(small_mask)
    category, confidence, sleeves, silhouette, length, shape_stats = _describe_shape(shape)
    measurements = {**stats, **pattern_stats, **shape_stats, "coverage": coverage}
    measurements = {k: float(v) for k, v in measurements.items() if math.isfinite(v)}
    return GarmentAnalysis(
        label=label,
        cutout_png=_encode_png(rgba),
        width=int(rgba.shape[1]),
        height=int(rgba.shape[0]),
        coverage=coverage,
        box=box,
        source_size=(w, h),
        from_alpha=alpha is not None,
        colours=colours,
        pattern=pattern,
        silhouette=silhouette,
        category=category,
        category_confidence=round(confidence, 2),
        sleeves=sleeves,
        length=length,
        description=_sentence(colours, category, sleeves, pattern, silhouette, length),
        measurements=measurements,
        rgba=rgba,
    )
