"""Face transfer: the identity's face on the base person, judged by the face descriptor."""

from __future__ import annotations

import pytest

from likeness.engines.base import EngineError, EngineImage, EngineRequest, Operation
from likeness.engines.consistency import Verdict
from tests.helpers import png_bytes
from tests.unit.engines.conftest import engine_image


def transfer(engine, base: str, identity: str = "obama.jpg", **params):
    request = EngineRequest(
        Operation.FACE_TRANSFER,
        base_image=engine_image(base, "base image"),
        face_images=(engine_image(identity, "identity face"),),
        params=params,
    )
    return engine.run(request)


@pytest.mark.parametrize("base", ["alex-lacamoire.png", "biden.jpg"])
def test_transferred_face_is_the_identity_and_not_the_base_person(
    engine, judge, embeddings, decode, base
) -> None:
    [out] = transfer(engine, base)
    pixels = decode(out.data)
    assert out.content_type == "image/png" and pixels.shape[:2] == (out.height, out.width)
    assert out.shows_person and out.face_sources == (0,)

    as_identity = judge.judge(out.data, [embeddings["obama.jpg"]], mode="same_person")
    as_base = judge.judge(out.data, [embeddings[base]], mode="same_person")
    assert as_identity.faces_found == 1
    assert as_identity.verdict is Verdict.PASSED, as_identity.reason
    assert as_base.verdict is Verdict.FAILED, as_base.reason
    assert as_identity.distance is not None and as_identity.distance < 0.45


def test_transfer_keeps_the_base_photo_and_honours_output_params(engine, decode) -> None:
    [out] = transfer(
        engine, "alex-lacamoire.png", aspect_ratio="4:5", size=320, format="jpeg", style="grayscale"
    )
    assert out.content_type == "image/jpeg"
    assert max(out.width, out.height) == 320 and abs(out.width / out.height - 0.8) < 0.01
    pixels = decode(out.data).astype(int)
    # JPEG chroma noise aside, a grayscale style has no colour left
    assert abs(pixels[..., 0] - pixels[..., 2]).mean() < 2


def test_transfer_is_deterministic(engine) -> None:
    assert transfer(engine, "alex-lacamoire.png")[0].data == transfer(engine, "alex-lacamoire.png")[0].data


def test_base_image_with_two_people_fails_naming_the_problem(engine) -> None:
    with pytest.raises(EngineError) as err:
        transfer(engine, "two_people.jpg")
    assert err.value.code == "multiple_faces"
    assert err.value.reason == "the base image shows 2 faces; face transfer needs exactly one"


def test_base_without_a_face_fails_naming_the_image(engine) -> None:
    request = EngineRequest(
        Operation.FACE_TRANSFER,
        base_image=EngineImage(png_bytes(256, 256), "wardrobe photo 3"),
        face_images=(engine_image("obama.jpg"),),
    )
    with pytest.raises(EngineError) as err:
        engine.run(request)
    assert err.value.code == "no_face" and "wardrobe photo 3" in err.value.reason


def test_missing_identity_face_says_what_is_missing(engine) -> None:
    request = EngineRequest(Operation.FACE_TRANSFER, base_image=engine_image("biden.jpg"))
    with pytest.raises(EngineError) as err:
        engine.run(request)
    assert err.value.code == "missing_input" and "face_images[0]" in (err.value.missing or "")


def test_bad_param_names_the_param_and_allowed_values(engine) -> None:
    with pytest.raises(EngineError) as err:
        transfer(engine, "alex-lacamoire.png", blend="magic")
    assert err.value.code == "invalid_parameter"
    assert "blend" in err.value.reason and "seamless" in err.value.reason and "feather" in err.value.reason
    with pytest.raises(EngineError) as err:
        transfer(engine, "alex-lacamoire.png", aspect_ratio="5:7")
    assert "aspect_ratio" in err.value.reason and "16:9" in err.value.reason
