"""Derived views: keys, shapes, determinism, lighting direction, alignment and encoders."""

from __future__ import annotations

import numpy as np
import pytest

from likeness.faces.decode import decode_image
from likeness.faces.views import (
    ARCFACE_TEMPLATE_112,
    aligned_face_crop,
    derived_views,
    encode_jpeg,
    encode_png,
)

KEYS = {
    "head",
    "head_and_shoulders",
    "mirrored",
    "light_bright",
    "light_dim",
    "light_warm",
    "light_cool",
}


@pytest.fixture(scope="module")
def views(analyses, arrays):
    return derived_views(arrays["obama.jpg"], analyses["obama.jpg"].faces[0])


def test_views_have_the_named_keys_and_pixels(views) -> None:
    assert set(views) >= KEYS
    for name, arr in views.items():
        assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3, name
        assert arr.size > 0 and arr.flags["C_CONTIGUOUS"], name
        assert arr.std() > 5, name  # real image content, not a flat fill
    assert views["head"].shape == (256, 256, 3)
    assert views["head_and_shoulders"].shape == (480, 384, 3)


def test_views_are_deterministic(views, analyses, arrays) -> None:
    again = derived_views(arrays["obama.jpg"], analyses["obama.jpg"].faces[0])
    assert all(np.array_equal(views[k], again[k]) for k in views)


def test_mirror_and_lighting_variants(views) -> None:
    hs = views["head_and_shoulders"].astype(np.float64)
    assert np.array_equal(views["mirrored"], views["head_and_shoulders"][:, ::-1])
    assert views["light_bright"].mean() > hs.mean() > views["light_dim"].mean()

    def red_over_blue(a: np.ndarray) -> float:
        return float(a[..., 0].mean() / a[..., 2].mean())

    assert red_over_blue(views["light_warm"]) > red_over_blue(hs) > red_over_blue(views["light_cool"])


def test_views_at_the_image_edge_are_padded(analyses, arrays) -> None:
    face = analyses["obama_partial_face.jpg"].faces[0]
    views = derived_views(arrays["obama_partial_face.jpg"], face)
    assert views["head"].shape == (256, 256, 3)
    assert views["head_and_shoulders"].shape == (480, 384, 3)


def test_aligned_crop_puts_landmarks_on_the_template(pipeline, analyses, arrays) -> None:
    crop = aligned_face_crop(arrays["obama2.jpg"], analyses["obama2.jpg"].faces[0], size=256)
    assert crop.shape == (256, 256, 3)
    found = pipeline.detector.detect(crop)
    assert found, "the aligned crop should still contain a detectable face"
    points = np.asarray(found[0].landmarks)
    expected = ARCFACE_TEMPLATE_112 * (256 / 112)
    assert np.abs(points[:2] - expected[:2]).max() < 0.06 * 256  # eyes land within ~15 px


def test_encoders_round_trip(views) -> None:
    jpg = encode_jpeg(views["head"], quality=90)
    png = encode_png(views["head"])
    assert jpg[:3] == b"\xff\xd8\xff" and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(decode_image(png).to_array(), views["head"])
    assert np.abs(decode_image(jpg).to_array().astype(int) - views["head"]).mean() < 4
