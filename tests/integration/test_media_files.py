"""Media files and the index job on moto, with a stand-in indexer: upload (multipart and from
S3), the queue message and its routing, the job's storage and its failure paths, appearances,
faces and chunks per identity, bind / unbind, merge / split with their audit trail, re-index,
and delete with everything derived."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers import FACES, face_bytes, png_bytes
from tests.integration.media_support import (
    SRT,
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

CLIP = (FACES / "short_hamilton_clip.mp4").read_bytes()


@dataclass
class Media:
    app: Any
    alice: MediaUser
    bob: MediaUser
    indexer: FakeIndexer
    events: RecordingEvents
    queue_url: str

    def job(self) -> Any:
        from likeness.media.index_job import MediaIndexJob
        from likeness.wiring import media_store

        return MediaIndexJob(store=media_store(), events=self.events, indexer=lambda: self.indexer)  # type: ignore[arg-type]

    def run_queued(self) -> list[dict[str, Any]]:
        messages = queued_messages(self.queue_url)
        for message in messages:
            self.job().handle(message)
        return messages


def default_plan() -> list[PlannedTrace]:
    return [
        # Lin, on screen for the first second
        PlannedTrace(0, 29, nudged(photo_embedding("lin-manuel-miranda.png"))),
        # a stranger who recurs: an auto identity
        PlannedTrace(40, 70, nudged(photo_embedding("obama.jpg")), recurring=True),
        # someone seen once: no identity
        PlannedTrace(90, 110, nudged(photo_embedding("biden.jpg"))),
    ]


@pytest.fixture
def media(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Media]:
    import likeness.wiring
    from functions.media_api.app import app

    monkeypatch.setattr(likeness.wiring, "media_indexer", lambda: ProfileEmbedder())
    yield Media(
        app=app,
        alice=make_user(app),
        bob=make_user(app),
        indexer=FakeIndexer(plan=default_plan()),
        events=RecordingEvents(),
        queue_url=os.environ["LIKENESS_MEDIA_INDEX_QUEUE_URL"],
    )


def set_env(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    from likeness.settings import get_settings

    for key, value in values.items():
        monkeypatch.setenv(f"LIKENESS_{key.upper()}", value)
    get_settings.cache_clear()


def error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    detail: dict[str, Any] = resp.json()["detail"]
    assert detail["code"] == code, detail
    return detail


def enrolled_lin(user: MediaUser) -> str:
    resp = user.client.post("/api/v1/identities", json={"name": "Lin-Manuel Miranda"})
    uuid: str = resp.json()["identity_uuid"]
    image = face_bytes("lin-manuel-miranda.png")
    resp = user.client.post(f"/api/v1/identity/{uuid}/profile-image", files={"image": ("lin.png", image)})
    assert resp.status_code == 200, resp.text
    return uuid


def upload_clip(user: MediaUser, *, subtitles: str | None = SRT, **form: str) -> dict[str, Any]:
    files: dict[str, Any] = {"file": ("hamilton.mp4", CLIP, "video/mp4")}
    if subtitles is not None:
        files["subtitles"] = ("hamilton.srt", subtitles.encode(), "application/x-subrip")
    resp = user.client.post("/api/v1/files", files=files, data=form)
    assert resp.status_code == 202, resp.text
    body: dict[str, Any] = resp.json()
    return body


def indexed(media: Media) -> tuple[str, str, str]:
    """Lin enrolled, the clip uploaded with subtitles and indexed: (lin, file, unknown 1)."""
    lin = enrolled_lin(media.alice)
    file_uuid = upload_clip(media.alice)["file_uuid"]
    media.run_queued()
    body = media.alice.client.get(f"/api/v1/files/{file_uuid}").json()
    assert body["status"] == "completed", body
    auto = [i for i in body["identities"] if i["name"].startswith("Unknown")]
    return lin, file_uuid, auto[0]["identity_uuid"]


# ---------------------------------------------------------------------------- the whole path
def test_a_file_is_indexed_and_its_people_found_with_time_ranges_and_chunks(media: Media) -> None:
    alice = media.alice
    lin = enrolled_lin(alice)
    created = upload_clip(alice, filename="Hamilton clip.mp4")
    file_uuid = created["file_uuid"]
    assert created["success"] is True and created["status"] == "pending" and created["subtitles"] is True
    assert created["filename"] == "Hamilton clip.mp4" and created["content_type"] == "video/mp4"
    assert created["media_type"] == "video" and created["size_bytes"] == len(CLIP)
    assert created["identities"] == [] and created["error"] is None

    messages = queued_messages(media.queue_url)
    assert len(messages) == 1 and set(messages[0]) == {"account_id", "file_uuid", "run_id"}
    assert messages[0]["account_id"] == alice.account_id and messages[0]["file_uuid"] == file_uuid
    media.job().handle(messages[0])
    # the job matched against every enrolled identity of the account: Lin's profile image
    assert [k.identity_uuid for k in media.indexer.known_seen[0]] == [lin]
    assert media.indexer.kind_seen == ["video"]

    file = alice.client.get(f"/api/v1/files/{file_uuid}").json()
    assert file["status"] == "completed" and file["fps"] == 30.0 and file["frames"] == 120
    assert file["duration"] == 4.0 and file["faces_found"] == 30 + 31 + 21 and file["traces"] == 3
    assert file["chunk_count"] == 3 and file["indexed_at"] and file["error"] is None
    people = {i["name"]: i for i in file["identities"]}
    assert people["Lin-Manuel Miranda"] == {
        "identity_uuid": lin,
        "name": "Lin-Manuel Miranda",
        "face_count": 30,
    }
    assert people["Unknown 1"]["face_count"] == 31 and len(people) == 2
    auto = people["Unknown 1"]["identity_uuid"]
    ((kind, detail),) = media.events.published
    assert kind == "file.indexed" and detail["account_id"] == alice.account_id
    assert detail["data"]["file_uuid"] == file_uuid and detail["data"]["status"] == "completed"

    # when is he on screen
    files = alice.client.get(f"/api/v1/identity/{lin}/files").json()
    assert files["success"] is True and files["count"] == 1
    assert files["data"][0] == {
        "file_uuid": file_uuid,
        "filename": "Hamilton clip.mp4",
        "face_count": 30,
        "confidence": 0.9,
        "first_seen": 0.0,
        "last_seen": 1.0,
        "appearances": [{"start_frame": 0, "end_frame": 29, "start_time": 0.0, "end_time": 1.0}],
    }
    faces = alice.client.get(f"/api/v1/identity/{lin}/faces?page_size=5").json()
    assert faces["count"] == 30 and len(faces["data"]) == 5
    assert faces["data"][0] == {
        "file_uuid": file_uuid,
        "frame_number": 0,
        "face_id": "0_0",
        "confidence": 0.9,
        "trace_id": 0,
        "box": [100.0, 50.0, 160.0, 130.0],
    }
    last = alice.client.get(f"/api/v1/identity/{lin}/faces?page=6&page_size=5").json()["data"]
    assert [f["frame_number"] for f in last] == [25, 26, 27, 28, 29]

    # what did he say
    chunks = alice.client.get(f"/api/v1/identity/{lin}/chunks").json()
    assert chunks == {
        "success": True,
        "identity_uuid": lin,
        "count": 1,
        "data": [
            {
                "id": 0,
                "file_uuid": file_uuid,
                "chunk_id": f"{file_uuid}_0",
                "chunk_type": "sentence",
                "start_frame": 0,
                "end_frame": 27,
                "fps": 30.0,
                "start_time": 0.0,
                "end_time": 0.9,
                "text_content": '[0s-1s] Lin-Manuel Miranda: "Hello there."',
            }
        ],
    }
    auto_chunks = alice.client.get(f"/api/v1/identity/{auto}/chunks").json()["data"]
    assert [c["text_content"] for c in auto_chunks] == ['[2s-3s] Unknown 1: "Who is that?"']

    # the file's own views
    file_chunks = alice.client.get(f"/api/v1/files/{file_uuid}/chunks").json()
    assert [c["identity_uuids"] for c in file_chunks["data"]] == [[lin], [auto], []]
    assert file_chunks["data"][2]["text_content"] == '[3s-4s] "Nobody at all."'
    traces = alice.client.get(f"/api/v1/files/{file_uuid}/faces").json()["traces"]
    assert [(t["identity_uuid"], t["assignment"], t["face_count"]) for t in traces] == [
        (lin, "matched", 30),
        (auto, "auto", 31),
        (None, None, 21),
    ]
    assert traces[0]["name"] == "Lin-Manuel Miranda" and traces[0]["distance"] < 0.6
    assert traces[2]["faces"][0] == {
        "face_id": "90_0",
        "frame_number": 90,
        "box": [100.0, 50.0, 160.0, 130.0],
        "confidence": 0.9,
    }
    assert traces[1]["start_time"] == pytest.approx(40 / 30, abs=1e-3) and traces[1][
        "end_time"
    ] == pytest.approx(71 / 30, abs=1e-3)

    # search names a file the person is in; the auto identity is listed as such
    hit = alice.client.get("/api/v1/identities/search?q=MIRANDA").json()["identities"][0]
    assert hit["file_uuid"] == file_uuid
    unknown = alice.client.get(f"/api/v1/identity/{auto}").json()
    assert unknown["source"] == "auto" and unknown["status"] == "pending"
    assert unknown["reference_data"]["origin_file_uuid"] == file_uuid

    listed = alice.client.get("/api/v1/files").json()
    assert listed["count"] == 1 and listed["files"][0]["file_uuid"] == file_uuid
    # another account sees none of it
    error(media.bob.client.get(f"/api/v1/files/{file_uuid}"), 404, "file_not_found")
    error(media.bob.client.get(f"/api/v1/files/{file_uuid}/faces"), 404, "file_not_found")
    error(media.bob.client.delete(f"/api/v1/files/{file_uuid}"), 404, "file_not_found")
    error(media.bob.client.post(f"/api/v1/files/{file_uuid}/reindex"), 404, "file_not_found")
    assert media.bob.client.get("/api/v1/files").json()["count"] == 0


def test_bind_and_unbind_a_face(media: Media) -> None:
    from likeness.wiring import media_store

    alice = media.alice
    lin, file_uuid, auto = indexed(media)
    joe = alice.client.post("/api/v1/identities", json={"name": "Joe Biden"}).json()["identity_uuid"]

    resp = alice.client.post(f"/api/v1/identity/{joe}/bind", json={"file_uuid": file_uuid, "face_id": "95_0"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "success": True,
        "identity_uuid": joe,
        "file_uuid": file_uuid,
        "face_id": "95_0",
        "trace_id": 2,
        "face_count": 21,
        "message": "Face bound to identity",
    }
    # the whole trace went, and its embedding is enrolled for the next index
    files = alice.client.get(f"/api/v1/identity/{joe}/files").json()["data"]
    assert files[0]["appearances"] == [
        {"start_frame": 90, "end_frame": 110, "start_time": 3.0, "end_time": 3.7}
    ]
    enrollment = media_store().get_enrollment(alice.account_id, joe)
    assert [(f.kind, f.file_uuid, f.trace_id) for f in enrollment.faces] == [("bound", file_uuid, 2)]
    names = {i["name"] for i in alice.client.get(f"/api/v1/files/{file_uuid}").json()["identities"]}
    assert names == {"Lin-Manuel Miranda", "Unknown 1", "Joe Biden"}
    # the face_{frame}_{idx} spelling is the same face; binding again is harmless
    again = alice.client.post(
        f"/api/v1/identity/{joe}/bind", json={"file_uuid": file_uuid, "face_id": "face_100_0"}
    )
    assert again.status_code == 200 and again.json()["trace_id"] == 2

    error(
        alice.client.post(f"/api/v1/identity/{lin}/unbind", json={"file_uuid": file_uuid, "face_id": "95_0"}),
        409,
        "face_not_bound",
    )
    error(
        alice.client.post(f"/api/v1/identity/{joe}/bind", json={"file_uuid": file_uuid, "face_id": "95_3"}),
        404,
        "face_not_found",
    )
    error(
        alice.client.post(f"/api/v1/identity/{joe}/bind", json={"file_uuid": "e" * 32, "face_id": "95_0"}),
        404,
        "file_not_found",
    )
    error(
        alice.client.post(f"/api/v1/identity/{joe}/bind", json={"file_uuid": file_uuid, "face_id": "95"}),
        422,
        "invalid_request",
    )
    pending = upload_clip(alice, subtitles=None)["file_uuid"]
    error(
        alice.client.post(f"/api/v1/identity/{joe}/bind", json={"file_uuid": pending, "face_id": "1_0"}),
        409,
        "file_not_indexed",
    )

    resp = alice.client.post(
        f"/api/v1/identity/{joe}/unbind", json={"file_uuid": file_uuid, "face_id": "95_0"}
    )
    assert resp.status_code == 200 and resp.json()["message"] == "Face unbound from identity"
    assert alice.client.get(f"/api/v1/identity/{joe}/files").json()["count"] == 0
    assert media_store().get_enrollment(alice.account_id, joe).faces == []
    trace = media_store().get_trace(alice.account_id, file_uuid, 2)
    assert trace is not None and "identity_uuid" not in trace and "GSI1PK" not in trace
    error(
        alice.client.post(f"/api/v1/identity/{joe}/unbind", json={"file_uuid": file_uuid, "face_id": "95_0"}),
        409,
        "face_not_bound",
    )
    actions = [e["action"] for e in alice.client.get(f"/api/v1/identity/{joe}/audit").json()["entries"]]
    assert actions == ["unbind", "bind", "bind", "create"]

    # binding an auto identity's only trace elsewhere leaves it with nothing: it goes
    resp = alice.client.post(f"/api/v1/identity/{lin}/bind", json={"file_uuid": file_uuid, "face_id": "40_0"})
    assert resp.status_code == 200
    error(alice.client.get(f"/api/v1/identity/{auto}"), 404, "identity_not_found")
    assert alice.client.get(f"/api/v1/identity/{lin}/files").json()["data"][0]["face_count"] == 61


def test_a_reindex_matches_faces_bound_before_and_ignores_the_old_run(media: Media) -> None:
    alice = media.alice
    lin, file_uuid, auto = indexed(media)
    joe = alice.client.post("/api/v1/identities", json={"name": "Joe Biden"}).json()["identity_uuid"]
    alice.client.post(f"/api/v1/identity/{joe}/bind", json={"file_uuid": file_uuid, "face_id": "90_0"})

    resp = alice.client.post(f"/api/v1/files/{file_uuid}/reindex", json={"identity_hints": [lin, joe]})
    assert resp.status_code == 202 and resp.json()["status"] == "pending"
    assert resp.json()["identity_hints"] == [lin, joe]
    stale = {"account_id": alice.account_id, "file_uuid": file_uuid, "run_id": "0" * 16}
    media.job().handle(stale)
    assert alice.client.get(f"/api/v1/files/{file_uuid}").json()["status"] == "pending"
    media.run_queued()
    # only the hinted identities were matched against
    assert {k.identity_uuid for k in media.indexer.known_seen[-1]} == {lin, joe}
    traces = alice.client.get(f"/api/v1/files/{file_uuid}/faces").json()["traces"]
    assert [(t["identity_uuid"], t["assignment"]) for t in traces] == [
        (lin, "matched"),
        (traces[1]["identity_uuid"], "auto"),
        (joe, "matched"),
    ]
    # without hints the old auto identity was not offered: a new one took the stranger, the
    # old one (never edited, nothing left) is gone
    assert traces[1]["identity_uuid"] != auto
    error(alice.client.get(f"/api/v1/identity/{auto}"), 404, "identity_not_found")
    # and with the hints cleared, every identity is offered again
    alice.client.post(f"/api/v1/files/{file_uuid}/reindex", json={"identity_hints": []})
    media.run_queued()
    assert len(media.indexer.known_seen[-1]) == 3
    done = [kind for kind, _ in media.events.published]
    assert done == ["file.indexed"] * 3


def test_merge_and_split_keep_an_audit_trail(media: Media) -> None:
    from likeness.wiring import media_store

    alice = media.alice
    lin, file_uuid, auto = indexed(media)
    joe = alice.client.post("/api/v1/identities", json={"name": "Joe Biden"}).json()["identity_uuid"]
    alice.client.post(f"/api/v1/identity/{joe}/bind", json={"file_uuid": file_uuid, "face_id": "90_0"})

    resp = alice.client.post(
        "/api/v1/identities/merge", json={"target_identity_uuid": auto, "identity_uuids": [joe]}
    )
    assert resp.status_code == 200, resp.text
    merged = resp.json()
    assert (
        merged["identity_uuid"] == auto
        and merged["merged_identity_uuids"] == [joe]
        and merged["moved_traces"] == 1
    )
    assert merged["identity"]["source"] == "merged"
    assert merged["identity"]["reference_data"]["merged_from"] == [
        {"identity_uuid": joe, "name": "Joe Biden"}
    ]
    error(alice.client.get(f"/api/v1/identity/{joe}"), 404, "identity_not_found")
    appearances = alice.client.get(f"/api/v1/identity/{auto}/files").json()["data"][0]["appearances"]
    assert [(a["start_frame"], a["end_frame"]) for a in appearances] == [(40, 70), (90, 110)]
    kinds = sorted(f.kind for f in media_store().get_enrollment(alice.account_id, auto).faces)
    assert kinds == ["bound", "cluster"]

    error(
        alice.client.post(
            "/api/v1/identities/merge", json={"target_identity_uuid": auto, "identity_uuids": [auto]}
        ),
        422,
        "invalid_request",
    )
    error(
        alice.client.post(
            "/api/v1/identities/merge", json={"target_identity_uuid": auto, "identity_uuids": ["f" * 32]}
        ),
        404,
        "identity_not_found",
    )
    error(
        alice.client.post(
            "/api/v1/identities/merge", json={"target_identity_uuid": "x", "identity_uuids": [lin]}
        ),
        422,
        "invalid_request",
    )

    body = {"name": "Joe Biden", "faces": [{"file_uuid": file_uuid, "face_id": "100_0"}]}
    resp = alice.client.post(f"/api/v1/identity/{auto}/split", json=body)
    assert resp.status_code == 201, resp.text
    split = resp.json()
    new = split["new_identity"]["identity_uuid"]
    assert split["identity_uuid"] == auto and split["moved_traces"] == 1
    assert split["new_identity"]["source"] == "user_defined" and split["new_identity"]["name"] == "Joe Biden"
    assert alice.client.get(f"/api/v1/identity/{new}/faces").json()["count"] == 21
    assert alice.client.get(f"/api/v1/identity/{auto}/faces").json()["count"] == 31
    new_faces = media_store().get_enrollment(alice.account_id, new).faces
    assert [(f.kind, f.trace_id) for f in new_faces] == [("split", 2)]
    assert [f.kind for f in media_store().get_enrollment(alice.account_id, auto).faces] == ["cluster"]

    error(alice.client.post(f"/api/v1/identity/{auto}/split", json=body), 409, "face_not_bound")
    lin_face = {"name": "Someone", "faces": [{"file_uuid": file_uuid, "face_id": "5_0"}]}
    error(alice.client.post(f"/api/v1/identity/{auto}/split", json=lin_face), 409, "face_not_bound")
    taken = {"name": "lin-manuel miranda", "faces": [{"file_uuid": file_uuid, "face_id": "45_0"}]}
    error(alice.client.post(f"/api/v1/identity/{auto}/split", json=taken), 409, "identity_name_taken")
    error(
        alice.client.post(f"/api/v1/identity/{auto}/split", json={"name": "X", "faces": []}),
        422,
        "invalid_request",
    )

    trail = alice.client.get(f"/api/v1/identities/audit?identity_uuid={auto}").json()["entries"]
    assert [e["action"] for e in trail][:2] == ["split", "merge"]
    assert trail[0]["details"]["new_identity_uuid"] == new and trail[1]["details"]["moved_traces"] == 1
    # the merged-away identity's history stays readable
    joe_trail = alice.client.get(f"/api/v1/identities/audit?identity_uuid={joe}").json()["entries"]
    assert [e["action"] for e in joe_trail] == ["merge", "bind", "create"]
    everything = alice.client.get("/api/v1/identities/audit?page_size=100").json()
    assert everything["count"] >= 5 and everything["entries"][0]["action"] == "split"
    assert all(e["key_id"] == alice.key_id for e in trail)


def test_deleting_an_identity_unassigns_its_traces(media: Media) -> None:
    alice = media.alice
    lin, file_uuid, _ = indexed(media)
    resp = alice.client.delete(f"/api/v1/identity/{lin}")
    assert resp.status_code == 200 and resp.json()["unassigned_traces"] == 1
    traces = alice.client.get(f"/api/v1/files/{file_uuid}/faces").json()["traces"]
    assert traces[0]["identity_uuid"] is None and traces[0]["faces"]
    names = [i["name"] for i in alice.client.get(f"/api/v1/files/{file_uuid}").json()["identities"]]
    assert names == ["Unknown 1"]


def test_deleting_a_file_removes_everything_derived(media: Media) -> None:
    from likeness.wiring import media_store

    alice = media.alice
    lin, file_uuid, auto = indexed(media)
    second = upload_clip(alice)["file_uuid"]
    media.run_queued()
    kept = [
        i
        for i in alice.client.get(f"/api/v1/files/{second}").json()["identities"]
        if i["name"] != "Lin-Manuel Miranda"
    ]
    # the second file's stranger was matched to the first file's auto identity (it was enrolled)
    assert [i["identity_uuid"] for i in kept] == [auto]

    resp = alice.client.delete(f"/api/v1/files/{file_uuid}")
    assert resp.status_code == 200 and resp.json()["deleted_identities"] == []  # still in the second file
    error(alice.client.get(f"/api/v1/files/{file_uuid}"), 404, "file_not_found")
    assert media_store().file_traces(alice.account_id, file_uuid) == []
    assert media_store().blobs.list_keys(f"media/{alice.account_id}/{file_uuid}/") == []

    resp = alice.client.delete(f"/api/v1/files/{second}")
    assert resp.json()["deleted_identities"] == [auto]
    error(alice.client.get(f"/api/v1/identity/{auto}"), 404, "identity_not_found")
    # the user's own identities stay, with no file left
    assert alice.client.get(f"/api/v1/identity/{lin}/files").json()["count"] == 0
    assert alice.client.get("/api/v1/files").json()["count"] == 0


def test_an_auto_identity_a_person_renamed_outlives_its_file(media: Media) -> None:
    alice = media.alice
    _, file_uuid, auto = indexed(media)
    alice.client.patch(f"/api/v1/identity/{auto}", json={"name": "The Stranger", "status": "confirmed"})
    assert alice.client.delete(f"/api/v1/files/{file_uuid}").json()["deleted_identities"] == []
    assert alice.client.get(f"/api/v1/identity/{auto}").json()["name"] == "The Stranger"


# ---------------------------------------------------------------------------- uploads
def test_upload_validation(media: Media, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = media.alice
    error(alice.client.post("/api/v1/files", files={"file": ("e.mp4", b"")}), 400, "empty_file")
    error(
        alice.client.post("/api/v1/files", files={"file": ("a.mp4", b"not a video at all, just text")}),
        415,
        "unsupported_media_type",
    )
    error(alice.client.post("/api/v1/files", files={"video": ("a.mp4", CLIP)}), 400, "file_required")
    error(
        alice.client.post("/api/v1/files", content=CLIP, headers={"Content-Type": "video/mp4"}),
        415,
        "unsupported_media_type",
    )
    error(
        alice.client.post(
            "/api/v1/files",
            files={"file": ("a.mp4", CLIP), "subtitles": ("s.srt", b"00:00:01 --> nonsense\nhi\n")},
        ),
        400,
        "invalid_subtitles",
    )
    error(
        alice.client.post(
            "/api/v1/files",
            files={"file": ("a.png", png_bytes(64, 64)), "subtitles": ("s.srt", SRT.encode())},
        ),
        422,
        "subtitles_need_video",
    )
    error(
        alice.client.post(
            "/api/v1/files", files={"file": ("a.mp4", CLIP)}, data={"identity_hints": "f" * 32}
        ),
        422,
        "unknown_identity",
    )
    error(
        alice.client.post(
            "/api/v1/files", files={"file": ("a.mp4", CLIP)}, data={"identity_hints": "[1, 2]"}
        ),
        422,
        "invalid_request",
    )
    bobs = media.bob.client.post("/api/v1/identities", json={"name": "Bob's"}).json()["identity_uuid"]
    error(
        alice.client.post("/api/v1/files", files={"file": ("a.mp4", CLIP)}, data={"identity_hints": bobs}),
        422,
        "unknown_identity",
    )
    assert queued_messages(media.queue_url) == []
    assert alice.client.get("/api/v1/files").json()["count"] == 0

    set_env(monkeypatch, media_max_upload_bytes="100000")
    detail = error(
        alice.client.post("/api/v1/files", files={"file": ("a.mp4", CLIP)}), 413, "payload_too_large"
    )
    assert "/api/v1/files/uploads" in detail["fix"]


def test_hints_as_a_json_list_or_a_comma_list_and_an_image_file(media: Media) -> None:
    alice = media.alice
    lin = enrolled_lin(alice)
    other = alice.client.post("/api/v1/identities", json={"name": "Other"}).json()["identity_uuid"]
    as_json = upload_clip(alice, identity_hints=f'["{lin}"]')
    assert as_json["identity_hints"] == [lin]
    as_list = upload_clip(alice, identity_hints=f"{lin.upper()}, {other}")
    assert as_list["identity_hints"] == [lin, other]

    assert len(queued_messages(media.queue_url)) == 2
    media.indexer.plan = [PlannedTrace(0, 0, nudged(photo_embedding("lin-manuel-miranda.png")))]
    resp = alice.client.post(
        "/api/v1/files", files={"file": ("lin.png", face_bytes("lin-manuel-miranda.png"))}
    )
    assert (
        resp.status_code == 202
        and resp.json()["media_type"] == "image"
        and resp.json()["content_type"] == "image/png"
    )
    image_uuid = resp.json()["file_uuid"]
    media.run_queued()
    assert media.indexer.kind_seen[-1] == "image"
    image = alice.client.get(f"/api/v1/files/{image_uuid}").json()
    assert (
        image["status"] == "completed"
        and image["fps"] is None
        and image["duration"] is None
        and image["frames"] == 1
    )
    files = {f["file_uuid"]: f for f in alice.client.get(f"/api/v1/identity/{lin}/files").json()["data"]}
    assert files[image_uuid]["appearances"] == [
        {"start_frame": 0, "end_frame": 0, "start_time": 0.0, "end_time": 0.0}
    ]


def test_pagination_of_files(media: Media) -> None:
    alice = media.alice
    made = [upload_clip(alice, subtitles=None)["file_uuid"] for _ in range(5)]
    page = alice.client.get("/api/v1/files?page=1&page_size=2").json()
    assert page["count"] == 5 and page["page_size"] == 2
    assert [f["file_uuid"] for f in page["files"]] == made[::-1][:2]  # newest first
    assert [
        f["file_uuid"] for f in alice.client.get("/api/v1/files?page=3&page_size=2").json()["files"]
    ] == made[:1]
    error(alice.client.get("/api/v1/files?page_size=0"), 422, "invalid_request")


def test_a_file_already_in_s3_is_claimed_from_the_callers_upload_prefix(media: Media) -> None:
    from likeness.wiring import blob_store

    alice, bob = media.alice, media.bob
    resp = alice.client.post("/api/v1/files/uploads", json={"filename": "big movie.mp4"})
    assert resp.status_code == 201, resp.text
    ticket = resp.json()
    key = ticket["s3_key"]
    assert key.startswith(f"media-uploads/{alice.account_id}/") and key.endswith("/big_movie.mp4")
    assert (
        ticket["method"] == "PUT" and ticket["expires_in"] > 0 and "X-Amz-Signature" in ticket["upload_url"]
    )

    error(alice.client.post("/api/v1/files", json={"s3_key": key}), 404, "upload_not_found")
    blob_store().put(key, CLIP, content_type="video/mp4")
    subs = alice.client.post("/api/v1/files/uploads", json={"filename": "big.srt"}).json()["s3_key"]
    blob_store().put(subs, SRT.encode(), content_type="text/plain")
    # another account's upload, an object outside the upload area, a path trick: 422
    bob_key = bob.client.post("/api/v1/files/uploads", json={}).json()["s3_key"]
    blob_store().put(bob_key, CLIP, content_type="video/mp4")
    for other in (
        bob_key,
        f"media/{alice.account_id}/x/source.mp4",
        f"media-uploads/{alice.account_id}/../{bob_key}",
    ):
        error(alice.client.post("/api/v1/files", json={"s3_key": other}), 422, "invalid_s3_key")

    resp = alice.client.post(
        "/api/v1/files", json={"s3_key": key, "subtitles_s3_key": subs, "identity_hints": []}
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert (
        body["filename"] == "big_movie.mp4" and body["size_bytes"] == len(CLIP) and body["subtitles"] is True
    )
    keys = blob_store().list_keys(f"media/{alice.account_id}/{body['file_uuid']}/")
    assert sorted(k.rsplit("/", 1)[1] for k in keys) == ["source.mp4", "subtitles.srt"]
    assert not blob_store().exists(key) and not blob_store().exists(subs)
    media.run_queued()
    assert alice.client.get(f"/api/v1/files/{body['file_uuid']}").json()["chunk_count"] == 3

    blob_store().put(key, b"plain text, not a video", content_type="video/mp4")
    error(alice.client.post("/api/v1/files", json={"s3_key": key}), 415, "unsupported_media_type")
    error(alice.client.post("/api/v1/files", json={"s3_key": key, "extra": 1}), 422, "invalid_request")
    error(
        alice.client.post("/api/v1/files", content=b"{", headers={"Content-Type": "application/json"}),
        400,
        "invalid_json",
    )


def test_large_files_go_to_the_batch_queue(media: Media, monkeypatch: pytest.MonkeyPatch) -> None:
    from likeness.aws.clients import get_client

    batch_url = get_client("sqs").create_queue(QueueName="media-batch-test")["QueueUrl"]
    set_env(monkeypatch, media_batch_queue_url=batch_url, media_lambda_max_bytes="100000")
    big = upload_clip(media.alice, subtitles=None)["file_uuid"]
    small = media.alice.client.post("/api/v1/files", files={"file": ("p.png", png_bytes(64, 64))}).json()[
        "file_uuid"
    ]
    assert [m["file_uuid"] for m in queued_messages(batch_url)] == [big]
    assert [m["file_uuid"] for m in queued_messages(media.queue_url)] == [small]


def test_a_file_whose_job_cannot_be_queued_fails_with_the_reason(
    media: Media, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_env(monkeypatch, media_index_queue_url=media.queue_url + "-missing")
    resp = media.alice.client.post("/api/v1/files", files={"file": ("a.mp4", CLIP)})
    detail = error(resp, 503, "index_queue_unavailable")
    file = media.alice.client.get(f"/api/v1/files/{detail['file_uuid']}").json()
    assert file["status"] == "failed" and "could not be queued" in file["error"]


# ---------------------------------------------------------------------------- the job's edges
def test_an_unreadable_file_fails_with_the_reason_and_an_event(media: Media) -> None:
    file_uuid = upload_clip(media.alice)["file_uuid"]
    media.indexer.unreadable = "no video stream: the file is not a video"
    (message,) = media.run_queued()
    file = media.alice.client.get(f"/api/v1/files/{file_uuid}").json()
    assert file["status"] == "failed" and file["error"] == "no video stream: the file is not a video"
    assert [kind for kind, _ in media.events.published] == ["file.failed"]
    assert media.events.published[0][1]["data"]["error"] == file["error"]
    media.job().handle(message)  # delivered again: nothing happens
    assert len(media.events.published) == 1
    # a reindex gets a new run and may succeed
    media.indexer.unreadable = None
    media.alice.client.post(f"/api/v1/files/{file_uuid}/reindex")
    media.run_queued()
    file = media.alice.client.get(f"/api/v1/files/{file_uuid}").json()
    assert file["status"] == "completed" and file["error"] is None


def test_bad_subtitles_in_s3_fail_the_job(media: Media) -> None:
    from likeness.wiring import blob_store, media_store

    file_uuid = upload_clip(media.alice)["file_uuid"]
    item = media_store().get_file(media.alice.account_id, file_uuid)
    assert item is not None
    blob_store().put(item["subtitles_key"], b"\x00\x01binary", content_type="text/plain")
    media.run_queued()
    file = media.alice.client.get(f"/api/v1/files/{file_uuid}").json()
    assert file["status"] == "failed" and "invalid subtitles" in file["error"]


def test_a_crash_leaves_the_file_processing_for_the_retry(media: Media) -> None:
    from likeness.media.index_job import IndexAttemptFailed

    file_uuid = upload_clip(media.alice)["file_uuid"]
    (message,) = queued_messages(media.queue_url)
    media.indexer.crash = ConnectionError("the model server went away")
    with pytest.raises(IndexAttemptFailed) as failed:
        media.job().handle(message)
    assert isinstance(failed.value.__cause__, ConnectionError) and failed.value.attempt == 1
    assert media.alice.client.get(f"/api/v1/files/{file_uuid}").json()["status"] == "processing"
    media.indexer.crash = None
    media.job().handle(message)
    assert media.alice.client.get(f"/api/v1/files/{file_uuid}").json()["status"] == "completed"
    media.job().handle(message)  # a late duplicate of a finished run
    assert [kind for kind, _ in media.events.published] == ["file.indexed"]
    # the consumer's last attempt may fail a run that keeps crashing
    media.alice.client.post(f"/api/v1/files/{file_uuid}/reindex")
    (again,) = queued_messages(media.queue_url)
    media.job().fail(again, "gave up after 3 attempts: the model server went away")
    file = media.alice.client.get(f"/api/v1/files/{file_uuid}").json()
    assert file["status"] == "failed" and file["error"].startswith("gave up after 3 attempts")


def test_messages_for_missing_files_or_malformed_are_ignored(media: Media) -> None:
    job = media.job()
    job.handle({"account_id": media.alice.account_id, "file_uuid": "a" * 32, "run_id": "r"})
    job.handle({"file_uuid": "a" * 32})
    job.handle({"account_id": 1, "file_uuid": None, "run_id": []})
    assert media.events.published == [] and media.indexer.kind_seen == []


def test_inactive_identities_are_not_matched(media: Media) -> None:
    alice = media.alice
    lin = enrolled_lin(alice)
    alice.client.patch(f"/api/v1/identity/{lin}", json={"status": "inactive"})
    file_uuid = upload_clip(alice, subtitles=None)["file_uuid"]
    media.run_queued()
    assert media.indexer.known_seen[-1] == []
    names = [i["name"] for i in alice.client.get(f"/api/v1/files/{file_uuid}").json()["identities"]]
    assert names == ["Unknown 1"]
