"""Try-on: garment cut-outs placed on a person from the proportions of their face.

There is no body model. From the 68 face landmarks we take the chin, the eye line and the
face width; the head height is twice the eye-to-chin distance (the eyes sit halfway down an
adult head), and the body is measured down from the chin in head heights (``ANCHORS``, a
figure about 7.3 heads tall): neck 0.2, trouser waist 2.0, hip 2.6, knee 4.1, ankle 5.9. The
shoulders are ``SHOULDER_FACE_WIDTHS`` face-box widths across.

Each garment is scaled by its category (a top from the neck to the hip, a dress from the
neck to the knee, trousers from the waist to the ankle, longer or shorter by the garment's
length cue) and by its measured torso width against the person's; the two scales may differ
by at most ``MAX_STRETCH`` (a flat-lay is wider than a worn garment). Garments are layered
trousers, then dress, then top; each is composited with a feathered alpha and a faint contact
shadow, never over the face (its landmark hull is protected). The garments take the colour
cast and exposure of the person's brightest pixels (``lighting``) and darken a little towards
their outline. Where a garment or the frame reaches past the photo the canvas grows: the
photo's edges are replicated, blurred and faded to its mean edge colour (or the requested
background colour).

It cannot drape or warp a garment to the pose (arms crossed in front stay behind the
garment), invent the body below a cropped photo, or show the person from behind: a back
camera renders the garments' back images alone, at the person's scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from likeness.engines.classical.garments import GarmentAnalysis

__all__ = [
    "ANCHORS",
    "CAMERA_ASPECTS",
    "LAYER_ORDER",
    "Person",
    "Placement",
    "camera_window",
    "jitter_for",
    "lighting",
    "person_from_landmarks",
    "place_garment",
    "render",
]

Box = tuple[float, float, float, float]

# in head heights below the chin: a figure about 7.3 heads tall, as people measure in photos
# (biden.jpg: crossed arms 1.0, jacket button at the waist 2.0, jacket hem 2.8 head heights
# below the chin); the eight-heads drawing canon put the waist at 2.1 but the knee at 4.8
ANCHORS = {
    "head_top": -1.25,  # with some hair
    "neck": 0.2,  # where a collar sits
    "waist": 2.0,  # a trouser waistband
    "hip": 2.6,  # a top's hem
    "short_hem": 3.3,  # shorts, a short dress
    "knee": 4.1,
    "calf": 4.9,  # cropped trousers
    "long_hem": 5.6,  # a long dress
    "ankle": 5.9,
    "feet": 6.3,
}
SHOULDER_FACE_WIDTHS = 2.6  # shoulders across, in face-box widths (2.2-2.6 for bare shoulders)
# the garment's torso width against the shoulders: a worn top shows about 0.9 of them
TORSO_SHARE = {"top": 0.9, "dress/skirt": 0.8, "trousers": 0.85, "unknown": 0.9}
MAX_STRETCH = 1.15  # horizontal and vertical scales stay within this factor of their mean
LAYER_ORDER = {"trousers": 0, "dress/skirt": 1, "top": 2, "unknown": 3}
FORM_SHADING = 0.12  # how much darker a garment gets at its outline
LIGHT_STRENGTH = 0.5  # how far the garment takes on the photo's colour cast
# the framing cameras' aspect when the request names none ("photo" keeps the photo's own)
CAMERA_ASPECTS = {"upper_body_front": (4, 5), "full_body_front": (9, 16), "full_body_back": (9, 16)}
BACK_VIEW_FILL = (244, 244, 242)  # a plain studio grey behind garments shown alone
JITTER = {"shift_x": 0.04, "shift_y": 0.04, "scale": 0.04}  # per output, +- these shares


@dataclass(frozen=True)
class Person:
    """Body estimates in photo pixels, from one face."""

    face_box: Box
    landmarks: np.ndarray  # (68, 2)
    chin: tuple[float, float]
    head: float  # head height (twice eye line to chin)
    shoulder_width: float

    def y(self, anchor: str | float) -> float:
        heads = ANCHORS[anchor] if isinstance(anchor, str) else anchor
        return self.chin[1] + heads * self.head

    @property
    def centre_x(self) -> float:
        return self.chin[0]

    def scaled(self, f: float, dx: float, dy: float) -> dict[str, object]:
        """The estimates in output pixels (for details)."""
        x1, y1, x2, y2 = self.face_box
        return {
            "face_box": [
                round(x1 * f + dx, 1),
                round(y1 * f + dy, 1),
                round(x2 * f + dx, 1),
                round(y2 * f + dy, 1),
            ],
            "chin": [round(self.chin[0] * f + dx, 1), round(self.chin[1] * f + dy, 1)],
            "neck_y": round(self.y("neck") * f + dy, 1),
            "shoulder_width": round(self.shoulder_width * f, 1),
            "head_height": round(self.head * f, 1),
        }


def person_from_landmarks(landmarks: np.ndarray, face_box: Box) -> Person:
    pts = np.asarray(landmarks, dtype=np.float64)
    eyes = pts[36:48].mean(axis=0)
    chin = pts[8]
    head = 2.0 * max(float(np.linalg.norm(chin - eyes)), 1.0)
    face_width = max(face_box[2] - face_box[0], float(pts[16, 0] - pts[0, 0]))
    return Person(
        face_box=face_box,
        landmarks=pts,
        chin=(float(chin[0]), float(chin[1])),
        head=head,
        shoulder_width=SHOULDER_FACE_WIDTHS * face_width,
    )


@dataclass(frozen=True)
class Placement:
    garment: int  # index into the request's garment_images
    category: str
    box: Box  # where the cut-out goes, photo pixels
    scale: tuple[float, float]  # cut-out px -> photo px, x and y
    span: tuple[str, str]  # the anchors it runs between

    def to_dict(self, f: float, dx: float, dy: float) -> dict[str, object]:
        x1, y1, x2, y2 = self.box
        return {
            "garment": self.garment,
            "category": self.category,
            "box": [
                round(x1 * f + dx, 1),
                round(y1 * f + dy, 1),
                round(x2 * f + dx, 1),
                round(y2 * f + dy, 1),
            ],
            "scale": [round(self.scale[0] * f, 4), round(self.scale[1] * f, 4)],
            "from": self.span[0],
            "to": self.span[1],
        }


def _span(category: str, length: str) -> tuple[str, str]:
    if category == "trousers":
        return "waist", {"long": "ankle", "regular": "calf", "short": "short_hem"}.get(length, "ankle")
    if category == "dress/skirt":
        return "neck", {"long": "long_hem", "knee": "knee", "short": "short_hem"}.get(length, "knee")
    # a top (or an unknown garment, dressed like one)
    return "neck", {"long": "short_hem", "short": "waist"}.get(length, "hip")


def jitter_for(seed: int, index: int) -> dict[str, float]:
    """The small, deterministic placement change of output ``index`` (shares of the person)."""
    rng = np.random.default_rng([seed, index])
    return {name: float(rng.uniform(-amount, amount)) for name, amount in JITTER.items()}


def place_garment(
    index: int, garment: GarmentAnalysis, person: Person, jitter: dict[str, float] | None = None
) -> Placement:
    category = garment.category if garment.category in LAYER_ORDER else "unknown"
    top_anchor, bottom_anchor = _span(category, garment.length)
    top, bottom = person.y(top_anchor), person.y(bottom_anchor)
    torso = garment.measurements.get("torso_width", 0.6) * garment.width
    sx = TORSO_SHARE[category] * person.shoulder_width / max(torso, 1.0)
    sy = (bottom - top) / max(garment.height, 1)
    mean = math.sqrt(sx * sy)
    sx = min(max(sx, mean / MAX_STRETCH), mean * MAX_STRETCH)
    sy = min(max(sy, mean / MAX_STRETCH), mean * MAX_STRETCH)
    j = jitter or {}
    grow = 1.0 + j.get("scale", 0.0)
    sx, sy = sx * grow, sy * grow
    width, height = garment.width * sx, garment.height * sy
    cx = person.centre_x + j.get("shift_x", 0.0) * person.shoulder_width
    y1 = top + j.get("shift_y", 0.0) * person.head
    return Placement(
        garment=index,
        category=category,
        box=(cx - width / 2.0, y1, cx + width / 2.0, y1 + height),
        scale=(sx, sy),
        span=(top_anchor, bottom_anchor),
    )


def lighting(photo: np.ndarray, person: Person) -> np.ndarray:
    """RGB gains that give a garment the light of the person's region: its colour cast and
    exposure, read from the region's brightest pixels (a white-patch estimate of the light).

    Local brightness under the garment was tried first and dropped: it is the person's own
    clothes (a dark suit, a white shirt) far more than light, and printed them onto the garment.
    """
    h, w = photo.shape[:2]
    x1 = max(0, int(person.centre_x - person.shoulder_width))
    x2 = min(w, int(person.centre_x + person.shoulder_width))
    y1 = max(0, int(person.y("head_top")))
    y2 = min(h, int(person.y("hip")))
    step = max(1, round(math.sqrt((y2 - y1) * (x2 - x1) / 250_000)))  # a sample is enough
    region = photo[y1:y2:step, x1:x2:step].reshape(-1, 3).astype(np.float32)
    if len(region) < 100:
        return np.ones(3, np.float32)
    luma = region @ np.array([0.299, 0.587, 0.114], np.float32)
    bright = region[luma >= np.percentile(luma, 97)]
    white = bright.mean(axis=0)
    cast = np.clip(1.0 + LIGHT_STRENGTH * (white / max(float(white.mean()), 1.0) - 1.0), 0.92, 1.08)
    exposure = float(np.clip(math.sqrt(float(white.mean()) / 235.0), 0.8, 1.03))
    return (cast * exposure).astype(np.float32)


# framing


def _union(*boxes: Box) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def _grow(box: Box, by: float) -> Box:
    return box[0] - by, box[1] - by, box[2] + by, box[3] + by


def _grow_to_aspect(box: Box, aspect: tuple[int, int]) -> Box:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    ratio = aspect[0] / aspect[1]
    if w / h < ratio:
        extra = (h * ratio - w) / 2.0
        return x1 - extra, y1, x2 + extra, y2
    extra = (w / ratio - h) / 2.0
    return x1, y1 - extra, x2, y2 + extra


def _fit(needed: Box, bounds: Box, aspect: tuple[int, int] | None) -> Box:
    """The largest window of ``aspect`` inside ``bounds`` that holds ``needed`` (``bounds``
    itself without an aspect); when none fits, the smallest window of ``aspect`` around
    ``needed`` (the canvas grows)."""
    if aspect is None:
        return bounds
    ratio = aspect[0] / aspect[1]
    bw, bh = bounds[2] - bounds[0], bounds[3] - bounds[1]
    w = min(bw, bh * ratio)
    h = w / ratio
    nw, nh = needed[2] - needed[0], needed[3] - needed[1]
    if w < nw - 1e-6 or h < nh - 1e-6:
        return _grow_to_aspect(needed, aspect)
    cx, cy = (needed[0] + needed[2]) / 2.0, (needed[1] + needed[3]) / 2.0
    x1 = min(max(cx - w / 2.0, max(bounds[0], needed[2] - w)), min(bounds[2] - w, needed[0]))
    y1 = min(max(cy - h / 2.0, max(bounds[1], needed[3] - h)), min(bounds[3] - h, needed[1]))
    return x1, y1, x1 + w, y1 + h


def camera_window(
    camera: str,
    person: Person,
    placements: Sequence[Placement],
    photo_size: tuple[int, int],
    aspect: tuple[int, int] | None,
) -> Box:
    """The part of the (extended) photo an output shows, in photo pixels.

    ``photo``: the photo itself, grown only where a garment reaches past it. ``upper_body_*``:
    head to hip. ``full_body_*``: head to feet. Without ``aspect`` the photo keeps its own
    shape; the other cameras default to 4:5 (upper body) and 9:16 (full body).
    """
    pw, ph = photo_size
    margin = 0.1 * person.head
    # jittered outputs move garments by up to a few percent: leave them room
    slack = max(JITTER["shift_x"] * person.shoulder_width, JITTER["shift_y"] * person.head) + margin
    garments = _grow(_union(*(p.box for p in placements)), slack) if placements else None
    cx, hh = person.centre_x, person.head
    head = (cx - 0.75 * hh, person.y("head_top"), cx + 0.75 * hh, person.chin[1] + margin)
    if camera == "photo":
        photo: Box = (0.0, 0.0, float(pw), float(ph))
        clipped_head = (max(head[0], 0.0), max(head[1], 0.0), min(head[2], pw), min(head[3], ph))
        needed = _union(clipped_head, garments) if garments else clipped_head
        return _fit(needed, _union(photo, needed), aspect)
    if camera.startswith("upper_body"):
        bottom = person.y("hip") + 0.3 * hh
        needed = (cx - 1.3 * hh, head[1], cx + 1.3 * hh, bottom)
        for p in placements:
            if p.box[1] < bottom:  # sleeves wider than the frame stay in it
                needed = (
                    min(needed[0], p.box[0] - margin),
                    needed[1],
                    max(needed[2], p.box[2] + margin),
                    needed[3],
                )
        return _grow_to_aspect(needed, aspect or CAMERA_ASPECTS[camera])
    needed = (cx - 1.7 * hh, head[1], cx + 1.7 * hh, person.y("feet"))
    if garments:
        needed = _union(needed, garments)
    return _grow_to_aspect(needed, aspect or CAMERA_ASPECTS[camera])


# rendering


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = image.shape[:2]
    if (w, h) == size:
        return image
    shrink = size[0] < w or size[1] < h
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def _wide_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur; wide ones run on a smaller copy (a sigma of 60 px costs ~10x more at full
    size, and the result has no detail a shrunken copy would lose)."""
    if sigma <= 6.0:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    h, w = image.shape[:2]
    step = sigma / 3.0
    small = cv2.resize(
        image, (max(1, round(w / step)), max(1, round(h / step))), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), 3.0), (w, h), interpolation=cv2.INTER_LINEAR)


