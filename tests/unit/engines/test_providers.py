"""Provider adapters against local fakes of their HTTP APIs: what each sends, how answers,
errors, refusals and bad outputs come back, and which settings make a slug available."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from likeness.engines.base import EngineError, EngineImage, EngineRequest, Operation
from likeness.engines.models import HOSTED_MODELS, hosted_model, route_of, unavailable_reason
from likeness.engines.providers import build_engine
from likeness.engines.providers.base import ProviderUnavailable, reference_guide
from likeness.engines.providers.config import provider_config, redact
from likeness.engines.providers.openai import size_for
from likeness.errors import ModelUnavailable
from likeness.settings import Settings
from tests.fakes import Echo, Fail, FakeFal, FakeGemini, FakeOpenAI, Malformed, NotAnImage, Pending, Refuse
from tests.helpers import face_bytes

KEY = "unit-test-key-not-real-1234"
OBAMA = EngineImage(face_bytes("obama.jpg"), "the avatar")
SHIRT = EngineImage(face_bytes("obama_small.jpg"), "a garment")


@pytest.fixture(scope="module")
def gemini() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=KEY, default_image=face_bytes("obama.jpg")) as fake:
        yield fake


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY, default_image=face_bytes("obama.jpg")) as fake:
        yield fake


@pytest.fixture(scope="module")
def fal() -> Iterator[FakeFal]:
    with FakeFal(api_key=KEY, default_image=face_bytes("obama.jpg")) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _no_provider_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test says which providers it configures (the e2e session exports its fakes' keys)."""
    for name in (
        "LIKENESS_GEMINI_API_KEY",
        "LIKENESS_GEMINI_BASE_URL",
        "LIKENESS_OPENAI_API_KEY",
        "LIKENESS_OPENAI_BASE_URL",
        "LIKENESS_FAL_KEY",
        "LIKENESS_FAL_QUEUE_URL",
        "LIKENESS_PROVIDER_KEYS_SECRET",
        "LIKENESS_MODEL_ROUTES",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> None:
    for name in ("gemini", "openai_fake", "fal"):
        if name in request.fixturenames:
            request.getfixturevalue(name).reset()


def settings_for(**fakes: str) -> Settings:
    values: dict[str, object] = {"allow_private_urls": True, "provider_max_attempts": 3}
    if "gemini" in fakes:
        values.update(gemini_api_key=SecretStr(KEY), gemini_base_url=fakes["gemini"])
    if "openai" in fakes:
        values.update(openai_api_key=SecretStr(KEY), openai_base_url=fakes["openai"])
    if "fal" in fakes:
        values.update(fal_key=SecretStr(KEY), fal_queue_url=fakes["fal"])
    return Settings(**values)  # type: ignore[arg-type]


def try_on(**extra: object) -> EngineRequest:
    fields: dict[str, object] = {
        "operation": Operation.TRY_ON,
        "prompt": "a loft",
        "face_images": (OBAMA,),
        "garment_images": (SHIRT,),
        "aspect_ratio": "3:4",
        "resolution": "2K",
        "deadline": time.time() + 120,
    }
    return EngineRequest(**{**fields, **extra})  # type: ignore[arg-type]


# ---------------------------------------------------------------- availability and routes
def test_every_hosted_slug_is_unavailable_without_its_key_and_says_which_setting() -> None:
    bare = Settings(_env_file=None)  # type: ignore[call-arg]
    for model in HOSTED_MODELS:
        reason = unavailable_reason(model, bare)
        setting = provider_config(model.provider, bare).key_setting
        assert reason is not None and setting in reason, model.slug
        with pytest.raises(ModelUnavailable):
            build_engine(model.slug, bare)


def test_a_key_makes_its_providers_slugs_available_and_routes_re_route_them() -> None:
    settings = Settings(gemini_api_key=SecretStr(KEY))
    assert unavailable_reason(hosted_model("nano-banana-2"), settings) is None  # type: ignore[arg-type]
    assert unavailable_reason(hosted_model("seedvr2"), settings) is not None  # type: ignore[arg-type]
    routed = Settings(gemini_api_key=SecretStr(KEY), model_routes={"seedream-v4-5": "gemini:gemini-x"})
    model = hosted_model("seedream-v4-5")
    assert model is not None
    assert route_of(model, routed).provider == "gemini" and route_of(model, routed).model_id == "gemini-x"
    assert unavailable_reason(model, routed) is None
    broken = Settings(model_routes={"seedream-v4-5": "nowhere"})
    assert "provider:model-id" in (unavailable_reason(model, broken) or "")


def test_keys_come_from_the_secret_when_the_environment_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import boto3
    from moto import mock_aws

    from likeness.aws.clients import reset_clients
    from likeness.engines.providers.config import forget_secret

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        reset_clients()
        forget_secret()
        boto3.client("secretsmanager").create_secret(
            Name="likeness/providers", SecretString=json.dumps({"LIKENESS_FAL_KEY": KEY})
        )
        settings = Settings(provider_keys_secret="likeness/providers")
        fal_config = provider_config("fal", settings)
        assert fal_config.configured and fal_config.api_key is not None
        assert fal_config.api_key.get_secret_value() == KEY
        assert KEY not in repr(fal_config)
        assert not provider_config("gemini", settings).configured
        # an environment key wins over the secret's
        env = Settings(provider_keys_secret="likeness/providers", fal_key=SecretStr("from-the-env"))
        assert provider_config("fal", env).api_key.get_secret_value() == "from-the-env"  # type: ignore[union-attr]
        assert redact(f"bad key {KEY}!", settings) == "bad key [redacted]!"
    forget_secret()
    reset_clients()


def test_prices_follow_the_specs_catalog_ranges() -> None:
    from likeness.wardrobe.catalog import price

    def credits(slug: str, **kw: object) -> int:
        args: dict[str, object] = {
            "use_case": "generate",
            "num_images": 1,
            "resolution": "2K",
            "upscale_factor": 2,
            "duration": 0,
            "audio": False,
        }
        args.update(kw)
        return price(slug, **args)  # type: ignore[arg-type]

    assert [credits("nano-banana-2", resolution=r) for r in ("1K", "2K", "4K")] == [3, 5, 7]
    assert [credits("nano-banana-pro", resolution=r) for r in ("1K", "4K")] == [5, 10]
    assert [credits(f"gpt-image-2-{q}") for q in ("high", "medium", "low")] == [12, 6, 2]
    assert credits("gpt-image-2-low", num_images=3) == 6
    assert [credits("qwen-rapid-aio-v23", resolution=r) for r in ("768X1024", "1024X1280")] == [2, 3]
    video = {"use_case": "video"}
    assert (
        credits("seedance-2", duration=4, **video) == 49
        and credits("seedance-2", duration=15, **video) == 183
    )
    assert credits("kling-3-pro", duration=3, **video) == 14
    assert credits("kling-3-pro", duration=15, audio=True, **video) == 101
    assert credits("kling-2-5-turbo-pro", duration=5, **video) == 14
    assert credits("kling-2-5-turbo-pro", duration=10, **video) == 26
    assert credits("seedance-1-5-pro", duration=5, **video) == 6
    assert credits("seedance-1-5-pro", duration=10, audio=True, **video) == 20


def test_the_reference_guide_names_each_image_by_its_role() -> None:
    guide = reference_guide(try_on(style_images=(OBAMA,), garment_backs={}).references())
    assert guide.splitlines()[1:] == [
        "Image 1: the person to show; keep their face, features and identity exactly.",
        "Image 2: a garment (front view) the person wears.",
        "Image 3: inspiration for style, lighting and setting only; do not copy this person.",
    ]


# ---------------------------------------------------------------- gemini
def test_gemini_sends_prompt_images_and_image_config(gemini: FakeGemini) -> None:
    engine = build_engine("nano-banana-2", settings_for(gemini=gemini.url))
    [output] = engine.run(try_on())
    assert output.content_type == "image/png" and output.face_sources == (0,)
    [call] = gemini.generation_calls
    assert call.path == "/v1beta/models/gemini-3.1-flash-image-preview:generateContent"
    parts = call.json["contents"][0]["parts"]
    assert "a loft" in parts[0]["text"] and len(parts) == 3
    config = call.json["generationConfig"]
    assert config["imageConfig"] == {"aspectRatio": "3:4", "imageSize": "2K"}


def test_gemini_retries_429_then_succeeds_and_gives_up_transiently(gemini: FakeGemini) -> None:
    engine = build_engine("gemini-flash", settings_for(gemini=gemini.url))
    gemini.script(Fail(429, retry_after=0), Echo())
    assert len(engine.run(try_on())) == 1
    gemini.reset()
    gemini.script(*(Fail(503, retry_after=0) for _ in range(3)))
    with pytest.raises(ProviderUnavailable) as failed:
        engine.run(try_on())
    assert failed.value.code == "provider_unavailable" and failed.value.transient
    assert "HTTP 503 on the last of 3 tries" in failed.value.reason


def test_gemini_retries_stop_at_the_jobs_deadline(gemini: FakeGemini) -> None:
    engine = build_engine("gemini-flash", settings_for(gemini=gemini.url))
    gemini.script(Fail(429, retry_after=30), Echo())
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable, match="deadline"):
        engine.run(try_on(deadline=time.time() + 10))
    assert time.monotonic() - started < 5  # it did not sleep 30 s past a 10 s deadline


