"""try_on: garment cut-outs dressed onto one person, the face left intact (and judged)."""

from __future__ import annotations

import numpy as np
import pytest

from likeness.engines.base import EngineError, EngineImage, EngineRequest, Operation
from likeness.engines.classical.capabilities import CLASSICAL_CAPABILITIES, TRY_ON_CAMERAS
from likeness.engines.consistency import Verdict
from tests.helpers import GARMENTS, png_bytes
from tests.unit.engines.conftest import engine_image

SIZE = 384  # small outputs keep the tests fast; faces stay ~60 px across at this size


def garment(name: str, label: str | None = None) -> EngineImage:
    return EngineImage(data=(GARMENTS / name).read_bytes(), label=label or name)


def try_on(engine, base: str, *garments: str, faces: tuple[str, ...] = (), **params):
    request = EngineRequest(
        Operation.TRY_ON,
        base_image=engine_image(base, "person photo"),
        face_images=tuple(engine_image(f, "avatar face") for f in faces),
        garment_images=tuple(garment(g) for g in garments),
        params={"size": SIZE, **params},
    )
    return engine.run(request)


def share(pixels: np.ndarray, box, test) -> float:
    """The share of pixels inside ``box`` (x1, y1, x2, y2) for which ``test(rgb)`` holds."""
    x1, y1, x2, y2 = (round(v) for v in box)
    h, w = pixels.shape[:2]
    region = pixels[max(0, y1) : min(h, y2), max(0, x1) : min(w, x2), :3].astype(int)
    return float(test(region).mean())


def navy(rgb: np.ndarray) -> np.ndarray:
    return np.abs(rgb - np.array([28, 42, 86])).sum(axis=-1) < 60


def red(rgb: np.ndarray) -> np.ndarray:
    # the dress's red, not merely reddish (biden.jpg's skin is 8% "r > 120, g and b < 80")
    return np.abs(rgb - np.array([176, 30, 40])).sum(axis=-1) < 60


@pytest.fixture(scope="module")
def shirt_on_obama(engine):
    return try_on(engine, "obama.jpg", "tshirt_front.png", count=2, seed=7)


@pytest.fixture(scope="module")
def dress_on_biden(engine):
    return try_on(engine, "biden.jpg", "dress_red.jpg")


def test_the_shirt_is_below_the_chin_and_the_face_is_untouched(
    shirt_on_obama, judge, embeddings, decode
) -> None:
    out = shirt_on_obama[0]
    pixels = decode(out.data)
    assert pixels.shape[:2] == (out.height, out.width) and max(out.width, out.height) == SIZE
    assert out.shows_person and out.face_sources == ()
    details = out.details
    [placement] = details["placements"]
    person = details["person"]
    assert placement["category"] == "top" and placement["box"][1] > person["chin"][1]
    # the torso of the shirt (between the sleeves and the hem) is navy and white stripes
    x1, y1, x2, y2 = placement["box"]
    torso = (x1 + 0.35 * (x2 - x1), y1 + 0.4 * (y2 - y1), x2 - 0.35 * (x2 - x1), y1 + 0.9 * (y2 - y1))
    assert 0.25 < share(pixels, torso, navy) < 0.7
    # no garment over the face
    assert share(pixels, person["face_box"], navy) < 0.02
    report = judge.judge(out.data, [embeddings["obama.jpg"]], mode="same_person")
    assert report.faces_found == 1 and report.verdict is Verdict.PASSED, report.reason


def test_count_gives_outputs_that_differ_slightly_and_deterministically(engine, shirt_on_obama) -> None:
    first, second = shirt_on_obama
    assert first.data != second.data
    assert (first.width, first.height) == (second.width, second.height)
    assert [first.details["index"], second.details["index"]] == [0, 1]
    assert first.details["placements"][0]["box"] != second.details["placements"][0]["box"]
    again = try_on(engine, "obama.jpg", "tshirt_front.png", count=1, seed=7)
    assert again[0].data == first.data