def _edge_colour(image: np.ndarray) -> np.ndarray:
    ring = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(np.float32)
    return ring.mean(axis=0)


def _photo_layer(
    photo: np.ndarray, window: Box, f: float, out: tuple[int, int], fill: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(canvas float32 RGB, photo coverage 0..1) of the output: the photo scaled by ``f`` and
    moved to the window; where the window leaves the photo, its edges replicated and blurred,
    fading to ``fill`` (default: the photo's mean edge colour) within a head or so."""
    out_w, out_h = out
    h, w = photo.shape[:2]
    rw, rh = max(1, round(w * f)), max(1, round(h * f))
    resized = _resize(photo, (rw, rh))
    ox, oy = round(-window[0] * f), round(-window[1] * f)
    top, left = max(0, oy), max(0, ox)
    bottom, right = max(0, out_h - (oy + rh)), max(0, out_w - (ox + rw))
    padded = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_REPLICATE)
    cx0, cy0 = left - ox, top - oy
    canvas = padded[cy0 : cy0 + out_h, cx0 : cx0 + out_w].astype(np.float32)
    inside = np.zeros((out_h, out_w), np.uint8)
    inside[max(0, oy) : min(out_h, oy + rh), max(0, ox) : min(out_w, ox + rw)] = 255
    if inside.all():
        return canvas, np.ones((out_h, out_w), np.float32)
    flat = fill.astype(np.float32) if fill is not None else _edge_colour(photo)
    # a wide blur: replicated edges are streaks, which read as a glitch rather than a backdrop
    sigma = max(2.0, 0.06 * min(out_w, out_h))
    smeared = _wide_blur(canvas, sigma)
    outside_distance = cv2.distanceTransform(255 - inside, cv2.DIST_L2, 5)
    fade = np.clip(outside_distance / max(1.0, 0.08 * max(out_w, out_h)), 0.0, 1.0)[..., None]
    extended = smeared * (1.0 - fade) + flat * fade
    # a soft seam: the photo's last few pixels blend into the smeared edge
    inside_distance = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    # (distanceTransform does not count the canvas's own border as a seam)
    coverage = np.clip(inside_distance / max(2.0, 0.01 * max(out_w, out_h)), 0.0, 1.0)
    a = coverage[..., None]
    return canvas * a + extended * (1.0 - a), coverage


def _face_guard(person: Person, f: float, dx: float, dy: float, size: tuple[int, int]) -> np.ndarray:
    """1 where a garment may go, 0 over the face (jaw line up to above the brows), soft edged."""
    pts = person.landmarks
    up = pts[27] - pts[8]
    brows_raised = pts[17:27] + up / max(float(np.linalg.norm(up)), 1e-6) * 0.35 * float(np.linalg.norm(up))
    hull = cv2.convexHull(np.round(np.vstack([pts[:17], brows_raised]) * f + [dx, dy]).astype(np.int32))
    mask: np.ndarray = np.zeros((size[1], size[0]), np.uint8)
    cv2.fillConvexPoly(mask, hull, 255)
    grow = max(3, round(0.06 * person.head * f)) | 1
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, grow / 4))
    return 1.0 - mask.astype(np.float32) / 255.0