@pytest.mark.parametrize(
    ("behaviour", "code", "words"),
    [
        (Refuse("prompt"), "provider_refused", "blockReason SAFETY"),
        (Refuse("image"), "provider_refused", "finishReason IMAGE_SAFETY"),
        (Malformed(), "provider_error", "without an image"),
        (NotAnImage(), "provider_error", "not a PNG, JPEG or WebP"),
        (Fail(400, message="bad aspect"), "provider_error", "bad aspect"),
    ],
)
def test_gemini_refusals_and_bad_answers(
    gemini: FakeGemini, behaviour: object, code: str, words: str
) -> None:
    engine = build_engine("nano-banana-2", settings_for(gemini=gemini.url))
    gemini.script(behaviour)  # type: ignore[arg-type]
    with pytest.raises(EngineError) as failed:
        engine.run(try_on())
    assert failed.value.code == code and words in failed.value.reason
    assert len(gemini.generation_calls) == 1


def test_a_wrong_key_is_an_error_that_never_shows_the_key(gemini: FakeGemini) -> None:
    settings = settings_for(gemini=gemini.url).model_copy(
        update={"gemini_api_key": SecretStr("wrong-key-77")}
    )
    with pytest.raises(EngineError) as failed:
        build_engine("nano-banana-2", settings).run(try_on())
    assert failed.value.code == "provider_error" and "403" in failed.value.reason
    assert "wrong-key-77" not in failed.value.reason