def test_details_describe_the_garment_the_camera_and_what_was_not_done(shirt_on_obama) -> None:
    details = shirt_on_obama[0].details
    assert details["operation"] == "try_on" and details["camera"] == "photo" and details["seed"] == 7
    [described] = details["garments"]
    assert described["category"] == "top" and {c["name"] for c in described["colours"]} == {"navy", "white"}
    assert "horizontal stripes" in described["description"]
    # obama.jpg ends at the chest: the canvas grows so the whole shirt shows
    assert details["extended"]["bottom"] > 0
    assert any("not draped" in note for note in details["notes"])
    assert any("extended" in note for note in details["notes"])
    assert details["face_transfer"] is None


def test_a_dress_reaches_below_a_cropped_photo_without_covering_the_face(
    dress_on_biden, judge, embeddings, decode
) -> None:
    [out] = dress_on_biden
    pixels = decode(out.data)
    [placement] = out.details["placements"]
    person = out.details["person"]
    assert placement["category"] == "dress/skirt"
    x1, y1, x2, y2 = placement["box"]
    assert y1 > person["chin"][1] and y2 > y1 + 3 * person["head_height"]  # neck to knee
    middle = (x1 + 0.4 * (x2 - x1), y1 + 0.3 * (y2 - y1), x2 - 0.4 * (x2 - x1), y1 + 0.9 * (y2 - y1))
    assert share(pixels, middle, red) > 0.9
    assert share(pixels, person["face_box"], red) < 0.02
    assert out.details["extended"]["bottom"] > 0
    report = judge.judge(out.data, [embeddings["biden.jpg"]], mode="same_person")
    assert report.faces_found == 1 and report.verdict is Verdict.PASSED, report.reason


def test_with_an_avatar_face_the_output_is_that_person(engine, judge, embeddings) -> None:
    [out] = try_on(
        engine, "obama.jpg", "tshirt_front.png", faces=("rose_leslie_img1.jpg",), camera="upper_body_front"
    )
    assert out.shows_person and out.face_sources == (0,)
    assert out.details["face_transfer"] == {"identity_shape": 1.0, "blend": "seamless"}
    assert abs(out.width / out.height - 0.8) < 0.01  # upper body defaults to 4:5
    as_rose = judge.judge(out.data, [embeddings["rose_leslie_img1.jpg"]], mode="same_person")
    assert as_rose.faces_found == 1 and as_rose.verdict is Verdict.PASSED, as_rose.reason


def test_an_avatar_dressed_as_itself_is_judged_without_a_transfer(engine, judge, embeddings) -> None:
    [out] = try_on(engine, "obama.jpg", "dress_red.jpg", faces=("obama.jpg",), size=512)
    assert out.face_sources == (0,) and out.details["face_transfer"] == {
        "skipped": "face_images[0] is the base image"
    }
    report = judge.judge(out.data, [embeddings["obama.jpg"]], mode="same_person")
    assert report.verdict is Verdict.PASSED, report.reason


def test_layers_trousers_under_a_top_in_a_full_body_frame(engine, decode) -> None:
    [out] = try_on(engine, "biden.jpg", "tshirt_front.png", "jeans_blue.webp", camera="full_body_front")
    placements = out.details["placements"]
    assert [p["category"] for p in placements] == ["trousers", "top"]
    assert [p["garment"] for p in placements] == [1, 0]
    trousers, top = placements[0]["box"], placements[1]["box"]
    assert top[1] < trousers[1] < top[3] < trousers[3]  # the top's hem over the waistband
    assert abs(out.width / out.height - 9 / 16) < 0.01


def test_the_back_camera_shows_the_back_image_alone(engine, judge, embeddings) -> None:
    [out] = try_on(
        engine,
        "obama.jpg",
        "tshirt_front.png",
        "tshirt_back.png",
        camera="full_body_back",
        garment_backs={"0": 1},
        size=256,
    )
    assert not out.shows_person and out.face_sources == ()
    assert out.details["garments"][0]["back_image"] == 1
    assert [p["garment"] for p in out.details["placements"]] == [0]
    assert any("cannot show the person from behind" in note for note in out.details["notes"])
    assert judge.judge(out.data, [embeddings["obama.jpg"]], mode="same_person").faces_found == 0


