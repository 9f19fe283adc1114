"""Media identities, the spec's finer points, on moto: ``tmdb_profile`` is the local profile image
path once one is uploaded; search is ILIKE (``%`` and ``_`` wildcards, ``\\`` escapes); a face is
``{frame}_{idx}`` in every answer, and bind / unbind / split accept ``face_{frame}_{idx}`` and the
spec's ``face_{frame}`` when it names one face."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import FACES, face_bytes
from tests.integration.media_support import (
    FakeIndexer,
    MediaUser,
    PlannedTrace,
    ProfileEmbedder,
    RecordingEvents,
    make_user,
    nudged,
    photo_embedding,
    queued_messages,
)

FACE_ID = re.compile(r"[0-9]+_[0-9]+")


@pytest.fixture
def app(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import likeness.wiring
    from functions.media_api.app import app

    monkeypatch.setattr(likeness.wiring, "media_indexer", lambda: ProfileEmbedder())
    yield app


@pytest.fixture
def alice(app: Any) -> MediaUser:
    return make_user(app)


def error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    detail: dict[str, Any] = resp.json()["detail"]
    assert detail["code"] == code, detail
    assert detail["message"]
    return detail


def create(user: MediaUser, name: str) -> str:
    resp = user.client.post("/api/v1/identities", json={"name": name})
    assert resp.status_code == 201, resp.text
    uuid: str = resp.json()["identity_uuid"]
    return uuid


# ---------------------------------------------------------------------------- tmdb_profile
def test_tmdb_profile_is_the_local_profile_path_after_an_upload(alice: MediaUser) -> None:
    uuid = create(alice, "Lin-Manuel Miranda")
    assert alice.client.get(f"/api/v1/identity/{uuid}").json()["tmdb_profile"] is None

    resp = alice.client.post(
        f"/api/v1/identity/{uuid}/profile-image",
        files={"image": ("lin.png", face_bytes("lin-manuel-miranda.png"))},
    )
    assert resp.status_code == 200, resp.text
    path = resp.json()["path"]
    assert path == f"media/{alice.account_id}/identities/{uuid}/profile.png"
    assert alice.client.get(f"/api/v1/identity/{uuid}").json()["tmdb_profile"] == path
    listed = alice.client.get("/api/v1/identities").json()["identities"]
    assert [i["tmdb_profile"] for i in listed] == [path]

    # a JPEG replaces it: the path follows
    resp = alice.client.post(
        f"/api/v1/identity/{uuid}/profile-image", files={"image": ("o.jpg", face_bytes("obama.jpg"))}
    )
    jpeg_path = f"media/{alice.account_id}/identities/{uuid}/profile.jpg"
    assert resp.json()["path"] == jpeg_path
    assert alice.client.get(f"/api/v1/identity/{uuid}").json()["tmdb_profile"] == jpeg_path
    # a refused image changes nothing
    two = alice.client.post(
        f"/api/v1/identity/{uuid}/profile-image", files={"image": ("t.jpg", face_bytes("two_people.jpg"))}
    )
    error(two, 422, "face_rejected")
    assert alice.client.get(f"/api/v1/identity/{uuid}").json()["tmdb_profile"] == jpeg_path


# ---------------------------------------------------------------------------- search
NAMES = ["Cary Grant", "Grace Kelly", "Oscar Isaac", "100% Real", "snake_case Sam", "Back\\slash Bo"]


def search(user: MediaUser, q: str) -> list[str]:
    resp = user.client.get("/api/v1/identities/search", params={"q": q})
    assert resp.status_code == 200, resp.text
    return [i["name"] for i in resp.json()["identities"]]


def test_search_is_ilike_with_wildcards_and_backslash_escapes(alice: MediaUser) -> None:
    for name in NAMES:
        create(alice, name)
    # a plain term: anywhere in the name, any case
    assert search(alice, "cAr") == ["Cary Grant", "Oscar Isaac"]
    assert search(alice, "  kelly ") == ["Grace Kelly"]
    # _ is one character, % any run (none included), anywhere in the name
    assert search(alice, "C_ry") == ["Cary Grant"]
    assert search(alice, "c__y") == ["Cary Grant"]
    assert search(alice, "gr%t") == ["Cary Grant"]
    assert search(alice, "o%a%c") == ["Oscar Isaac"]
    assert search(alice, "g%a%e%y") == ["Grace Kelly"]
    assert search(alice, "gra%%nt") == ["Cary Grant"]
    assert len(search(alice, "%")) == len(NAMES)
    assert len(search(alice, "_")) == len(NAMES)
    assert search(alice, "car_grant") == []  # _ is exactly one character
    assert search(alice, "car__grant") == ["Cary Grant"]
    # \ escapes: a literal %, _ and backslash
    assert search(alice, "0\\%") == ["100% Real"]
    assert search(alice, "0%") == ["100% Real"]
    assert search(alice, "\\%") == ["100% Real"]
    assert search(alice, "e\\_c") == ["snake_case Sam"]
    assert search(alice, "\\_") == ["snake_case Sam"]
    assert search(alice, "k\\\\s") == ["Back\\slash Bo"]
    assert search(alice, "\\c\\a\\r\\y") == ["Cary Grant"]  # an escaped letter is itself
    # a pattern ending in a lone escape, or empty, is refused
    for q in ("cary\\", "\\", "   "):
        detail = error(alice.client.get("/api/v1/identities/search", params={"q": q}), 422, "invalid_request")
        assert "q" in detail["message"]


def test_search_stays_quick_on_many_wildcards(alice: MediaUser) -> None:
    create(alice, "a" * 200)
    # 100 wildcards against a 200-character name: no backtracking blow-up (the test would hang)
    assert search(alice, "%a" * 99 + "b") == []
    assert search(alice, "%a" * 99) == ["a" * 200]


# ---------------------------------------------------------------------------- face ids
@pytest.fixture
def indexed(alice: MediaUser, aws: dict[str, str]) -> tuple[str, FakeIndexer]:
    """A clip where two people share frames 10-29 (idx 0 and 1), and one is alone at 90-110."""
    from likeness.media.index_job import MediaIndexJob
    from likeness.wiring import media_store

    indexer = FakeIndexer(
        plan=[
            PlannedTrace(0, 29, nudged(photo_embedding("lin-manuel-miranda.png"))),
            PlannedTrace(10, 40, nudged(photo_embedding("obama.jpg")), idx=1),
            PlannedTrace(90, 110, nudged(photo_embedding("biden.jpg"))),
        ]
    )
    clip = (FACES / "short_hamilton_clip.mp4").read_bytes()
    resp = alice.client.post("/api/v1/files", files={"file": ("clip.mp4", clip, "video/mp4")})
    assert resp.status_code == 202, resp.text
    job = MediaIndexJob(store=media_store(), events=RecordingEvents(), indexer=lambda: indexer)  # type: ignore[arg-type]
    for message in queued_messages(os.environ["LIKENESS_MEDIA_INDEX_QUEUE_URL"]):
        job.handle(message)
    file_uuid: str = resp.json()["file_uuid"]
    assert alice.client.get(f"/api/v1/files/{file_uuid}").json()["status"] == "completed"
    return file_uuid, indexer


def bind(user: MediaUser, identity: str, file_uuid: str, face_id: Any, action: str = "bind") -> Any:
    return user.client.post(
        f"/api/v1/identity/{identity}/{action}", json={"file_uuid": file_uuid, "face_id": face_id}
    )


def test_every_answer_says_frame_idx_and_bind_takes_the_spec_spellings(
    alice: MediaUser, indexed: tuple[str, FakeIndexer]
) -> None:
    file_uuid, _ = indexed
    joe = create(alice, "Joe Biden")

    # face_{frame}: the frame's one face; the answer names it {frame}_{idx}
    resp = bind(alice, joe, file_uuid, "face_95")
    assert resp.status_code == 200, resp.text
    assert resp.json()["face_id"] == "95_0" and resp.json()["trace_id"] == 2
    # face_{frame}_{idx} too
    resp = bind(alice, joe, file_uuid, " face_100_0 ")
    assert resp.status_code == 200 and resp.json()["face_id"] == "100_0"
    resp = bind(alice, joe, file_uuid, "face_95_0", action="unbind")
    assert resp.status_code == 200 and resp.json()["face_id"] == "95_0"
    trail = alice.client.get(f"/api/v1/identity/{joe}/audit").json()["entries"]
    assert [(e["action"], e["details"]["face_id"]) for e in trail[:3]] == [
        ("unbind", "95_0"),
        ("bind", "100_0"),
        ("bind", "95_0"),
    ]

    # face_{frame} of a frame two people share is ambiguous: 422 naming both, nothing bound
    detail = error(bind(alice, joe, file_uuid, "face_20"), 422, "ambiguous_face_id")
    assert "20_0" in detail["message"] and "20_1" in detail["message"] and "20_1" in detail["fix"]
    assert alice.client.get(f"/api/v1/identity/{joe}/files").json()["count"] == 0
    # ... but frame 35 shows only the second person (idx 1): that is who it names
    resp = bind(alice, joe, file_uuid, "face_35")
    assert resp.status_code == 200 and resp.json()["face_id"] == "35_1" and resp.json()["trace_id"] == 1
    # a frame without faces, an idx the frame lacks
    error(bind(alice, joe, file_uuid, "face_60"), 404, "face_not_found")
    error(bind(alice, joe, file_uuid, "35_0"), 404, "face_not_found")
    # malformed: 422, whatever the file
    for bad in ("95", "face_", "face_95_", "95_0_1", "x_1", "face-95", "٩٥_0", "_0", 95):
        error(bind(alice, joe, file_uuid, bad), 422, "invalid_request")

    # split takes the spellings too, and its audit says {frame}_{idx}
    body = {"name": "Barack", "faces": [{"file_uuid": file_uuid, "face_id": "face_36"}]}
    resp = alice.client.post(f"/api/v1/identity/{joe}/split", json=body)
    assert resp.status_code == 201, resp.text
    split = alice.client.get(f"/api/v1/identity/{joe}/audit").json()["entries"][0]
    assert split["action"] == "split"
    assert split["details"]["faces"] == [{"file_uuid": file_uuid, "face_id": "36_1"}]

    # every face_id an answer shows is {frame}_{idx}
    new = resp.json()["new_identity"]["identity_uuid"]
    shown = [f["face_id"] for f in alice.client.get(f"/api/v1/identity/{new}/faces").json()["data"]]
    traces = alice.client.get(f"/api/v1/files/{file_uuid}/faces").json()["traces"]
    shown += [f["face_id"] for t in traces for f in t["faces"]]
    assert shown and all(FACE_ID.fullmatch(f) for f in shown)
    assert {"20_0", "20_1"} <= set(shown)
