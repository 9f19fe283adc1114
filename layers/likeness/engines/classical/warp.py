"""Geometry shared by face transfer and morphing: point sets, Delaunay, piecewise affine warps.

A face is described by dlib's 68 points plus a band of forehead points above the brows
(the 68 points stop at the brows, and a mask that stops there leaves the base person's
forehead and brow ridge, which the face descriptor reads). Warps are piecewise affine over
a Delaunay triangulation of the destination points, done as one ``cv2.remap`` so triangles
meet without seams.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from likeness.engines.classical.landmarks import BROWS, CHIN, NOSE_BRIDGE_TOP

__all__ = [
    "FACE_POINTS",
    "STABLE_POINTS",
    "anchor_ring",
    "apply_affine",
    "delaunay_triangles",
    "face_points",
    "hull_mask",
    "piecewise_affine",
    "similarity_transform",
]

FOREHEAD_RISE = 0.25  # forehead band height, as a fraction of nose-bridge-to-chin distance
FACE_POINTS = 78  # 68 landmarks + 10 forehead points
# brows, nose, eyes and mouth: where two faces are aligned (the jaw line varies with pose and build)
STABLE_POINTS = np.arange(17, 68)


def face_points(landmarks68: np.ndarray, forehead_rise: float = FOREHEAD_RISE) -> np.ndarray:
    """The 68 landmarks plus the brows raised by ``forehead_rise`` along the face's up axis."""
    pts = np.asarray(landmarks68, dtype=np.float32)
    up = pts[NOSE_BRIDGE_TOP] - pts[CHIN]
    length = float(np.linalg.norm(up))
    if length < 1e-6:
        raise ValueError("degenerate landmarks: the nose bridge sits on the chin")
    forehead = pts[BROWS] + up / length * (length * forehead_rise)
    return np.vstack([pts, forehead]).astype(np.float32)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation taking ``src`` onto ``dst`` (2x3).

    Closed form (Umeyama), so it is deterministic, unlike OpenCV's sampling estimators.
    """
    s = np.asarray(src, dtype=np.float64)
    d = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = s.mean(axis=0), d.mean(axis=0)
    sc, dc = s - mu_s, d - mu_d
    var_s = float((sc**2).sum()) / len(s)
    if var_s < 1e-12:
        raise ValueError("degenerate point set")
    cov = dc.T @ sc / len(s)
    u, sigma, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(sigma) @ sign)) / var_s
    translation = mu_d - scale * rotation @ mu_s
    return np.hstack([scale * rotation, translation[:, None]])


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    return (pts @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def delaunay_triangles(points: np.ndarray) -> np.ndarray:
    """(T, 3) vertex indexes of a Delaunay triangulation of ``points`` (N, 2).

    Duplicate points keep their first index; the triangulation is deterministic for given points.
    """
    pts = np.asarray(points, dtype=np.float32)
    x0, y0 = np.floor(pts.min(axis=0)) - 2
    x1, y1 = np.ceil(pts.max(axis=0)) + 2
    subdiv = cv2.Subdiv2D((int(x0), int(y0), int(x1 - x0) + 1, int(y1 - y0) + 1))
    for x, y in pts:
        subdiv.insert((float(x), float(y)))
    corners = np.asarray(subdiv.getTriangleList(), dtype=np.float32).reshape(-1, 3, 2)
    if corners.size == 0:
        return np.zeros((0, 3), dtype=np.int32)
    # match each corner back to the nearest input point (Subdiv2D returns the inserted coordinates)
    dist = np.linalg.norm(corners[:, :, None, :] - pts[None, None, :, :], axis=-1)
    idx = dist.argmin(axis=-1)
    exact = np.take_along_axis(dist, idx[..., None], axis=-1)[..., 0] < 0.5
    keep = exact.all(axis=1) & (idx[:, 0] != idx[:, 1]) & (idx[:, 1] != idx[:, 2]) & (idx[:, 0] != idx[:, 2])
    return idx[keep].astype(np.int32)


def _inverse_affines(src_pts: np.ndarray, dst_pts: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Per triangle, the 2x3 affine taking destination pixels back to source pixels."""
    mats = np.zeros((len(triangles), 2, 3), dtype=np.float64)
    for i, tri in enumerate(triangles):
        d = dst_pts[tri].astype(np.float32)
        s = src_pts[tri].astype(np.float32)
        area = (d[1, 0] - d[0, 0]) * (d[2, 1] - d[0, 1]) - (d[2, 0] - d[0, 0]) * (d[1, 1] - d[0, 1])
        if abs(float(area)) < 1e-6:
            mats[i, :, :2] = np.eye(2)  # a collapsed triangle covers no pixels anyway
            continue
        mats[i] = cv2.getAffineTransform(d, s)
    return mats


