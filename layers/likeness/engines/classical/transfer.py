"""Face transfer: put one person's face onto another person's head in a base photo.

Steps, each there because the face descriptor (and a viewer) would notice without it:

1. Target shape. The identity's points are aligned onto the base face (similarity on brows,
   eyes, nose and mouth), then the base points move ``identity_shape`` of the way towards
   them. Keeping the base face's outline (0.0) leaves the base person's proportions, which
   the descriptor reads: obama.jpg onto rose_leslie_img1.jpg is 0.70 from Obama at 0.0 (no
   match), 0.49 at 0.5 and 0.29 at 1.0; onto biden.jpg 0.44, 0.29 and 0.23.
2. Reshape the base photo so its face points move onto the target shape (a piecewise affine
   warp between the face points and a fixed ring of anchors): the head, jaw line and neck
   follow the new face instead of showing a double outline.
3. Warp the identity face (68 points + a forehead band, so the mask covers brows to chin and
   part of the forehead) onto the target shape.
4. Match its colour to the base face (Reinhard: mean and spread per LAB channel over the
   face, the spread ratio clamped so features do not wash out on a pale or flat base).
5. Blend along the convex hull: Poisson ``seamlessClone`` (default) or a feathered alpha.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from likeness.engines.classical.warp import (
    STABLE_POINTS,
    anchor_ring,
    apply_affine,
    delaunay_triangles,
    face_points,
    hull_mask,
    paste_patch,
    piecewise_affine,
    similarity_transform,
)

__all__ = ["TransferResult", "blend_face", "match_colour", "reshape_to", "transfer_face"]

ANCHOR_RADIUS = 1.8  # ring radius, in multiples of the face points' largest distance from their centre
COLOUR_SPREAD_LIMITS = (0.8, 1.25)  # clamp on the per-channel std ratio of the colour match


@dataclass(frozen=True)
class TransferResult:
    image: np.ndarray  # HxWx3 uint8 RGB, the base photo with the new face
    target_points: np.ndarray  # (78, 2) where the face points ended up


def target_shape(base_pts: np.ndarray, identity_pts: np.ndarray, identity_shape: float) -> np.ndarray:
    """Base face points moved ``identity_shape`` (0..1) of the way to the aligned identity points."""
    matrix = similarity_transform(identity_pts[STABLE_POINTS], base_pts[STABLE_POINTS])
    aligned = apply_affine(matrix, identity_pts)
    return (base_pts + identity_shape * (aligned - base_pts)).astype(np.float32)


def reshape_to(image: np.ndarray, points: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``image`` warped so ``points`` move onto ``target``; nothing outside a ring around the face moves."""
    h, w = image.shape[:2]
    centre = points.mean(axis=0)
    radius = float(np.linalg.norm(np.vstack([points, target]) - centre, axis=1).max()) * ANCHOR_RADIUS
    anchors = anchor_ring(centre, radius, w, h)
    src = np.vstack([points, anchors])
    dst = np.vstack([np.clip(target, 0, [w - 1, h - 1]), anchors])
    triangles = delaunay_triangles(dst)
    patch, mask, rect = piecewise_affine(image, src, dst, triangles, (w, h))
    out = image.copy()
    paste_patch(out, patch, mask, rect)
    return out


