"""Portraits (framing, background, style) and upscaling."""

from __future__ import annotations

import numpy as np
import pytest

from likeness.engines.base import EngineError, EngineImage, EngineRequest, Operation
from likeness.engines.consistency import Verdict
from tests.helpers import png_bytes
from tests.unit.engines.conftest import engine_image


def portrait(engine, name: str, **params):
    return engine.run(EngineRequest(Operation.PORTRAIT, face_images=(engine_image(name),), params=params))


def test_portrait_is_the_same_person_framed_as_asked(engine, judge, embeddings, decode) -> None:
    [out] = portrait(engine, "obama2.jpg", size=400, aspect_ratio="1:1", framing="headshot", format="webp")
    assert out.content_type == "image/webp" and (out.width, out.height) == (400, 400)
    assert decode(out.data).shape == (400, 400, 3)
    # a different photo of the same person than the one used
    report = judge.judge(out.data, [embeddings["obama.jpg"]], mode="same_person")
    assert report.verdict is Verdict.PASSED, report.reason
    assert not report.near_copy


def test_portrait_of_the_reference_itself_is_flagged_as_a_near_copy_but_passes(
    engine, judge, embeddings
) -> None:
    [out] = portrait(engine, "obama.jpg", size=384)
    report = judge.judge(out.data, [embeddings["obama.jpg"]], mode="same_person")
    assert report.verdict is Verdict.PASSED and report.near_copy


def test_portrait_background_and_style(engine, decode) -> None:
    [out] = portrait(engine, "rose_leslie_img1.jpg", size=320, background="#00ff00", style="grayscale")
    pixels = decode(out.data).astype(int)
    assert (out.width, out.height) == (256, 320)
    assert np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2])
    # green (0, 255, 0) in grayscale is BT.601 luma 150; the top corners are background
    for corner in (pixels[2, 2], pixels[2, -3]):
        assert abs(int(corner[0]) - 150) <= 3


def test_portrait_needs_a_face_image(engine) -> None:
    with pytest.raises(EngineError) as err:
        engine.run(EngineRequest(Operation.PORTRAIT, base_image=engine_image("obama.jpg")))
    assert err.value.code == "missing_input"


def upscale(engine, data: bytes, **params):
    return engine.run(EngineRequest(Operation.UPSCALE, base_image=EngineImage(data, "photo"), params=params))


@pytest.mark.parametrize("factor", [2, 4])
def test_upscale_multiplies_the_dimensions(engine, decode, factor) -> None:
    from tests.helpers import face_bytes

    [out] = upscale(engine, face_bytes("obama_small.jpg"), factor=factor)
    assert (out.width, out.height) == (320 * factor, 240 * factor)
    assert decode(out.data).shape == (240 * factor, 320 * factor, 3)
    assert out.shows_person and out.details["factor"] == factor


def test_upscale_of_a_photo_without_a_face_shows_no_person(engine) -> None:
    [out] = upscale(engine, png_bytes(100, 80, (10, 200, 30)))
    assert (out.width, out.height) == (200, 160) and not out.shows_person and out.face_sources == ()


def test_upscale_factor_3_fails(engine) -> None:
    from tests.helpers import face_bytes

    with pytest.raises(EngineError) as err:
        upscale(engine, face_bytes("obama_small.jpg"), factor=3)
    assert err.value.code == "invalid_parameter" and "2 or 4" in err.value.reason


def test_upscale_past_the_output_limit_fails_naming_it(engine) -> None:
    with pytest.raises(EngineError) as err:
        upscale(engine, png_bytes(1100, 300), factor=4)
    assert err.value.code == "output_too_large" and "4096" in err.value.reason


def test_upscale_ignores_params_it_does_not_use_and_says_so(engine) -> None:
    from tests.helpers import face_bytes

    [out] = upscale(engine, face_bytes("obama_small.jpg"), factor=2, size=512, background="#ffffff")
    assert (out.width, out.height) == (640, 480)
    assert out.details["ignored_params"] == ["size", "background"]