def piecewise_affine(
    src: np.ndarray,
    src_pts: np.ndarray,
    dst_pts: np.ndarray,
    triangles: np.ndarray,
    out_size: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """Warp ``src`` so that ``src_pts`` land on ``dst_pts``, triangle by triangle.

    Only the bounding box of the destination triangles is computed. Returns the warped patch,
    its coverage mask (uint8 0/255) and the patch's (x, y, w, h) inside an ``out_size``
    (width, height) canvas. Source pixels outside ``src`` are mirrored in.
    """
    out_w, out_h = out_size
    dst = np.asarray(dst_pts, dtype=np.float32)
    used = dst[np.unique(triangles)] if len(triangles) else dst
    x1 = max(0, int(math.floor(float(used[:, 0].min()))))
    y1 = max(0, int(math.floor(float(used[:, 1].min()))))
    x2 = min(out_w, int(math.ceil(float(used[:, 0].max()))) + 1)
    y2 = min(out_h, int(math.ceil(float(used[:, 1].max()))) + 1)
    w, h = max(0, x2 - x1), max(0, y2 - y1)
    channels = src.shape[2] if src.ndim == 3 else 1
    if w == 0 or h == 0 or len(triangles) == 0:
        empty = np.zeros((max(h, 1), max(w, 1), channels), dtype=src.dtype)
        return (
            empty.squeeze(-1) if src.ndim == 2 else empty,
            np.zeros(empty.shape[:2], np.uint8),
            (x1, y1, 0, 0),
        )

    labels = np.full((h, w), -1, dtype=np.int32)
    shift = 4  # sub-pixel vertex precision for the rasteriser
    local = np.round((dst - (x1, y1)) * (1 << shift)).astype(np.int32)
    for i, tri in enumerate(triangles):
        cv2.fillConvexPoly(labels, local[tri], i, lineType=cv2.LINE_8, shift=shift)

    mats = _inverse_affines(np.asarray(src_pts, np.float32), dst, triangles).astype(np.float32)
    ys, xs = np.nonzero(labels >= 0)
    m = mats[labels[ys, xs]]
    gx = (xs + x1).astype(np.float32)
    gy = (ys + y1).astype(np.float32)
    map_x = np.full((h, w), -1.0, dtype=np.float32)
    map_y = np.full((h, w), -1.0, dtype=np.float32)
    map_x[ys, xs] = m[:, 0, 0] * gx + m[:, 0, 1] * gy + m[:, 0, 2]
    map_y[ys, xs] = m[:, 1, 0] * gx + m[:, 1, 1] * gy + m[:, 1, 2]
    patch = cv2.remap(src, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    mask = np.where(labels >= 0, 255, 0).astype(np.uint8)
    return patch, mask, (x1, y1, w, h)


def paste_patch(
    canvas: np.ndarray, patch: np.ndarray, mask: np.ndarray, rect: tuple[int, int, int, int]
) -> None:
    """Write ``patch`` into ``canvas`` (in place) where ``mask`` is set."""
    x, y, w, h = rect
    if w == 0 or h == 0:
        return
    region = canvas[y : y + h, x : x + w]
    covered = mask > 0
    region[covered] = patch[covered]


def anchor_ring(centre: np.ndarray, radius: float, width: int, height: int, count: int = 16) -> np.ndarray:
    """Fixed points on a circle around the face, kept inside the image, plus the image corners.

    Warping the base photo between its face points and these anchors reshapes the head while
    everything outside the ring stays exactly where it was.
    """
    angles = np.linspace(0.0, 2.0 * np.pi, count, endpoint=False)
    ring = np.stack([centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)], axis=1)
    ring = np.clip(ring, 0, [width - 1, height - 1])
    corners = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=np.float64)
    points = np.vstack([ring, corners])
    # clipping can stack ring points on an edge or a corner: keep one of each
    _, first = np.unique(np.round(points).astype(np.int64), axis=0, return_index=True)
    return points[np.sort(first)].astype(np.float32)


def hull_mask(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """uint8 0/255 mask of the convex hull of ``points``."""
    mask = np.zeros((height, width), dtype=np.uint8)
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255, lineType=cv2.LINE_8)
    return mask