def match_colour(face: np.ndarray, base: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Reinhard colour transfer in LAB: ``face`` takes the mean and spread of ``base`` under ``mask``."""
    region = mask > 0
    if int(region.sum()) < 16:
        return face
    lab_face = cv2.cvtColor(face, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab_base = cv2.cvtColor(base, cv2.COLOR_RGB2LAB).astype(np.float32)
    low, high = COLOUR_SPREAD_LIMITS
    for c in range(3):
        f, b = lab_face[..., c][region], lab_base[..., c][region]
        ratio = float(np.clip(b.std() / max(float(f.std()), 1e-3), low, high))
        lab_face[..., c] = (lab_face[..., c] - f.mean()) * ratio + b.mean()
    return cv2.cvtColor(np.clip(np.round(lab_face), 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def blend_face(base: np.ndarray, face: np.ndarray, mask: np.ndarray, mode: str = "seamless") -> np.ndarray:
    """Composite ``face`` over ``base`` (same size) inside ``mask``."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return base.copy()
    x1, x2, y1, y2 = int(xs.min()), int(xs.max()), int(ys.min()), int(ys.max())
    if mode == "seamless":
        # seamlessClone needs the mask's box strictly inside the image: pad, clone, crop back
        pad = 8
        padded_base = cv2.copyMakeBorder(base, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
        padded_face = cv2.copyMakeBorder(face, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
        padded_mask = cv2.copyMakeBorder(mask, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        # seamlessClone centres the mask's bounding box on ``centre``; pass the box's own centre
        centre = ((x1 + x2 + 1) // 2 + pad, (y1 + y2 + 1) // 2 + pad)
        cloned = cv2.seamlessClone(padded_face, padded_base, padded_mask, centre, cv2.NORMAL_CLONE)
        return np.ascontiguousarray(cloned[pad:-pad, pad:-pad])
    size = max(x2 - x1, y2 - y1)
    k = max(3, int(size * 0.04) | 1)
    eroded = cv2.erode(mask, np.ones((k, k), np.uint8))
    alpha = cv2.GaussianBlur(eroded, (2 * k + 1, 2 * k + 1), 0).astype(np.float32)[..., None] / 255.0
    out = face.astype(np.float32) * alpha + base.astype(np.float32) * (1.0 - alpha)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def warp_face_onto(
    base: np.ndarray,
    target: np.ndarray,
    sources: list[tuple[np.ndarray, np.ndarray]],
    weights: list[float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each (image, face points) source warped onto ``target`` in ``base``'s frame and averaged
    with ``weights``. Returns the face layer (base pixels outside the face) and the face mask."""
    h, w = base.shape[:2]
    clipped = np.clip(target, 0, [w - 1, h - 1]).astype(np.float32)
    triangles = delaunay_triangles(clipped)
    weights = weights or [1.0] * len(sources)
    total = float(sum(weights))
    accum: np.ndarray | None = None
    coverage: np.ndarray | None = None
    rect = (0, 0, 0, 0)
    for (image, pts), weight in zip(sources, weights, strict=True):
        if weight <= 0:
            continue
        patch, mask, rect = piecewise_affine(image, pts, clipped, triangles, (w, h))
        layer = patch.astype(np.float32) * (weight / total)
        accum = layer if accum is None else accum + layer
        coverage = mask if coverage is None else np.minimum(coverage, mask)
    layer_image = base.copy()
    if accum is None or coverage is None:
        return layer_image, np.zeros((h, w), np.uint8)
    blended = np.clip(np.round(accum), 0, 255).astype(np.uint8)
    paste_patch(layer_image, blended, coverage, rect)
    face_mask = hull_mask(clipped, w, h)
    full_cov = np.zeros((h, w), np.uint8)
    x, y, cw, ch = rect
    full_cov[y : y + ch, x : x + cw] = coverage
    return layer_image, np.minimum(face_mask, full_cov)


def composite(
    base: np.ndarray,
    base_pts: np.ndarray,
    target: np.ndarray,
    sources: list[tuple[np.ndarray, np.ndarray]],
    *,
    weights: list[float] | None = None,
    blend: str = "seamless",
) -> np.ndarray:
    """Reshape ``base`` to ``target``, warp the source face(s) onto it, colour-match and blend."""
    reshaped = reshape_to(base, base_pts, target)
    face_layer, mask = warp_face_onto(reshaped, target, sources, weights)
    # match colour on the inner face only: the hull edge mixes in hair and background
    inner = cv2.erode(mask, np.ones((5, 5), np.uint8))
    face_layer = match_colour(face_layer, reshaped, inner)
    return blend_face(reshaped, face_layer, mask, blend)


def transfer_face(
    base: np.ndarray,
    base_landmarks: np.ndarray,
    identity: np.ndarray,
    identity_landmarks: np.ndarray,
    *,
    identity_shape: float = 1.0,
    blend: str = "seamless",
) -> TransferResult:
    """The face of ``identity`` on the person in ``base`` (both HxWx3 uint8 RGB, 68 landmarks each)."""
    base_pts = face_points(base_landmarks)
    identity_pts = face_points(identity_landmarks)
    target = target_shape(base_pts, identity_pts, identity_shape)
    image = composite(base, base_pts, target, [(identity, identity_pts)], blend=blend)
    return TransferResult(image=image, target_points=target)