# ---------------------------------------------------------------- openai
def test_openai_size_is_the_resolution_and_ratio_in_multiples_of_16() -> None:
    assert size_for(EngineRequest(operation=Operation.GENERATE)) == "auto"
    assert (
        size_for(EngineRequest(operation=Operation.GENERATE, resolution="1K", aspect_ratio="1:1"))
        == "1024x1024"
    )
    assert (
        size_for(EngineRequest(operation=Operation.GENERATE, resolution="2K", aspect_ratio="9:16"))
        == "1152x2048"
    )
    assert (
        size_for(EngineRequest(operation=Operation.GENERATE, resolution="4K", aspect_ratio="21:9"))
        == "3840x1648"
    )


def test_openai_edits_send_every_reference_as_a_file_and_n_outputs(openai_fake: FakeOpenAI) -> None:
    engine = build_engine("gpt-image-2-high", settings_for(openai=openai_fake.url))
    outputs = engine.run(try_on(count=2, resolution="1K"))
    assert len(outputs) == 2
    [call] = openai_fake.generation_calls
    assert call.path == "/v1/images/edits" and call.form["quality"] == ["high"] and call.form["n"] == ["2"]
    assert [f.field for f in call.files] == ["image[]", "image[]"]
    openai_fake.reset()
    text_only = EngineRequest(operation=Operation.GENERATE, prompt="a red bicycle", resolution="1K")
    assert len(engine.run(text_only)) == 1
    assert openai_fake.generation_calls[0].path == "/v1/images/generations"


