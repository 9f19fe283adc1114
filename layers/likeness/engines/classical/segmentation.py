"""Person / background segmentation with GrabCut, seeded from the detected face.

GrabCut needs to be told roughly where the subject is. From the face box we mark: the inner
face and a strip of chest below the chin as certainly the person; the head with room for hair
and a body widening down to the bottom edge as probably the person; the top and side borders
as certainly background. GrabCut then fits colour models and cuts along edges. Without a face
the seed is a centred rectangle (the subject is assumed to fill the middle).

It runs on a copy at most ``WORK_SIDE`` px on the longer side (GrabCut is iterative and
slow), and the mask is scaled back up and feathered a little so edges are not jagged.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["WORK_SIDE", "composite_on_colour", "segment_subject"]

WORK_SIDE = 384
_ITERATIONS = 5


def _seed_mask(h: int, w: int, face_box: tuple[float, float, float, float]) -> np.ndarray:
    x1, y1, x2, y2 = face_box
    fw, fh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    mask = np.full((h, w), cv2.GC_PR_BGD, dtype=np.uint8)

    # certainly background: a thin border on the top and sides (not the bottom, where the body is)
    border = max(2, round(min(h, w) * 0.02))
    mask[:border, :] = cv2.GC_BGD
    mask[:, :border] = cv2.GC_BGD
    mask[:, w - border :] = cv2.GC_BGD

    # probably the person: the head with room for hair, and shoulders widening to the bottom
    cv2.ellipse(
        mask,
        (round(cx), round(cy - fh * 0.05)),
        (round(fw * 0.8), round(fh * 0.75)),
        0,
        0,
        360,
        int(cv2.GC_PR_FGD),
        -1,
    )
    top = y2 - fh * 0.05
    body = np.array(
        [
            [cx - fw * 0.7, top],
            [cx + fw * 0.7, top],
            [cx + fw * 1.8, top + fh * 1.0],
            [cx + fw * 1.8, h],
            [cx - fw * 1.8, h],
            [cx - fw * 1.8, top + fh * 1.0],
        ],
        dtype=np.float64,
    )
    cv2.fillPoly(mask, [np.round(body).astype(np.int32)], int(cv2.GC_PR_FGD))

    # certainly the person: the inner face and the neck / upper chest below it
    cv2.ellipse(
        mask,
        (round(cx), round(cy)),
        (max(1, round(fw * 0.33)), max(1, round(fh * 0.38))),
        0,
        0,
        360,
        int(cv2.GC_FGD),
        -1,
    )
    chest_top, chest_bottom = round(y2 + fh * 0.05), round(min(h, y2 + fh * 1.2))
    if chest_bottom > chest_top:
        half = max(1, round(fw * 0.22))
        mask[chest_top:chest_bottom, max(0, round(cx) - half) : min(w, round(cx) + half)] = cv2.GC_FGD
    return mask


def _keep_subject(fg: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Only the connected parts that touch the certain-person seed, with holes filled."""
    count, labels = cv2.connectedComponents(fg, connectivity=8)
    if count <= 1:
        return fg
    touching = np.unique(labels[(seed == cv2.GC_FGD) & (fg > 0)])
    touching = touching[touching > 0]
    if touching.size == 0:
        return fg
    kept = np.isin(labels, touching).astype(np.uint8) * 255
    # fill holes: background regions that do not reach the image border
    inverse = 255 - kept
    count, labels = cv2.connectedComponents(inverse, connectivity=4)
    border_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    holes = (labels > 0) & ~np.isin(labels, border_labels)
    kept[holes] = 255
    return kept


def segment_subject(
    image: np.ndarray, face_box: tuple[float, float, float, float] | None = None
) -> np.ndarray:
    """Alpha (HxW uint8, 255 = subject) for an HxWx3 uint8 RGB ``image``."""
    h, w = image.shape[:2]
    scale = min(1.0, WORK_SIDE / max(h, w))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1.0 else image.copy()
    bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    # GrabCut initialises its colour models with k-means on OpenCV's per-thread RNG: seed it so
    # the same image always gives the same cut
    cv2.setRNGSeed(12345)
    if face_box is not None:
        box = tuple(v * scale for v in face_box)
        mask = _seed_mask(sh, sw, box)  # type: ignore[arg-type]
        seed = mask.copy()
        cv2.grabCut(bgr, mask, (0, 0, 0, 0), bgd_model, fgd_model, _ITERATIONS, cv2.GC_INIT_WITH_MASK)
    else:
        mx, my = max(1, round(sw * 0.08)), max(1, round(sh * 0.05))
        mask = np.zeros((sh, sw), np.uint8)
        rect = (mx, my, max(1, sw - 2 * mx), max(1, sh - 2 * my))
        cv2.grabCut(bgr, mask, rect, bgd_model, fgd_model, _ITERATIONS, cv2.GC_INIT_WITH_RECT)
        seed = np.full_like(mask, cv2.GC_PR_FGD)
        seed[sh // 2 - sh // 8 : sh // 2 + sh // 8, sw // 2 - sw // 8 : sw // 2 + sw // 8] = cv2.GC_FGD
    fg: np.ndarray = np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, kernel)
    fg = _keep_subject(fg, seed)
    alpha = cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR) if scale < 1.0 else fg
    feather = max(1, round(max(h, w) / 400)) * 2 + 1
    return cv2.GaussianBlur(alpha, (feather, feather), 0)


def composite_on_colour(image: np.ndarray, alpha: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    a = alpha.astype(np.float32)[..., None] / 255.0
    background = np.asarray(colour, dtype=np.float32)
    out = image.astype(np.float32) * a + background * (1.0 - a)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
