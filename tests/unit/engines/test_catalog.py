"""The engine catalog: light to import, lists the classical engine, builds engines lazily."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from likeness.engines import catalog
from likeness.engines.base import EngineCapabilities, Operation
from likeness.engines.classical.capabilities import (
    ASPECT_RATIOS,
    CLASSICAL_CAPABILITIES,
    EDIT_INSTRUCTIONS,
    STYLES,
)
from likeness.errors import NotFound
from tests.helpers import ROOT

HEAVY = ["numpy", "cv2", "PIL", "onnxruntime", "dlib", "av", "openai", "google.genai"]
HOSTED = [
    "nano-banana-2",
    "nano-banana-pro",
    "gpt-image-2-high",
    "gpt-image-2-medium",
    "gpt-image-2-low",
    "seedream-v4-5",
    "qwen-rapid-aio-v23",
    "gemini-flash",
    "seedvr2",
    "aura-sr",
    "seedance-2",
    "kling-3-pro",
    "kling-2-5-turbo-pro",
    "seedance-1-5-pro",
]


def test_importing_the_catalog_and_listing_it_loads_no_heavy_library() -> None:
    probe = (
        "import json, sys\n"
        "import likeness.engines.catalog as c\n"
        "listed = [e.slug for e in c.engine_catalog()]\n"
        f"print(json.dumps({{'listed': listed, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={"PYTHONPATH": f"{ROOT / 'layers'}", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # classical first, then every hosted model of the spec's catalog, with no SDK or model loaded
    assert result == {"listed": ["classical", *HOSTED], "heavy": []}


def test_catalog_lists_classical_first_and_its_capabilities_validate() -> None:
    listed = catalog.engine_catalog()
    assert [c.slug for c in listed][0] == catalog.DEFAULT_ENGINE == "classical"
    caps = catalog.get_capabilities("classical")
    assert caps is CLASSICAL_CAPABILITIES
    again = EngineCapabilities.model_validate(json.loads(caps.model_dump_json()))
    assert again == caps
    # everything but text-to-image: it follows no prompt
    assert set(caps.operations) == set(Operation) - {Operation.GENERATE} and caps.follows_prompt is False
    assert caps.uses_model_weights is False and caps.kind == "embedded"
    assert caps.upscale_factors == [2, 4]
    assert caps.video is not None and caps.video.min_seconds == 1 and caps.video.max_seconds == 10
    assert caps.aspect_ratios == ASPECT_RATIOS and caps.edit_instructions == EDIT_INSTRUCTIONS
    assert caps.notes, "the catalog must say what the engine cannot do"


def test_unknown_engine_is_not_found() -> None:
    with pytest.raises(NotFound) as err:
        catalog.get_capabilities("dall-e")
    assert err.value.error_code == "engine_not_found"
    assert "classical" in err.value.message
    with pytest.raises(NotFound):
        catalog.get_engine("dall-e")


def test_get_engine_builds_one_shared_classical_engine() -> None:
    from likeness.engines.classical.engine import ClassicalEngine

    first = catalog.get_engine("classical")
    assert isinstance(first, ClassicalEngine)
    assert catalog.get_engine() is first
    assert first.capabilities.slug == "classical"


def test_engines_register_as_data() -> None:
    fake_caps = CLASSICAL_CAPABILITIES.model_copy(update={"slug": "fake", "name": "Fake", "kind": "hosted"})

    class FakeEngine:
        capabilities = fake_caps

        def run(self, request):  # pragma: no cover - never called
            return []

    catalog.register_engine("fake", capabilities=fake_caps, factory=FakeEngine)
    try:
        assert [c.slug for c in catalog.engine_catalog()] == ["classical", *HOSTED, "fake"]
        assert isinstance(catalog.get_engine("fake"), FakeEngine)
        with pytest.raises(ValueError):
            catalog.register_engine("fake", capabilities=fake_caps, factory=FakeEngine)
        off = fake_caps.model_copy(
            update={"available": False, "unavailable_reason": "no GPU in this deployment"}
        )
        catalog.register_engine("fake", capabilities=off, factory=FakeEngine, replace=True)
        from likeness.errors import ModelUnavailable

        with pytest.raises(ModelUnavailable, match="no GPU"):
            catalog.get_engine("fake")
    finally:
        catalog._REGISTRY.pop("fake", None)
        catalog._capabilities.pop("fake", None)
        catalog._engines.pop("fake", None)


def test_every_listed_value_is_accepted_by_the_engine() -> None:
    from likeness.engines.classical.edits import parse_instructions
    from likeness.engines.classical.params import parse_output_options

    for ratio in ASPECT_RATIOS:
        for style in STYLES:
            for fmt in CLASSICAL_CAPABILITIES.output_formats:
                parse_output_options({"aspect_ratio": ratio, "style": style, "format": fmt})
    args: dict[str, dict[str, object]] = {
        "replace_background": {"color": "#123456"},
        "crop": {"aspect_ratio": "1:1"},
        "brightness": {"factor": 1.1},
        "contrast": {"factor": 1.1},
        "saturation": {"factor": 1.1},
        "rotate": {"degrees": 90},
    }
    parsed = parse_instructions([{"op": op, **args.get(op, {})} for op in EDIT_INSTRUCTIONS])
    assert [i.op for i in parsed] == EDIT_INSTRUCTIONS