def test_openai_moderation_block_is_a_refusal(openai_fake: FakeOpenAI) -> None:
    engine = build_engine("gpt-image-2-low", settings_for(openai=openai_fake.url))
    openai_fake.script(Refuse())
    with pytest.raises(EngineError) as failed:
        engine.run(try_on())
    assert failed.value.code == "provider_refused" and "moderation_blocked" in failed.value.reason


# ---------------------------------------------------------------- fal
def test_fal_submit_collect_and_cancel_use_the_queues_own_urls(fal: FakeFal) -> None:
    engine = build_engine("kling-3-pro", settings_for(fal=fal.url))
    fal.script(Pending(polls=2))
    request = EngineRequest(
        operation=Operation.VIDEO,
        base_image=OBAMA,
        last_frame=OBAMA,
        prompt="waves",
        duration=5,
        audio=True,
        deadline=time.time() + 60,
    )
    handle = engine.submit(request)  # type: ignore[attr-defined]
    assert "/fal-ai/kling-video/requests/" in handle["status_url"]
    assert engine.collect(handle, request) is None  # type: ignore[attr-defined]
    assert engine.collect(handle, request) is None  # type: ignore[attr-defined]
    [video] = engine.collect(handle, request)  # type: ignore[attr-defined]
    assert video.kind == "video" and video.content_type == "video/mp4" and video.duration_seconds
    submitted = fal.generation_calls[0].json
    assert set(submitted) >= {"prompt", "start_image_url", "end_image_url", "duration", "generate_audio"}

    fal.script(Pending(polls=100))
    pending = engine.submit(request)  # type: ignore[attr-defined]
    engine.cancel(pending)  # type: ignore[attr-defined]
    assert pending["request_id"] in fal.cancelled


@pytest.mark.parametrize(
    ("slug", "fields"),
    [
        ("seedream-v4-5", {"prompt", "image_urls", "num_images", "image_size"}),
        ("qwen-rapid-aio-v23", {"prompt", "image_urls", "num_images"}),
        ("aura-sr", {"image_url", "upscaling_factor"}),
    ],
)
def test_fal_inputs_per_model(fal: FakeFal, slug: str, fields: set[str]) -> None:
    engine = build_engine(slug, settings_for(fal=fal.url))
    if slug == "aura-sr":
        request = EngineRequest(operation=Operation.UPSCALE, base_image=SHIRT, params={"factor": 4})
    else:
        request = EngineRequest(
            operation=Operation.EDIT,
            base_image=OBAMA,
            prompt="a hat",
            resolution="1024X1280" if "qwen" in slug else "2K",
        )
    outputs = engine.run(request)
    assert outputs and outputs[0].kind == "image"
    assert fields <= set(fal.generation_calls[0].json)


def test_seedream_without_images_uses_the_text_endpoint(fal: FakeFal) -> None:
    engine = build_engine("seedream-v4-5", settings_for(fal=fal.url))
    engine.run(EngineRequest(operation=Operation.GENERATE, prompt="a lighthouse", resolution="1K"))
    assert fal.generation_calls[0].path == "/fal-ai/bytedance/seedream/v4.5/text-to-image"


def test_fal_content_policy_is_a_refusal_and_validation_an_error(fal: FakeFal) -> None:
    engine = build_engine("seedream-v4-5", settings_for(fal=fal.url))
    request = EngineRequest(operation=Operation.EDIT, base_image=OBAMA, prompt="p")
    fal.script(Refuse())
    with pytest.raises(EngineError) as refused:
        engine.run(request)
    assert refused.value.code == "provider_refused"
    fal.script(Fail(422, message="bad input"))
    with pytest.raises(EngineError) as invalid:
        engine.run(request)
    assert invalid.value.code == "provider_error"


def test_qwen_edits_only_and_refuses_a_prompt_alone(fal: FakeFal) -> None:
    engine = build_engine("qwen-rapid-aio-v23", settings_for(fal=fal.url))
    with pytest.raises(EngineError) as failed:
        engine.run(EngineRequest(operation=Operation.GENERATE, prompt="a face"))
    assert failed.value.code == "unsupported_operation"
    assert not fal.generation_calls
