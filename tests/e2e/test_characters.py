"""Characters over HTTP (character-visual-identity spec): versions and the PATCH trap, sessions and
their event log, visual assets with real photos, inventory and the exact readiness rules."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ApiUser, bucket_keys
from tests.helpers import face_bytes, png_bytes, truncated_jpeg

pytestmark = pytest.mark.e2e

DICT_ANCHORS = {
    "visual_summary": "late-20s woman, warm but tired-eyed, often in a flour-dusted apron",
    "hair": "shoulder-length dark hair, usually tied back",
    "style_constants": ["round wire glasses", "simple earth-tone clothes"],
    "avoid_visual_changes": ["no drastic hair color changes"],
}
IMAGES_ON = {"image_proactivity": 0.4, "selfie_comfort": 0.6, "daily_image_cap": 3}
ASSET_FIELDS = {
    "asset_id",
    "slug",
    "category",
    "asset_key",
    "label",
    "visual_summary",
    "visual_description",
    "asset_status",
    "promotion_status",
    "qa_status",
    "image_url",
    "content_type",
    "width",
    "height",
    "source",
    "source_probe_id",
    "created_at",
    "updated_at",
}


# ---------------------------------------------------------------------------- helpers
def new_slug() -> str:
    return f"char-{secrets.token_hex(4)}"


def data_of(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["schema_version"] == "v0"
    assert isinstance(body["next_actions"], list)
    for action in body["next_actions"]:
        assert set(action) == {"command", "description"}
    return body["data"]


def error_of(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    detail: dict[str, Any] = resp.json()["detail"]
    assert detail["code"] == code, detail
    assert detail["message"]
    return detail


def create(user: ApiUser, slug: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {"slug": slug or new_slug(), "name": "Mara", **fields}
    data: dict[str, Any] = data_of(user.client.post("/v1/characters", json=body), 201)
    return data


def upload(
    user: ApiUser,
    slug: str,
    data: bytes,
    *,
    category: str = "identity",
    asset_key: str = "identity-front",
    label: str = "front-facing portrait",
    filename: str = "face.jpg",
    **extra: str,
) -> httpx.Response:
    form = {"category": category, "asset_key": asset_key, "label": label, **extra}
    return user.client.post(
        f"/v1/characters/{slug}/visual-assets",
        data=form,
        files={"file": (filename, data, "application/octet-stream")},
    )


def upload_identity(user: ApiUser, slug: str, fixture: str = "obama.jpg") -> dict[str, Any]:
    asset: dict[str, Any] = data_of(upload(user, slug, face_bytes(fixture)), 201)
    return asset


def upload_wardrobe(user: ApiUser, slug: str, key: str = "apron") -> dict[str, Any]:
    resp = upload(
        user,
        slug,
        png_bytes(320, 240, (180, 120, 60)),
        category="wardrobe",
        asset_key=key,
        label="flour apron",
    )
    asset: dict[str, Any] = data_of(resp, 201)
    return asset


def visual(user: ApiUser, slug: str) -> dict[str, Any]:
    data: dict[str, Any] = data_of(user.client.get(f"/v1/characters/{slug}/visual-readiness"))
    return data


def check(readiness: dict[str, Any], check_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in readiness["checks"] if c["id"] == check_id)
    return found


def events(user: ApiUser, session_id: str, since: int = 0) -> list[dict[str, Any]]:
    data = data_of(user.client.get(f"/v1/sessions/{session_id}/events", params={"since": since}))
    result: list[dict[str, Any]] = data["events"]
    return result


def stored_asset(account_id: str, slug: str, asset_id: str) -> dict[str, Any] | None:
    from likeness.characters.assets import asset_sk
    from likeness.characters.service import character_pk
    from likeness.wiring import table

    return table().get(character_pk(account_id, slug), asset_sk(asset_id))


# ---------------------------------------------------------------------------- characters
def test_create_and_get_in_the_envelope(alice: ApiUser) -> None:
    slug = new_slug()
    resp = alice.client.post(
        "/v1/characters",
        json={
            "slug": slug,
            "name": "Mara",
            "profile": {"bio": "runs a bakery", "identity_anchors": DICT_ANCHORS},
            "behavioral_thresholds": {"image_proactivity": 0.25},
        },
    )
    created = data_of(resp, 201)
    assert resp.headers["location"] == f"/v1/characters/{slug}"
    assert created["slug"] == slug and created["name"] == "Mara"
    assert created["version"] == 1 and created["version_count"] == 1
    assert created["active_version_id"].startswith("ver_")
    assert created["profile"] == {"bio": "runs a bakery", "identity_anchors": DICT_ANCHORS}
    # defaults fill what was not sent
    assert created["behavioral_thresholds"] == {
        "image_proactivity": 0.25,
        "selfie_comfort": 0.0,
        "daily_image_cap": 0,
    }
    assert created["created_at"] and created["updated_at"]
    assert any("visual-assets" in a["command"] for a in resp.json()["next_actions"])

    assert data_of(alice.client.get(f"/v1/characters/{slug}")) == created
    listed = data_of(alice.client.get("/v1/characters"))["characters"]
    assert [c["slug"] for c in listed] == [slug]


def test_defaults_when_only_slug_and_name_are_sent(alice: ApiUser) -> None:
    created = create(alice)
    assert created["profile"] == {}
    assert created["behavioral_thresholds"] == {
        "image_proactivity": 0,
        "selfie_comfort": 0,
        "daily_image_cap": 0,
    }


@pytest.mark.parametrize("slug", ["A-upper", "x", "has_underscore", "a" * 65, "sp ace", "dot.ted", ""])
def test_bad_slugs_are_422(alice: ApiUser, slug: str) -> None:
    error_of(alice.client.post("/v1/characters", json={"slug": slug, "name": "Mara"}), 422, "invalid_request")


def test_slugs_are_unique_per_account(alice: ApiUser, bob: ApiUser) -> None:
    slug = new_slug()
    create(alice, slug)
    detail = error_of(
        alice.client.post("/v1/characters", json={"slug": slug, "name": "Other"}), 409, "slug_taken"
    )
    assert detail["fix"]
    # another account has its own namespace
    assert create(bob, slug)["slug"] == slug


@pytest.mark.parametrize(
    "body",
    [
        {"behavioral_thresholds": {"image_proactivity": 1.5}},
        {"behavioral_thresholds": {"selfie_comfort": -0.1}},
        {"behavioral_thresholds": {"daily_image_cap": -1}},
        {"behavioral_thresholds": {"selfie_comfort_level": 0.5}},  # a typo is not silently ignored
        {"profile": "not an object"},
        {"profile": {"identity_anchors": "a string"}},
        {"profile": {"identity_anchors": [1, 2]}},
        {"name": "  "},
        {"unknown": 1},
    ],
)
def test_bad_bodies_are_422_and_create_nothing(alice: ApiUser, body: dict[str, Any]) -> None:
    slug = new_slug()
    error_of(
        alice.client.post("/v1/characters", json={"slug": slug, "name": "Mara", **body}),
        422,
        "invalid_request",
    )
    error_of(alice.client.get(f"/v1/characters/{slug}"), 404, "character_not_found")


def test_anchors_as_a_list_are_valid_but_fail_visual_readiness(alice: ApiUser) -> None:
    slug = create(alice, profile={"identity_anchors": ["warm", "wry", "tired-eyed"]})["slug"]
    anchors = check(visual(alice, slug), "identity_anchors")
    assert anchors["status"] == "missing"
    assert "list" in anchors["summary"] and anchors["fix"]
    # the list is enough for voice in the character-wide readiness
    launch = data_of(alice.client.get(f"/v1/characters/{slug}/readiness"))
    assert check(launch, "voice")["status"] == "ok"
    assert check(launch, "identity_anchors")["status"] == "missing"


def test_anchors_as_a_dict_pass(alice: ApiUser) -> None:
    slug = create(alice, profile={"identity_anchors": DICT_ANCHORS})["slug"]
    anchors = check(visual(alice, slug), "identity_anchors")
    assert anchors == {"id": "identity_anchors", "status": "ok", "summary": "Visual identity anchors set."}


def test_an_empty_dict_is_not_an_anchor(alice: ApiUser) -> None:
    slug = create(alice, profile={"identity_anchors": {}})["slug"]
    assert check(visual(alice, slug), "identity_anchors")["status"] == "missing"


def test_each_profile_or_threshold_patch_is_a_new_version(alice: ApiUser) -> None:
    first = create(alice, profile={"identity_anchors": DICT_ANCHORS}, behavioral_thresholds=IMAGES_ON)
    slug = first["slug"]

    second = data_of(
        alice.client.patch(f"/v1/characters/{slug}", json={"behavioral_thresholds": {"selfie_comfort": 0.9}})
    )
    assert second["version"] == 2 and second["active_version_id"] != first["active_version_id"]
    # thresholds change field by field; the profile carries over untouched
    assert second["behavioral_thresholds"] == {**IMAGES_ON, "selfie_comfort": 0.9}
    assert second["profile"] == first["profile"]

    third = data_of(
        alice.client.patch(
            f"/v1/characters/{slug}", json={"profile": {"identity_anchors": DICT_ANCHORS, "bio": "new bio"}}
        )
    )
    assert (
        third["version"] == 3
        and len({first["active_version_id"], second["active_version_id"], third["active_version_id"]}) == 3
    )
    assert third["profile"] == {"identity_anchors": DICT_ANCHORS, "bio": "new bio"}

    # the name is not versioned
    renamed = data_of(alice.client.patch(f"/v1/characters/{slug}", json={"name": "Mara B."}))
    assert renamed["name"] == "Mara B." and renamed["version"] == 3
    assert renamed["active_version_id"] == third["active_version_id"]

    versions = data_of(alice.client.get(f"/v1/characters/{slug}/versions"))
    assert [v["version"] for v in versions["versions"]] == [1, 2, 3]
    assert [v["active"] for v in versions["versions"]] == [False, False, True]
    assert versions["versions"][0]["behavioral_thresholds"] == IMAGES_ON
    assert versions["active_version_id"] == third["active_version_id"]

    error_of(
        alice.client.patch(
            f"/v1/characters/{slug}", json={"behavioral_thresholds": {"image_proactivity": 2}}
        ),
        422,
        "invalid_request",
    )


def test_a_profile_patch_without_anchors_silently_drops_them(alice: ApiUser) -> None:
    slug = create(
        alice, profile={"identity_anchors": DICT_ANCHORS, "bio": "baker"}, behavioral_thresholds=IMAGES_ON
    )["slug"]
    upload_identity(alice, slug)
    before = visual(alice, slug)
    assert check(before, "identity_anchors")["status"] == "ok"

    resp = alice.client.patch(
        f"/v1/characters/{slug}", json={"profile": {"bio": "baker, now also a cellist"}}
    )
    patched = data_of(resp)
    # replaced wholesale, exactly as the spec warns
    assert patched["profile"] == {"bio": "baker, now also a cellist"}
    assert patched["version"] == 2
    assert "identity_anchors" in resp.json()["next_actions"][0]["description"]

    after = visual(alice, slug)
    assert after["active_version_id"] == patched["active_version_id"] != before["active_version_id"]
    assert check(after, "identity_anchors")["status"] == "missing"
    # the identity image is character-global: still there
    assert check(after, "identity_asset")["status"] == "ok"
    assert after["status"] == "needs_attention"
    assert "ACTIVE" in after["scope_note"] and "character-global" in after["scope_note"]


# ---------------------------------------------------------------------------- readiness
def test_visual_readiness_moves_from_needs_attention_to_ready(alice: ApiUser) -> None:
    slug = create(alice, profile={"identity_anchors": DICT_ANCHORS})["slug"]
    start = visual(alice, slug)
    assert start["status"] == "needs_attention"
    assert [c["id"] for c in start["checks"]] == [
        "identity_asset",
        "identity_anchors",
        "inventory_coverage",
        "image_generation",
    ]
    assert check(start, "identity_asset")["status"] == "missing"
    assert check(start, "image_generation") == {
        "id": "image_generation",
        "status": "disabled",
        "summary": "Image generation off (default).",
        "fix": "Set behavioral_thresholds.image_proactivity / selfie_comfort.",
    }

    upload_identity(alice, slug)
    with_identity = visual(alice, slug)
    assert with_identity["status"] == "ready_with_warnings"
    assert check(with_identity, "identity_asset") == {
        "id": "identity_asset",
        "status": "ok",
        "summary": "1 active identity asset(s).",
    }
    assert check(with_identity, "inventory_coverage") == {
        "id": "inventory_coverage",
        "status": "weak",
        "summary": "No inventory assets.",
        "fix": "Add wardrobe/accessory/prop/place for consistent images.",
    }

    data_of(alice.client.patch(f"/v1/characters/{slug}", json={"behavioral_thresholds": IMAGES_ON}))
    assert check(visual(alice, slug), "image_generation")["status"] == "ok"

    # a candidate does not count; promoting it does
    wardrobe = upload_wardrobe(alice, slug)
    pending = visual(alice, slug)
    assert pending["status"] == "ready_with_warnings"
    assert check(pending, "inventory_coverage")["status"] == "weak"
    data_of(
        alice.client.patch(
            f"/v1/characters/{slug}/visual-assets/{wardrobe['asset_id']}",
            json={"promotion_status": "approved_keyframe"},
        )
    )
    ready = visual(alice, slug)
    assert ready["status"] == "ready"
    assert all(c["status"] == "ok" and "fix" not in c for c in ready["checks"])
    assert any(
        "image-probe" in a
        for a in [
            a["command"]
            for a in alice.client.get(f"/v1/characters/{slug}/visual-readiness").json()["next_actions"]
        ]
    )


def test_images_on_with_a_zero_cap_is_ok_visually_but_not_for_delivery(alice: ApiUser) -> None:
    slug = create(
        alice,
        profile={"identity_anchors": DICT_ANCHORS},
        behavioral_thresholds={"selfie_comfort": 0.5},
    )["slug"]
    # the spec's image_generation rule reads proactivity / comfort only
    assert check(visual(alice, slug), "image_generation")["status"] == "ok"
    launch = data_of(alice.client.get(f"/v1/characters/{slug}/readiness"))
    assert check(launch, "delivery")["status"] == "missing"


def test_character_readiness_checks(make_user: Callable[..., ApiUser]) -> None:
    broke = make_user(credits=0)
    slug = create(broke)["slug"]
    launch = data_of(broke.client.get(f"/v1/characters/{slug}/readiness"))
    assert [c["id"] for c in launch["checks"]] == [
        "persona",
        "voice",
        "budget",
        "delivery",
        "identity_asset",
        "identity_anchors",
        "inventory_coverage",
        "image_generation",
    ]
    statuses = {c["id"]: c["status"] for c in launch["checks"]}
    assert statuses["persona"] == "missing"
    assert statuses["voice"] == "missing"
    assert statuses["budget"] == "missing"
    assert statuses["delivery"] == "disabled"
    assert launch["status"] == "needs_attention"
    assert launch["active_version_id"]

    funded = make_user(credits=50)
    slug = create(
        funded, profile={"identity_anchors": DICT_ANCHORS, "bio": "baker"}, behavioral_thresholds=IMAGES_ON
    )["slug"]
    upload_identity(funded, slug)
    wardrobe = upload_wardrobe(funded, slug)
    data_of(
        funded.client.patch(
            f"/v1/characters/{slug}/visual-assets/{wardrobe['asset_id']}", json={"asset_status": "active"}
        )
    )
    ready = data_of(funded.client.get(f"/v1/characters/{slug}/readiness"))
    assert {c["id"]: c["status"] for c in ready["checks"]} == dict.fromkeys(statuses, "ok")
    assert ready["status"] == "ready"


# ---------------------------------------------------------------------------- visual assets
def test_an_identity_upload_is_active_at_once_with_its_embedding(alice: ApiUser) -> None:
    slug = create(alice)["slug"]
    resp = upload(alice, slug, face_bytes("obama.jpg"), visual_summary="smiling, dark suit")
    asset = data_of(resp, 201)
    assert set(asset) == ASSET_FIELDS
    assert asset["category"] == "identity"
    assert asset["asset_status"] == "active"
    assert asset["promotion_status"] == "approved_anchor"
    assert asset["qa_status"] == "passed"
    assert asset["source"] == "upload"
    assert asset["asset_key"] == "identity-front" and asset["label"] == "front-facing portrait"
    assert asset["visual_summary"] == "smiling, dark suit"
    # defaults to visual_summary
    assert asset["visual_description"] == "smiling, dark suit"
    assert asset["content_type"] == "image/jpeg"
    assert resp.headers["location"] == f"/v1/characters/{slug}/visual-assets/{asset['asset_id']}"

    key = f"characters/{alice.account_id}/{slug}/assets/{asset['asset_id']}.jpg"
    assert bucket_keys(f"characters/{alice.account_id}/{slug}/") == [key]
    image = httpx.get(asset["image_url"], timeout=30)
    assert image.status_code == 200 and image.content == face_bytes("obama.jpg")

    stored = stored_asset(alice.account_id, slug, asset["asset_id"])
    assert stored is not None and stored["key"] == key
    assert isinstance(stored["embedding"], bytes) and len(stored["embedding"]) == 128 * 4
    assert stored["embedding_dim"] == 128


def test_visual_description_defaults_to_the_label(alice: ApiUser) -> None:
    slug = create(alice)["slug"]
    asset = upload_identity(alice, slug, "obama2.jpg")
    assert asset["visual_summary"] is None
    assert asset["visual_description"] == "front-facing portrait"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (face_bytes("obama_and_biden.jpg"), "face_rejected"),
        (b"this is not an image at all", "image_rejected"),
        (truncated_jpeg(), "image_rejected"),
        (b"GIF89a" + b"\0" * 64, "image_rejected"),
        (b"", "image_rejected"),
    ],
    # over 8 MB (too big for a request: it comes as an upload_id): test_upload_routes.py
    ids=["group-photo", "not-an-image", "truncated", "gif", "empty"],
)
def test_unusable_identity_uploads_are_422_and_store_nothing(alice: ApiUser, data: bytes, code: str) -> None:
    slug = create(alice)["slug"]
    error_of(upload(alice, slug, data), 422, code)
    inventory = data_of(alice.client.get(f"/v1/characters/{slug}/visual-inventory"))
    assert inventory["total"] == 0
    assert bucket_keys(f"characters/{alice.account_id}/{slug}/") == []


def test_an_unusable_inventory_image_is_image_rejected_too(alice: ApiUser) -> None:
    slug = create(alice)["slug"]
    upload_identity(alice, slug)
    for data in (b"nope", truncated_jpeg()):
        error_of(
            upload(alice, slug, data, category="prop", asset_key="mug", label="mug"), 422, "image_rejected"
        )


def test_an_unknown_category_is_invalid_category(alice: ApiUser) -> None:
    slug = create(alice)["slug"]
    detail = error_of(
        upload(alice, slug, face_bytes("obama.jpg"), category="selfie"), 422, "invalid_category"
    )
    assert "wardrobe" in detail["message"]


@pytest.mark.parametrize("field", ["asset_key", "label"])
@pytest.mark.parametrize("value", ["", "   "])
def test_empty_asset_key_or_label_is_422(alice: ApiUser, field: str, value: str) -> None:
    slug = create(alice)["slug"]
    error_of(upload(alice, slug, face_bytes("obama.jpg"), **{field: value}), 422, "invalid_request")


def test_inventory_before_identity_is_409_needs_identity(alice: ApiUser) -> None:
    slug = create(alice)["slug"]
    resp = upload(alice, slug, png_bytes(200, 200), category="wardrobe", asset_key="apron", label="apron")
    assert resp.status_code == 409, resp.text
    assert resp.json() == {
        "detail": {
            "code": "needs_identity",
            "message": "this character has no active identity asset yet",
            "fix": "Upload identity first: POST /v1/characters/{slug}/visual-assets (category=identity).",
        }
    }
    # a retired identity does not count either
    identity = upload_identity(alice, slug)
    assert upload_wardrobe(alice, slug)["asset_status"] == "candidate"
    data_of(
        alice.client.patch(
            f"/v1/characters/{slug}/visual-assets/{identity['asset_id']}", json={"asset_status": "retired"}
        )
    )
    error_of(
        upload(alice, slug, png_bytes(200, 200), category="prop", asset_key="mug", label="mug"),
        409,
        "needs_identity",
    )


def test_promote_reject_and_delete(alice: ApiUser) -> None:
    slug = create(alice)["slug"]
    upload_identity(alice, slug)
    asset = upload_wardrobe(alice, slug)
    assert (asset["asset_status"], asset["promotion_status"], asset["qa_status"]) == (
        "candidate",
        "candidate",
        "unreviewed",
    )
    path = f"/v1/characters/{slug}/visual-assets/{asset['asset_id']}"

    promoted = data_of(
        alice.client.patch(path, json={"promotion_status": "approved_keyframe", "qa_status": "passed"})
    )
    assert (promoted["asset_status"], promoted["promotion_status"], promoted["qa_status"]) == (
        "active",
        "approved_keyframe",
        "passed",
    )
    rejected = data_of(alice.client.patch(path, json={"asset_status": "rejected"}))
    assert rejected["asset_status"] == "rejected"
    error_of(
        alice.client.patch(path, json={"promotion_status": "approved_anchor", "asset_status": "retired"}),
        422,
        "invalid_request",
    )
    error_of(alice.client.patch(path, json={"asset_status": "gone"}), 422, "invalid_request")
    assert data_of(alice.client.get(path))["asset_status"] == "rejected"

    key = f"characters/{alice.account_id}/{slug}/assets/{asset['asset_id']}.png"
    assert key in bucket_keys(f"characters/{alice.account_id}/{slug}/")
    assert data_of(alice.client.delete(path)) == {"asset_id": asset["asset_id"], "deleted": True}
    assert key not in bucket_keys(f"characters/{alice.account_id}/{slug}/")
    assert stored_asset(alice.account_id, slug, asset["asset_id"]) is None
    error_of(alice.client.get(path), 404, "asset_not_found")
    error_of(alice.client.delete(path), 404, "asset_not_found")
    error_of(alice.client.patch(path, json={"qa_status": "passed"}), 404, "asset_not_found")


def test_visual_inventory_groups_and_counts(alice: ApiUser) -> None:
    slug = create(alice)["slug"]
    empty = data_of(alice.client.get(f"/v1/characters/{slug}/visual-inventory"))
    assert list(empty["categories"]) == [
        "identity",
        "wardrobe",
        "accessory",
        "prop",
        "place",
        "scene",
        "style",
        "keyframe",
    ]
    assert empty["total"] == 0

    upload_identity(alice, slug)
    apron = upload_wardrobe(alice, slug, "apron")
    upload_wardrobe(alice, slug, "coat")
    ring = data_of(
        upload(alice, slug, png_bytes(100, 100), category="accessory", asset_key="ring", label="silver ring"),
        201,
    )
    data_of(
        alice.client.patch(
            f"/v1/characters/{slug}/visual-assets/{apron['asset_id']}",
            json={"promotion_status": "approved_keyframe"},
        )
    )
    data_of(
        alice.client.patch(
            f"/v1/characters/{slug}/visual-assets/{ring['asset_id']}", json={"asset_status": "rejected"}
        )
    )

    inventory = data_of(alice.client.get(f"/v1/characters/{slug}/visual-inventory"))
    assert inventory["total"] == 4
    assert inventory["counts"] == {"candidate": 1, "active": 2, "retired": 0, "rejected": 1}
    wardrobe = inventory["categories"]["wardrobe"]
    assert wardrobe["count"] == 2
    assert wardrobe["counts"] == {"candidate": 1, "active": 1, "retired": 0, "rejected": 0}
    assert [a["asset_key"] for a in wardrobe["assets"]] == ["apron", "coat"]
    assert inventory["categories"]["identity"]["counts"]["active"] == 1
    assert inventory["categories"]["accessory"]["counts"]["rejected"] == 1
    assert inventory["categories"]["place"] == {
        "count": 0,
        "counts": {"candidate": 0, "active": 0, "retired": 0, "rejected": 0},
        "assets": [],
    }

    listed = data_of(
        alice.client.get(f"/v1/characters/{slug}/visual-assets", params={"category": "wardrobe"})
    )
    assert len(listed["assets"]) == 2
    active = data_of(
        alice.client.get(f"/v1/characters/{slug}/visual-assets", params={"asset_status": "active"})
    )
    assert {a["category"] for a in active["assets"]} == {"identity", "wardrobe"}
    error_of(
        alice.client.get(f"/v1/characters/{slug}/visual-assets", params={"category": "nope"}),
        422,
        "invalid_category",
    )


# ---------------------------------------------------------------------------- sessions
def test_sessions_open_exit_and_the_event_log(alice: ApiUser) -> None:
    character = create(alice)
    slug = character["slug"]
    resp = alice.client.post(f"/v1/characters/{slug}/sessions")
    session = data_of(resp, 201)
    session_id = session["session_id"]
    assert session_id.startswith("ses_")
    assert resp.headers["location"] == f"/v1/sessions/{session_id}"
    assert session["state"] == "open" and session["slug"] == slug
    assert session["version_id"] == character["active_version_id"]
    assert session["exited_at"] is None and session["last_seq"] == 1

    opened = events(alice, session_id)
    assert [(e["seq"], e["type"]) for e in opened] == [(1, "session.opened")]
    assert opened[0]["data"] == {"slug": slug, "version_id": character["active_version_id"]}
    assert opened[0]["created_at"]

    exited = data_of(alice.client.post(f"/v1/sessions/{session_id}/exit"))
    assert exited["state"] == "exited" and exited["exited_at"]
    # idempotent: the same answer, no second event
    again = data_of(alice.client.post(f"/v1/sessions/{session_id}/exit"))
    assert again == exited

    log = data_of(alice.client.get(f"/v1/sessions/{session_id}/events", params={"since": 0}))
    assert [(e["seq"], e["type"]) for e in log["events"]] == [(1, "session.opened"), (2, "session.exited")]
    assert log["state"] == "exited" and log["next_since"] == 2 and log["has_more"] is False
    assert [e["seq"] for e in events(alice, session_id, since=1)] == [2]
    assert events(alice, session_id, since=2) == []

    page = data_of(alice.client.get(f"/v1/sessions/{session_id}/events", params={"since": 0, "limit": 1}))
    assert [e["seq"] for e in page["events"]] == [1] and page["has_more"] is True and page["next_since"] == 1

    assert data_of(alice.client.get(f"/v1/sessions/{session_id}"))["state"] == "exited"
    listed = data_of(alice.client.get(f"/v1/characters/{slug}/sessions"))["sessions"]
    assert [s["session_id"] for s in listed] == [session_id]
    error_of(
        alice.client.get(f"/v1/sessions/{session_id}/events", params={"since": -1}), 422, "invalid_request"
    )
    error_of(alice.client.post(f"/v1/characters/{new_slug()}/sessions"), 404, "character_not_found")
    error_of(alice.client.get("/v1/sessions/ses_missing/events"), 404, "session_not_found")


def test_event_write_allocates_distinct_sequence_numbers(alice: ApiUser) -> None:
    from likeness.errors import Conflict, NotFound
    from likeness.wiring import account_service, session_service, table

    slug = create(alice)["slug"]
    session_id = data_of(alice.client.post(f"/v1/characters/{slug}/sessions"), 201)["session_id"]
    sessions = session_service()
    first = sessions.event_write(session_id=session_id, event_type="image.ready", data={"probe_id": "p1"})
    second = sessions.event_write(session_id=session_id, event_type="image.ready", data={"probe_id": "p2"})
    assert first.item is not None and second.item is not None
    assert (first.item["seq"], second.item["seq"]) == (2, 3)
    # committed out of order, read in order
    table().transact([second])
    table().transact([first])
    log = events(alice, session_id, since=1)
    assert [(e["seq"], e["type"], e["data"]["probe_id"]) for e in log] == [
        (2, "image.ready", "p1"),
        (3, "image.ready", "p2"),
    ]
    with pytest.raises(NotFound):
        sessions.event_write(session_id="ses_missing", event_type="x", data={})

    caller = account_service().authenticate(alice.api_key)
    assert sessions.get_open(caller=caller, session_id=session_id, slug=slug)["state"] == "open"
    with pytest.raises(NotFound):
        sessions.get_open(caller=caller, session_id=session_id, slug="another-slug")
    data_of(alice.client.post(f"/v1/sessions/{session_id}/exit"))
    with pytest.raises(Conflict) as exited:
        sessions.get_open(caller=caller, session_id=session_id, slug=slug)
    assert exited.value.error_code == "session_exited"


def test_service_interfaces_for_probes(alice: ApiUser) -> None:
    from likeness.characters.readiness import visual_readiness
    from likeness.wiring import account_service, asset_service, character_service, readiness_service

    slug = create(alice, profile={"identity_anchors": DICT_ANCHORS})["slug"]
    identity = upload_identity(alice, slug)
    caller = account_service().authenticate(alice.api_key)
    character, version = character_service().require_active(caller=caller, slug=slug)
    assert character["active_version_id"] == version["version_id"]
    assert version["profile"]["identity_anchors"] == DICT_ANCHORS

    assets = asset_service()
    active = assets.active_assets(account_id=alice.account_id, slug=slug, category="identity")
    assert [a["asset_id"] for a in active] == [identity["asset_id"]]
    assert active[0]["content_type"] == "image/jpeg" and len(active[0]["embedding"]) == 512
    assert assets.active_assets(account_id=alice.account_id, slug=slug, category="wardrobe") == []

    item = assets.generated_asset_item(
        account_id=alice.account_id,
        slug=slug,
        category="wardrobe",
        key=f"characters/{alice.account_id}/{slug}/assets/generated.png",
        content_type="image/png",
        label="generated outfit",
        hold_for_review=False,
        source_probe_id="job_123",
    )
    assert (item["asset_status"], item["promotion_status"], item["source"]) == (
        "active",
        "approved_keyframe",
        "inventory",
    )
    held = assets.generated_asset_item(
        account_id=alice.account_id,
        slug=slug,
        category="prop",
        key="k",
        content_type="image/png",
        label="mug",
        hold_for_review=True,
        source_probe_id="job_124",
    )
    assert (held["asset_status"], held["promotion_status"]) == ("candidate", "candidate")

    result = readiness_service().visual_for(account_id=alice.account_id, slug=slug)
    assert result.check("identity_asset").status == "ok"
    assert visual_readiness(slug=slug, version=version, assets=[]).check("identity_asset").status == "missing"


# ---------------------------------------------------------------------------- access
def test_another_accounts_characters_and_sessions_are_404(alice: ApiUser, bob: ApiUser) -> None:
    slug = create(alice)["slug"]
    identity = upload_identity(alice, slug)
    session_id = data_of(alice.client.post(f"/v1/characters/{slug}/sessions"), 201)["session_id"]
    asset_path = f"/v1/characters/{slug}/visual-assets/{identity['asset_id']}"

    for resp in (
        bob.client.get(f"/v1/characters/{slug}"),
        bob.client.patch(f"/v1/characters/{slug}", json={"name": "Stolen"}),
        bob.client.get(f"/v1/characters/{slug}/versions"),
        bob.client.get(f"/v1/characters/{slug}/visual-readiness"),
        bob.client.get(f"/v1/characters/{slug}/readiness"),
        bob.client.get(f"/v1/characters/{slug}/visual-inventory"),
        bob.client.get(asset_path),
        bob.client.patch(asset_path, json={"asset_status": "rejected"}),
        bob.client.delete(asset_path),
        bob.client.post(f"/v1/characters/{slug}/sessions"),
        upload(bob, slug, face_bytes("obama.jpg")),
    ):
        error_of(resp, 404, "character_not_found")
    for resp in (
        bob.client.get(f"/v1/sessions/{session_id}"),
        bob.client.get(f"/v1/sessions/{session_id}/events"),
        bob.client.post(f"/v1/sessions/{session_id}/exit"),
    ):
        error_of(resp, 404, "session_not_found")
    # nothing changed for alice
    assert data_of(alice.client.get(f"/v1/characters/{slug}"))["name"] == "Mara"
    assert data_of(alice.client.get(asset_path))["asset_status"] == "active"
    assert data_of(alice.client.get(f"/v1/sessions/{session_id}"))["state"] == "open"
    assert data_of(bob.client.get("/v1/characters"))["characters"] == []


def test_scopes_and_demo_keys(make_user: Callable[..., ApiUser], api_url: str) -> None:
    from likeness.wiring import account_service

    owner = make_user()
    slug = create(owner)["slug"]
    accounts = account_service()

    reader_key = accounts.issue_key(account_id=owner.account_id, scopes=("identities:read",)).api_key
    with httpx.Client(base_url=api_url, headers={"X-API-Key": reader_key}, timeout=60) as reader:
        assert reader.get(f"/v1/characters/{slug}").status_code == 200
        assert reader.get(f"/v1/characters/{slug}/visual-readiness").status_code == 200
        denied = reader.patch(f"/v1/characters/{slug}", json={"name": "x"})
        assert denied.status_code == 403 and "identities:write" in denied.json()["detail"]["message"]
        assert reader.post(f"/v1/characters/{slug}/sessions").status_code == 403
        assert reader.post("/v1/characters", json={"slug": new_slug(), "name": "x"}).status_code == 403

    demo_key = accounts.issue_key(account_id=owner.account_id, demo=True).api_key
    with httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {demo_key}"}, timeout=60) as demo:
        demo_user = ApiUser(account_id=owner.account_id, api_key=demo_key, client=demo)
        other = create(demo_user)["slug"]
        upload_identity(demo_user, other)
        session_id = data_of(demo.post(f"/v1/characters/{other}/sessions"), 201)["session_id"]
        assert data_of(demo.post(f"/v1/sessions/{session_id}/exit"))["state"] == "exited"

    assert httpx.get(f"{api_url}/v1/characters/{slug}", timeout=30).status_code == 403
