"""Characters, versions, sessions, visual assets and readiness (character-visual-identity spec).

Thin glue: every rule lives in likeness.characters; every answer is the spec's envelope.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Response, UploadFile, status

from likeness.characters.assets import AssetService
from likeness.characters.models import (
    MAX_ASSET_BYTES,
    AssetPatch,
    AssetStatus,
    AssetUpload,
    CharacterCreate,
    CharacterList,
    CharacterPatch,
    CharacterPublic,
    CharacterReadiness,
    CharacterVersions,
    CheckStatus,
    DeletedAsset,
    Envelope,
    ReadinessCheck,
    SessionEvents,
    SessionList,
    SessionPublic,
    SessionState,
    VisualAssetList,
    VisualAssetPublic,
    VisualInventory,
    VisualReadiness,
    envelope,
)
from likeness.characters.readiness import ReadinessService
from likeness.characters.service import LIST_LIMIT, CharacterService, to_public, version_public
from likeness.characters.sessions import SessionService, event_public, session_public
from likeness.errors import Unprocessable
from likeness.http.app import provided
from likeness.http.auth import CurrentCaller
from likeness.uploads.service import UploadService, one_image_source
from likeness.wiring import (
    asset_service,
    character_service,
    readiness_service,
    session_service,
    upload_service,
)

Characters = Annotated[CharacterService, Depends(provided(character_service))]
Sessions = Annotated[SessionService, Depends(provided(session_service))]
Assets = Annotated[AssetService, Depends(provided(asset_service))]
Readiness = Annotated[ReadinessService, Depends(provided(readiness_service))]
Uploads = Annotated[UploadService, Depends(provided(upload_service))]
router = APIRouter(tags=["characters"])

Action = tuple[str, str]


def _base(slug: str) -> str:
    return f"/v1/characters/{slug}"


# ---------------------------------------------------------------------------- characters
@router.post("/v1/characters", status_code=status.HTTP_201_CREATED)
def create_character(
    body: CharacterCreate, response: Response, caller: CurrentCaller, characters: Characters
) -> Envelope[CharacterPublic]:
    character, version = characters.create(caller=caller, create=body)
    base = _base(body.slug)
    response.headers["Location"] = base
    return envelope(
        to_public(character, version),
        [
            (f"POST {base}/visual-assets", "Upload the identity image first (multipart, category=identity)"),
            (f"GET {base}/visual-readiness", "See what is still missing before images work"),
            (f"POST {base}/sessions", "Open a sandbox session"),
        ],
    )


@router.get("/v1/characters")
def list_characters(
    caller: CurrentCaller,
    characters: Characters,
    limit: Annotated[int, Query(ge=1, le=100)] = LIST_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Envelope[CharacterList]:
    listed, next_cursor = characters.list_characters(caller=caller, limit=limit, cursor=cursor)
    actions = [("POST /v1/characters", "Create a character")]
    if next_cursor:
        actions.insert(0, (f"GET /v1/characters?limit={limit}&cursor={next_cursor}", "The next page"))
    return envelope(
        CharacterList(characters=[to_public(c, v) for c, v in listed], next_cursor=next_cursor), actions
    )


@router.get("/v1/characters/{slug}")
def get_character(slug: str, caller: CurrentCaller, characters: Characters) -> Envelope[CharacterPublic]:
    character, version = characters.get(caller=caller, slug=slug)
    return envelope(to_public(character, version), _character_actions(slug))


@router.patch("/v1/characters/{slug}")
def patch_character(
    slug: str, body: CharacterPatch, caller: CurrentCaller, characters: Characters
) -> Envelope[CharacterPublic]:
    character, version = characters.update(caller=caller, slug=slug, patch=body)
    actions = _character_actions(slug)
    if body.profile is not None and "identity_anchors" not in (version.get("profile") or {}):
        # the spec's silent trap, said out loud: the new version has no identity_anchors
        actions.insert(
            0,
            (
                f"PATCH {_base(slug)}",
                "This profile had no identity_anchors, so the new active version has none and selfies "
                "will fail: PATCH the profile again with identity_anchors (an object)",
            ),
        )
    return envelope(to_public(character, version), actions)


@router.get("/v1/characters/{slug}/versions")
def list_versions(slug: str, caller: CurrentCaller, characters: Characters) -> Envelope[CharacterVersions]:
    character, versions = characters.versions(caller=caller, slug=slug)
    active = character["active_version_id"]
    return envelope(
        CharacterVersions(
            slug=slug,
            active_version_id=active,
            versions=[version_public(v, active_version_id=active) for v in versions],
        ),
        [(f"GET {_base(slug)}", "The character with its active version")],
    )


def _character_actions(slug: str) -> list[Action]:
    base = _base(slug)
    return [
        (f"GET {base}/visual-readiness", "Check whether images will work"),
        (f"GET {base}/readiness", "Character-wide launch readiness"),
    ]


# ---------------------------------------------------------------------------- sessions
@router.post("/v1/characters/{slug}/sessions", status_code=status.HTTP_201_CREATED)
def open_session(
    slug: str, response: Response, caller: CurrentCaller, sessions: Sessions
) -> Envelope[SessionPublic]:
    item = sessions.open(caller=caller, slug=slug)
    session_id = item["session_id"]
    response.headers["Location"] = f"/v1/sessions/{session_id}"
    return envelope(session_public(item), _session_actions(slug, session_id, since=0))


@router.get("/v1/characters/{slug}/sessions")
def list_sessions(slug: str, caller: CurrentCaller, sessions: Sessions) -> Envelope[SessionList]:
    items = sessions.list_sessions(caller=caller, slug=slug)
    return envelope(
        SessionList(slug=slug, sessions=[session_public(i) for i in items]),
        [(f"POST {_base(slug)}/sessions", "Open a new sandbox session")],
    )


@router.get("/v1/sessions/{session_id}")
def get_session(session_id: str, caller: CurrentCaller, sessions: Sessions) -> Envelope[SessionPublic]:
    item = sessions.get(caller=caller, session_id=session_id)
    return envelope(session_public(item), _session_actions(item["slug"], session_id, since=0, item=item))


@router.post("/v1/sessions/{session_id}/exit")
def exit_session(session_id: str, caller: CurrentCaller, sessions: Sessions) -> Envelope[SessionPublic]:
    item = sessions.exit(caller=caller, session_id=session_id)
    return envelope(
        session_public(item),
        [
            (f"GET /v1/sessions/{session_id}/events?since=0", "Read the session's event log"),
            (f"POST {_base(item['slug'])}/sessions", "Open a new sandbox session"),
        ],
    )


@router.get("/v1/sessions/{session_id}/events")
def session_events(
    session_id: str,
    caller: CurrentCaller,
    sessions: Sessions,
    since: Annotated[int, Query(ge=0, description="only events with seq > since")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Envelope[SessionEvents]:
    item, events, has_more = sessions.events(caller=caller, session_id=session_id, since=since, limit=limit)
    next_since = int(events[-1]["seq"]) if events else since
    return envelope(
        SessionEvents(
            session_id=session_id,
            state=SessionState(item["state"]),
            since=since,
            events=[event_public(e) for e in events],
            next_since=next_since,
            has_more=has_more,
        ),
        [(f"GET /v1/sessions/{session_id}/events?since={next_since}", "Poll for newer events")],
    )


def _session_actions(
    slug: str, session_id: str, *, since: int, item: dict[str, object] | None = None
) -> list[Action]:
    actions = [(f"GET /v1/sessions/{session_id}/events?since={since}", "Watch the session's event log")]
    if item is None or item.get("state") == SessionState.OPEN.value:
        actions += [
            (
                f"POST {_base(slug)}/image-probe",
                "Probe the visual setup in this session (image.ready lands here)",
            ),
            (f"POST /v1/sessions/{session_id}/exit", "Exit the session"),
        ]
    return actions


# ---------------------------------------------------------------------------- visual assets
@router.post("/v1/characters/{slug}/visual-assets", status_code=status.HTTP_201_CREATED)
async def upload_visual_asset(
    slug: str,
    response: Response,
    caller: CurrentCaller,
    assets: Assets,
    uploads: Uploads,
    category: Annotated[str, Form()],
    asset_key: Annotated[str, Form()],
    label: Annotated[str, Form()],
    file: Annotated[UploadFile | None, File(description="PNG, JPEG or WebP, up to 8 MB")] = None,
    upload_id: Annotated[str | None, Form(max_length=100, description="POST /uploads' id, not file")] = None,
    visual_summary: Annotated[str | None, Form()] = None,
    visual_description: Annotated[str | None, Form()] = None,
) -> Envelope[VisualAssetPublic]:
    one_image_source(
        file_field="file", sent_file=file is not None, upload_field="upload_id", upload_id=upload_id
    )
    if file is None and not upload_id:
        raise Unprocessable(
            "file: the image is missing",
            code="invalid_request",
            fix="Send the image as the multipart field file, or upload it (POST /uploads) and send "
            "upload_id.",
        )
    # one byte over the limit is enough to refuse it
    data = await file.read(MAX_ASSET_BYTES + 1) if file is not None else b""
    upload = AssetUpload(
        asset_key=asset_key,
        label=label,
        visual_summary=visual_summary or None,
        visual_description=visual_description or None,
    )
    # face detection is CPU work: keep it off the event loop
    from starlette.concurrency import run_in_threadpool

    def store() -> dict[str, Any]:
        # an upload's bytes go through the same checks as a file's
        with uploads.claimed(caller=caller, uploads={"upload_id": upload_id} if upload_id else {}) as got:
            return assets.upload(
                caller=caller, slug=slug, category=category, upload=upload, data=got.get("upload_id", data)
            )

    item = await run_in_threadpool(store)
    base = _base(slug)
    response.headers["Location"] = f"{base}/visual-assets/{item['asset_id']}"
    if item["category"] == "identity":
        actions = [
            (f"GET {base}/visual-readiness", "Check the remaining image preconditions"),
            (f"POST {base}/visual-assets", "Add wardrobe / accessory / prop / place assets"),
        ]
    else:
        actions = [
            (
                f"PATCH {base}/visual-assets/{item['asset_id']}",
                'Promote this candidate: {"promotion_status": "approved_keyframe"}',
            ),
            (f"GET {base}/visual-inventory", "See every asset by category"),
        ]
    return envelope(assets.to_public(item), actions)


@router.get("/v1/characters/{slug}/visual-assets")
def list_visual_assets(
    slug: str,
    caller: CurrentCaller,
    assets: Assets,
    category: str | None = None,
    asset_status: AssetStatus | None = None,
) -> Envelope[VisualAssetList]:
    items = assets.list_assets(caller=caller, slug=slug, category=category, asset_status=asset_status)
    return envelope(
        VisualAssetList(slug=slug, assets=[assets.to_public(i) for i in items]),
        [(f"GET {_base(slug)}/visual-inventory", "The same assets grouped by category, with counts")],
    )


@router.get("/v1/characters/{slug}/visual-assets/{asset_id}")
def get_visual_asset(
    slug: str, asset_id: str, caller: CurrentCaller, assets: Assets
) -> Envelope[VisualAssetPublic]:
    item = assets.get(caller=caller, slug=slug, asset_id=asset_id)
    return envelope(
        assets.to_public(item), [(f"GET {_base(slug)}/visual-inventory", "All assets by category")]
    )


@router.patch("/v1/characters/{slug}/visual-assets/{asset_id}")
def patch_visual_asset(
    slug: str, asset_id: str, body: AssetPatch, caller: CurrentCaller, assets: Assets
) -> Envelope[VisualAssetPublic]:
    item = assets.update(caller=caller, slug=slug, asset_id=asset_id, patch=body)
    base = _base(slug)
    return envelope(
        assets.to_public(item),
        [
            (f"GET {base}/visual-inventory", "All assets by category, with counts by status"),
            (f"GET {base}/visual-readiness", "Re-check image readiness"),
        ],
    )


@router.delete("/v1/characters/{slug}/visual-assets/{asset_id}")
def delete_visual_asset(
    slug: str, asset_id: str, caller: CurrentCaller, assets: Assets
) -> Envelope[DeletedAsset]:
    assets.delete(caller=caller, slug=slug, asset_id=asset_id)
    return envelope(
        DeletedAsset(asset_id=asset_id),
        [(f"GET {_base(slug)}/visual-inventory", "The remaining assets")],
    )


@router.get("/v1/characters/{slug}/visual-inventory")
def visual_inventory(slug: str, caller: CurrentCaller, assets: Assets) -> Envelope[VisualInventory]:
    base = _base(slug)
    return envelope(
        assets.inventory(caller=caller, slug=slug),
        [
            (f"POST {base}/visual-assets", "Upload another asset"),
            (f"GET {base}/visual-readiness", "Check image readiness"),
        ],
    )


# ---------------------------------------------------------------------------- readiness
# a check's fix is left out when it has none (the spec's example shows no "fix" on ok checks)
@router.get("/v1/characters/{slug}/visual-readiness", response_model_exclude_none=True)
def visual_readiness(slug: str, caller: CurrentCaller, readiness: Readiness) -> Envelope[VisualReadiness]:
    result = readiness.visual(caller=caller, slug=slug)
    return envelope(result, _readiness_actions(slug, result.checks))


@router.get("/v1/characters/{slug}/readiness", response_model_exclude_none=True)
def character_readiness(
    slug: str, caller: CurrentCaller, readiness: Readiness
) -> Envelope[CharacterReadiness]:
    result = readiness.character(caller=caller, slug=slug)
    return envelope(result, _readiness_actions(slug, result.checks))


_CHECK_ACTIONS = {
    "identity_asset": ("POST {base}/visual-assets", "Upload an identity image (category=identity)"),
    "identity_anchors": ("PATCH {base}", "Set profile.identity_anchors as an object in the whole profile"),
    "inventory_coverage": (
        "POST {base}/visual-assets",
        "Add or promote a wardrobe/accessory/prop/place asset",
    ),
    "image_generation": ("PATCH {base}", "Raise behavioral_thresholds.image_proactivity / selfie_comfort"),
    "persona": ("PATCH {base}", "Describe the character in its profile"),
    "voice": ("PATCH {base}", "Add profile.identity_anchors"),
    "delivery": ("PATCH {base}", "Set behavioral_thresholds.daily_image_cap > 0"),
}


def _readiness_actions(slug: str, checks: list[ReadinessCheck]) -> list[Action]:
    base = _base(slug)
    actions: list[Action] = []
    for check in checks:
        if check.status is CheckStatus.OK or check.id not in _CHECK_ACTIONS:
            continue
        command, description = _CHECK_ACTIONS[check.id]
        actions.append((command.format(base=base), f"{check.id}: {description}"))
    if not any(c.status is CheckStatus.MISSING for c in checks):
        actions.append((f"POST {base}/image-probe", "Probe it: force one identity_selfie in an open session"))
    return actions