def _composite_garment(
    canvas: np.ndarray,
    rgba: np.ndarray,
    box: Box,
    guard: np.ndarray | None,
    light: np.ndarray,
) -> None:
    """``rgba`` resized into ``box`` (output px), lit by ``light`` (RGB gains) and laid over
    ``canvas`` in place."""
    out_h, out_w = canvas.shape[:2]
    x1, y1 = round(box[0]), round(box[1])
    gw, gh = max(1, round(box[2] - box[0])), max(1, round(box[3] - box[1]))
    garment = _resize(rgba, (gw, gh))
    # the part inside the canvas
    cx1, cy1 = max(0, x1), max(0, y1)
    cx2, cy2 = min(out_w, x1 + gw), min(out_h, y1 + gh)
    if cx2 <= cx1 or cy2 <= cy1:
        return
    part = garment[cy1 - y1 : cy2 - y1, cx1 - x1 : cx2 - x1]
    colour: np.ndarray = part[..., :3].astype(np.float32)
    alpha: np.ndarray = part[..., 3].astype(np.float32) / 255.0
    feather = max(0.5, 0.003 * max(gw, gh))
    alpha = cv2.GaussianBlur(alpha, (0, 0), feather)

    # a faint contact shadow just below and around the garment's edges
    shadow_sigma = max(1.0, 0.012 * gh)
    shifted: np.ndarray = np.zeros_like(alpha)
    drop = max(1, round(0.006 * gh))
    shifted[drop:] = alpha[:-drop]
    shadow: np.ndarray = _wide_blur(shifted, shadow_sigma) * (1.0 - alpha) * 0.22
    if guard is not None:
        shadow = shadow * guard[cy1:cy2, cx1:cx2]
        alpha = alpha * guard[cy1:cy2, cx1:cx2]
    region = canvas[cy1:cy2, cx1:cx2] * (1.0 - shadow)[..., None]

    # form: a flat-lay is evenly lit; worn cloth turns away from the light towards its outline
    inside = cv2.distanceTransform((alpha > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    form = 1.0 - FORM_SHADING * np.exp(-inside / max(1.0, 0.05 * gw))
    colour = colour * form[..., None] * light
    a = alpha[..., None]
    canvas[cy1:cy2, cx1:cx2] = region * (1.0 - a) + colour * a


def render(
    photo: np.ndarray,
    person: Person,
    layers: Sequence[tuple[GarmentAnalysis, Placement]],
    window: Box,
    out: tuple[int, int],
    *,
    fill: tuple[int, int, int] | None = None,
    person_alpha: np.ndarray | None = None,
    show_person: bool = True,
    light: np.ndarray | None = None,
) -> np.ndarray:
    """The output (HxWx3 uint8 RGB, ``out`` = (width, height)): the photo framed to ``window``,
    the garments laid on in order. ``person_alpha`` (HxW of the photo) cuts the person out
    onto ``fill``; ``show_person=False`` leaves only the garments on ``fill`` (default
    ``BACK_VIEW_FILL``: a back view). ``light``: RGB gains for the garments (``lighting``)."""
    out_w, out_h = out
    f = out_w / (window[2] - window[0])
    dx, dy = -window[0] * f, -window[1] * f
    fill_colour = np.asarray(fill, np.float32) if fill is not None else None
    if not show_person:
        base = fill_colour if fill_colour is not None else np.asarray(BACK_VIEW_FILL, np.float32)
        canvas: np.ndarray = np.empty((out_h, out_w, 3), np.float32)
        canvas[:] = base
        guard = None
    else:
        canvas, _ = _photo_layer(photo, window, f, out, fill_colour)
        if person_alpha is not None and fill_colour is not None:
            cut, _ = _photo_layer(np.repeat(person_alpha[..., None], 3, axis=2), window, f, out, np.zeros(3))
            a = np.clip(cut[..., :1] / 255.0, 0.0, 1.0)
            canvas = canvas * a + fill_colour * (1.0 - a)
        guard = _face_guard(person, f, dx, dy, out)
    gains = np.ones(3, np.float32) if light is None else np.asarray(light, np.float32)
    for garment, placement in layers:
        x1, y1, x2, y2 = placement.box
        _composite_garment(
            canvas, garment.rgba, (x1 * f + dx, y1 * f + dy, x2 * f + dx, y2 * f + dy), guard, gains
        )
    return np.clip(np.round(canvas), 0, 255).astype(np.uint8)