def test_background_and_format(engine, decode) -> None:
    [out] = try_on(
        engine, "obama.jpg", "tshirt_front.png", background="#ffffff", format="jpeg", aspect_ratio="1:1"
    )
    assert out.content_type == "image/jpeg" and out.width == out.height == SIZE
    pixels = decode(out.data).astype(int)
    assert (pixels[2, 2] > 235).all()  # the office behind is gone


def test_capabilities_list_try_on_and_its_cameras() -> None:
    assert Operation.TRY_ON in CLASSICAL_CAPABILITIES.operations
    assert TRY_ON_CAMERAS == ["photo", "upper_body_front", "full_body_front", "full_body_back"]
    assert any("Try-on" in note and "full_body_back" in note for note in CLASSICAL_CAPABILITIES.notes)


# what it cannot do


def run_error(engine, request: EngineRequest) -> EngineError:
    with pytest.raises(EngineError) as err:
        engine.run(request)
    return err.value


def test_no_base_image_or_no_garment_says_what_is_missing(engine) -> None:
    err = run_error(engine, EngineRequest(Operation.TRY_ON, garment_images=(garment("dress_red.jpg"),)))
    assert err.code == "missing_input" and err.missing == "base_image"
    err = run_error(engine, EngineRequest(Operation.TRY_ON, base_image=engine_image("obama.jpg")))
    assert err.code == "missing_input" and err.missing == "garment_images"


@pytest.mark.parametrize(
    ("base", "code"),
    [("two_people.jpg", "multiple_faces"), (None, "no_face")],
)
def test_the_base_photo_needs_exactly_one_face(engine, base, code) -> None:
    image = engine_image(base, "model photo") if base else EngineImage(png_bytes(256, 256), "model photo")
    err = run_error(
        engine, EngineRequest(Operation.TRY_ON, base_image=image, garment_images=(garment("dress_red.jpg"),))
    )
    assert err.code == code and "model photo" in err.reason


def test_a_garment_image_without_a_garment_is_named(engine) -> None:
    request = EngineRequest(
        Operation.TRY_ON,
        base_image=engine_image("obama.jpg"),
        garment_images=(garment("dress_red.jpg"), EngineImage(png_bytes(300, 400), "clothing item 12")),
    )
    err = run_error(engine, request)
    assert err.code == "garment_not_found" and "clothing item 12" in err.reason


@pytest.mark.parametrize(
    ("params", "code", "says"),
    [
        ({"camera": "drone"}, "invalid_parameter", "camera must be one of photo, upper_body_front"),
        ({"camera": "side"}, "engine_cannot_do", "cannot turn a person"),
        ({"count": 6}, "invalid_parameter", "count must be from 1 to 5"),
        ({"garment_backs": [1]}, "invalid_parameter", "garment_backs must map"),
        ({"garment_backs": {"0": 3}}, "invalid_parameter", "the request has 1"),
    ],
)
def test_bad_params_fail_before_any_work(engine, params, code, says) -> None:
    request = EngineRequest(
        Operation.TRY_ON,
        base_image=EngineImage(b"never decoded", "person photo"),
        garment_images=(EngineImage(b"never decoded", "garment"),),
        params=params,
    )
    err = run_error(engine, request)
    assert err.code == code and says in err.reason


def test_too_many_garment_images(engine) -> None:
    request = EngineRequest(
        Operation.TRY_ON,
        base_image=engine_image("obama.jpg"),
        garment_images=tuple(garment("dress_red.jpg") for _ in range(7)),
    )
    err = run_error(engine, request)
    assert err.code == "invalid_parameter" and "at most 6 garment images" in err.reason
