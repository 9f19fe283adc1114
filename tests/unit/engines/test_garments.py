"""Garment vision: cut-outs and measured descriptions of the garment fixtures."""

from __future__ import annotations

import io

import numpy as np
import pytest

from likeness.engines.base import EngineError
from likeness.engines.classical.garments import GarmentAnalysis, analyze_garment, colour_name
from tests.helpers import GARMENTS, png_bytes

EXPECTED = {
    # file: (colour names, pattern, category, sleeves, silhouette, length)
    "tshirt_front.png": ({"navy", "white"}, "horizontal stripes", "top", "short", "straight", "regular"),
    "tshirt_back.png": ({"navy", "white"}, "horizontal stripes", "top", "short", "straight", "regular"),
    "dress_red.jpg": ({"red"}, "solid", "dress/skirt", "none", "A-line/flared", "knee"),
    "jeans_blue.webp": ({"blue"}, "solid", "trousers", None, "straight", "long"),
}


@pytest.fixture(scope="module")
def analyses() -> dict[str, GarmentAnalysis]:
    return {name: analyze_garment((GARMENTS / name).read_bytes(), label=name) for name in EXPECTED}


def rgba_of(analysis: GarmentAnalysis) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(analysis.cutout_png)) as im:
        assert im.mode == "RGBA"
        return np.array(im)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_garments_are_described_from_what_is_measured(analyses, name) -> None:
    colours, pattern, category, sleeves, silhouette, length = EXPECTED[name]
    g = analyses[name]
    assert {c.name for c in g.colours} == colours, g.to_dict()
    assert g.pattern == pattern, g.measurements
    assert g.category == category and 0.5 <= g.category_confidence <= 0.9, g.measurements
    assert g.sleeves == sleeves and g.silhouette == silhouette and g.length == length
    assert abs(sum(c.share for c in g.colours) - 1.0) < 1e-6
    assert all(c.hex.startswith("#") and len(c.hex) == 7 for c in g.colours)
    assert 0.2 < g.coverage < 0.45 and not g.from_alpha


def test_the_sentence_names_colours_type_pattern_and_silhouette(analyses) -> None:
    assert (
        analyses["tshirt_front.png"].description
        == "Navy and white top with short sleeves, horizontal stripes, straight silhouette."
    )
    assert analyses["dress_red.jpg"].description.startswith("Red knee-length dress or skirt, solid colour")
    assert analyses["jeans_blue.webp"].description == (
        "Blue full-length trousers, solid colour, straight silhouette."
    )
    # measured things only: no fabric, fit or brand words
    for g in analyses.values():
        assert not {"denim", "cotton", "jeans", "slim", "brand"} & set(g.description.lower().split())


def test_the_stripes_are_measured_and_the_weave_of_the_jeans_is_not_a_pattern(analyses) -> None:
    shirt, jeans = analyses["tshirt_front.png"].measurements, analyses["jeans_blue.webp"].measurements
    assert shirt["rows_explained"] > 0.9 and shirt["rows_repeat"] > 0.8 and shirt["columns_explained"] < 0.1
    # the jeans repeat every 3 px too, but their lightness hardly changes
    assert jeans["lightness_spread"] < 6.0


def test_cutouts_are_tight_with_a_transparent_backdrop_and_an_opaque_garment(analyses) -> None:
    for name, g in analyses.items():
        rgba = rgba_of(g)
        h, w = rgba.shape[:2]
        assert (w, h) == (g.width, g.height)
        assert rgba[round(h * 0.3), w // 2, 3] == 255, name  # the body of the garment
        # tight: the garment reaches within a few px of every side
        alpha = rgba[..., 3] > 128
        assert alpha[:8].any() and alpha[-8:].any() and alpha[:, :8].any() and alpha[:, -8:].any(), name
    shirt = rgba_of(analyses["tshirt_front.png"])
    assert all(shirt[y, x, 3] == 0 for y in (0, -1) for x in (0, -1))  # beside sleeves and hem
    dress = rgba_of(analyses["dress_red.jpg"])
    assert dress[0, 0, 3] == 0 and dress[0, -1, 3] == 0  # beside the narrow shoulders
    jeans = rgba_of(analyses["jeans_blue.webp"])
    assert jeans[-3, jeans.shape[1] // 2, 3] == 0  # between the legs
    # the backdrop's light colour is taken out of the soft edge (no halo)
    edge = (jeans[..., 3] > 0) & (jeans[..., 3] < 255)
    assert jeans[edge][:, :3].astype(int).mean() < 160


def test_a_cutout_with_alpha_is_used_as_is(analyses) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba_of(analyses["jeans_blue.webp"]), "RGBA").save(buf, format="PNG")
    g = analyze_garment(buf.getvalue(), label="jeans cut-out")
    assert g.from_alpha and g.category == "trousers" and {c.name for c in g.colours} == {"blue"}
    assert (g.width, g.height) == (analyses["jeans_blue.webp"].width, analyses["jeans_blue.webp"].height)


def test_a_uniform_image_has_no_garment_and_the_error_names_it() -> None:
    with pytest.raises(EngineError) as err:
        analyze_garment(png_bytes(300, 400, (128, 128, 128)), label="clothing item 7")
    assert err.value.code == "garment_not_found"
    assert "clothing item 7" in err.value.reason and "plain background" in err.value.reason


def test_noise_is_not_a_plain_backdrop() -> None:
    from PIL import Image

    noise = np.random.default_rng(0).integers(0, 256, (300, 240, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="PNG")
    with pytest.raises(EngineError) as err:
        analyze_garment(buf.getvalue(), label="a busy photo")
    assert err.value.code == "garment_not_found" and "not plain enough" in err.value.reason


def test_bytes_that_are_not_an_image_are_rejected_by_label() -> None:
    with pytest.raises(EngineError) as err:
        analyze_garment(b"not an image", label="clothing item 9")
    assert err.value.code == "input_rejected" and "clothing item 9" in err.value.reason


@pytest.mark.parametrize(
    ("rgb", "name"),
    [
        ((28, 42, 86), "navy"),
        ((57, 94, 146), "blue"),
        ((176, 28, 40), "red"),
        ((110, 20, 40), "burgundy"),
        ((236, 236, 236), "white"),
        ((20, 20, 20), "black"),
        ((128, 128, 128), "grey"),
        ((30, 150, 50), "green"),
        ((250, 220, 30), "yellow"),
        ((120, 70, 30), "brown"),
        ((255, 182, 193), "pink"),
        ((120, 40, 160), "purple"),
        ((225, 210, 180), "beige"),
    ],
)
def test_colour_names(rgb, name) -> None:
    import cv2

    lab = cv2.cvtColor(np.array([[rgb]], np.float32) / 255.0, cv2.COLOR_RGB2LAB)[0, 0]
    assert colour_name(lab) == name
