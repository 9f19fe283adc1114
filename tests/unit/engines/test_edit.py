"""Edits: each instruction does what it says; unknown ones and free prompts fail clearly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from likeness.engines.base import EngineError, EngineImage, EngineRequest, Operation
from likeness.engines.classical.capabilities import EDIT_INSTRUCTIONS
from tests.unit.engines.conftest import shrunk_png


@pytest.fixture(scope="module")
def photo() -> bytes:
    return shrunk_png("obama2.jpg", 480)  # 250x480, one person


@pytest.fixture(scope="module")
def original(photo, decode) -> np.ndarray:
    return decode(photo)


def edit(engine, photo: bytes, instructions=None, **params):
    if instructions is not None:
        params["instructions"] = instructions
    [out] = engine.run(
        EngineRequest(Operation.EDIT, base_image=EngineImage(photo, "the photo"), params=params)
    )
    return out


def test_grayscale(engine, photo, decode) -> None:
    px = decode(edit(engine, photo, [{"op": "grayscale"}]).data)
    assert np.array_equal(px[..., 0], px[..., 1]) and np.array_equal(px[..., 1], px[..., 2])


def test_crop_has_the_asked_aspect_and_keeps_the_face(engine, photo, judge, embeddings) -> None:
    out = edit(engine, photo, [{"op": "crop", "aspect_ratio": "4:5"}])
    assert abs(out.width / out.height - 4 / 5) < 0.01
    assert out.shows_person
    assert judge.judge(out.data, [embeddings["obama2.jpg"]], mode="same_person").faces_found == 1


def test_remove_background_gives_transparent_corners_and_an_opaque_face(engine, photo, decode) -> None:
    out = edit(engine, photo, [{"op": "remove_background"}])
    px = decode(out.data)
    assert out.content_type == "image/png" and px.shape[2] == 4
    alpha = px[..., 3]
    assert alpha[0, 0] == alpha[0, -1] == 0
    face_centre = alpha[150, 125]  # obama2's face is centred at about (125, 150) at this size
    assert face_centre == 255
    assert 0.15 < (alpha > 127).mean() < 0.85


def test_replace_background_paints_the_corners(engine, photo, decode) -> None:
    px = decode(edit(engine, photo, [{"op": "replace_background", "color": "#0000ff"}]).data)
    assert tuple(px[0, 0]) == (0, 0, 255) and tuple(px[0, -1]) == (0, 0, 255)


def test_brightness_contrast_saturation(engine, photo, original, decode) -> None:
    base = original.astype(float)
    brighter = decode(edit(engine, photo, [{"op": "brightness", "factor": 1.4}]).data).astype(float)
    darker = decode(edit(engine, photo, [{"op": "brightness", "factor": 0.6}]).data).astype(float)
    assert brighter.mean() > base.mean() + 10 > darker.mean() + 20
    contrast = decode(edit(engine, photo, [{"op": "contrast", "factor": 1.5}]).data).astype(float)
    assert contrast.std() > base.std() * 1.2

    def saturation(px: np.ndarray) -> float:
        return float(cv2.cvtColor(px.astype(np.uint8), cv2.COLOR_RGB2HSV)[..., 1].mean())

    vivid = decode(edit(engine, photo, [{"op": "saturation", "factor": 2.0}]).data)
    grey = decode(edit(engine, photo, [{"op": "saturation", "factor": 0.0}]).data)
    assert saturation(vivid) > saturation(original) * 1.3 and saturation(grey) < 3


def sharpness(px: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(px, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def test_sharpen_and_blur(engine, photo, original, decode) -> None:
    sharper = decode(edit(engine, photo, [{"op": "sharpen", "amount": 1.5}]).data)
    blurred = decode(edit(engine, photo, [{"op": "blur", "radius": 3}]).data)
    assert sharpness(sharper) > sharpness(original) * 1.5
    assert sharpness(blurred) < sharpness(original) * 0.5


def test_mirror_and_rotate(engine, photo, original, decode) -> None:
    assert np.array_equal(decode(edit(engine, photo, [{"op": "mirror"}]).data), original[:, ::-1])
    out = edit(engine, photo, [{"op": "rotate", "degrees": 90}])
    assert (out.width, out.height) == (original.shape[0], original.shape[1])
    assert np.array_equal(decode(out.data), np.rot90(original, k=-1))  # clockwise


def test_instructions_apply_in_order_and_are_reported(engine, photo) -> None:
    steps = [{"op": "rotate", "degrees": 180}, {"op": "crop", "aspect_ratio": "1:1"}, {"op": "grayscale"}]
    out = edit(engine, photo, steps, format="jpeg")
    assert out.width == out.height == 250
    assert out.details["instructions"] == steps


def test_unknown_instruction_fails_listing_the_supported_ones(engine, photo) -> None:
    with pytest.raises(EngineError) as err:
        edit(engine, photo, [{"op": "grayscale"}, {"op": "add_hat"}])
    assert err.value.code == "unsupported_instruction"
    assert "'add_hat'" in err.value.reason and "instructions[1]" in err.value.reason
    assert all(op in err.value.reason for op in EDIT_INSTRUCTIONS)


def test_bad_argument_names_the_instruction_and_argument(engine, photo) -> None:
    with pytest.raises(EngineError) as err:
        edit(engine, photo, [{"op": "brightness", "factor": 9}])
    assert err.value.code == "invalid_parameter" and err.value.reason.startswith("instructions[0].factor")
    with pytest.raises(EngineError) as err:
        edit(engine, photo, [{"op": "rotate", "degrees": 45}])
    assert "90, 180 or 270" in err.value.reason


def test_transparent_output_cannot_be_jpeg(engine, photo) -> None:
    with pytest.raises(EngineError) as err:
        edit(engine, photo, [{"op": "remove_background"}], format="jpeg")
    assert err.value.code == "invalid_parameter" and "png or webp" in err.value.reason


def test_prompt_keywords_map_to_instructions(engine, photo, decode) -> None:
    out = edit(engine, photo, prompt="Please make it black and white")
    assert out.details["prompt_keywords"] == ["black and white"]
    px = decode(out.data)
    assert np.array_equal(px[..., 0], px[..., 2])


@pytest.mark.parametrize("prompt", ["give him a cowboy hat", "black and white with a sunset"])
def test_free_text_prompts_fail_with_a_reason(engine, photo, prompt) -> None:
    with pytest.raises(EngineError) as err:
        edit(engine, photo, prompt=prompt)
    assert err.value.code == "prompt_not_supported"
    assert "instructions" in err.value.reason


def test_edit_without_instructions_says_what_is_missing(engine, photo) -> None:
    with pytest.raises(EngineError) as err:
        edit(engine, photo)
    assert err.value.code == "missing_input" and err.value.missing == "params.instructions"
