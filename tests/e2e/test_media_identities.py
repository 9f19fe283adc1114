"""Media identities over HTTP on the local stack, with the real indexer: index the fixture clip
with Lin-Manuel Miranda enrolled from his photo, ask when he is on screen and what was said,
bind / unbind, split / merge, a corrupt video failing with a reason, and the file.indexed event."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest

from tests.e2e.conftest import ApiUser, bus_events
from tests.helpers import FACES, error_code, face_bytes

pytestmark = pytest.mark.e2e

CLIP = (FACES / "short_hamilton_clip.mp4").read_bytes()
FPS = 29.97
# the clip (275 frames) shows Lin in a wide shot (frames 0-19) and a close-up (82-210)
SRT = """1
00:00:00,000 --> 00:00:00,600
I am not throwing away my shot.

2
00:00:01,000 --> 00:00:02,000
Hey yo, I'm just like my country.

3
00:00:03,000 --> 00:00:04,500
I'm young, scrappy and hungry.

4
00:00:08,000 --> 00:00:09,000
And I'm not throwing away my shot!
"""


def ok(resp: Any, status: int = 200) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert body["success"] is True
    return body


def wait_for_file(user: ApiUser, file_uuid: str, *, timeout: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = ok(user.client.get(f"/api/v1/files/{file_uuid}"))
        if body["status"] in ("completed", "failed"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"file {file_uuid} still {body['status']} after {timeout}s")
        time.sleep(0.5)


def enroll_lin(user: ApiUser) -> str:
    uuid = secrets.token_hex(16)
    identity = {
        "version": 1,
        "identity_uuid": uuid,
        "name": "Lin-Manuel Miranda",
        "identity_type": "people",
        "source": ".json",
        "status": "confirmed",
        "metadata": {"role": "Alexander Hamilton"},
        "file_bindings": [],
    }
    assert ok(user.client.post("/api/v1/identity/upload", json=identity), 201)["identity_uuid"] == uuid
    image = face_bytes("lin-manuel-miranda.png")
    ok(user.client.post(f"/api/v1/identity/{uuid}/profile-image", files={"image": ("lin.png", image)}))
    return uuid


@pytest.fixture(scope="module")
def indexed(make_user: Any) -> dict[str, Any]:
    """One account with Lin enrolled and the clip indexed with the test's subtitles."""
    user = make_user()
    lin = enroll_lin(user)
    resp = user.client.post(
        "/api/v1/files",
        files={
            "file": ("hamilton.mp4", CLIP, "video/mp4"),
            "subtitles": ("hamilton.srt", SRT.encode(), "application/x-subrip"),
        },
    )
    created = ok(resp, 202)
    assert created["status"] == "pending" and created["subtitles"] is True
    file = wait_for_file(user, created["file_uuid"])
    return {"user": user, "lin": lin, "file": file}


def test_when_is_he_on_screen_and_what_was_said(indexed: dict[str, Any]) -> None:
    user, lin, file = indexed["user"], indexed["lin"], indexed["file"]
    file_uuid = file["file_uuid"]
    assert file["status"] == "completed", file
    assert file["frames"] == 275 and file["fps"] == pytest.approx(FPS, abs=0.01)
    assert file["duration"] == pytest.approx(275 / FPS, abs=0.01)
    assert file["faces_found"] > 0 and file["chunk_count"] == 4
    assert lin in {i["identity_uuid"] for i in file["identities"]}

    files = ok(user.client.get(f"/api/v1/identity/{lin}/files"))
    (summary,) = files["data"]
    assert summary["file_uuid"] == file_uuid and summary["filename"] == "hamilton.mp4"
    ranges = [(a["start_frame"], a["end_frame"]) for a in summary["appearances"]]
    assert len(ranges) == 2, ranges
    (a0, a1), (b0, b1) = ranges
    assert a0 == 0 and abs(a1 - 19) <= 1 and abs(b0 - 82) <= 1 and abs(b1 - 210) <= 1
    assert summary["first_seen"] == 0.0 and summary["last_seen"] == pytest.approx((b1 + 1) / FPS, abs=0.01)
    assert summary["appearances"][1]["start_time"] == pytest.approx(b0 / FPS, abs=0.01)
    assert 0.5 <= summary["confidence"] <= 1.0 and summary["face_count"] > 30

    chunks = ok(user.client.get(f"/api/v1/identity/{lin}/chunks"))
    assert [c["text_content"] for c in chunks["data"]] == [
        '[0s-1s] Lin-Manuel Miranda: "I am not throwing away my shot."',
        '[3s-5s] Lin-Manuel Miranda: "I\'m young, scrappy and hungry."',
    ]
    first = chunks["data"][0]
    assert first["id"] == 0 and first["chunk_id"] == f"{file_uuid}_0" and first["chunk_type"] == "sentence"
    assert (first["start_frame"], first["end_frame"]) == (0, 17) and first["fps"] == pytest.approx(
        FPS, abs=0.01
    )
    assert chunks["data"][1]["id"] == 1 and chunks["data"][1]["chunk_id"] == f"{file_uuid}_2"

    faces = ok(user.client.get(f"/api/v1/identity/{lin}/faces?page_size=1000"))
    assert faces["count"] == summary["face_count"] == len(faces["data"])
    assert {f["file_uuid"] for f in faces["data"]} == {file_uuid}
    assert all(f["face_id"] == f"{f['frame_number']}_{f['face_id'].split('_')[1]}" for f in faces["data"])

    hit = ok(user.client.get("/api/v1/identities/search?q=manuel"))["identities"][0]
    assert hit["identity_uuid"] == lin and hit["file_uuid"] == file_uuid

    events = [e for e in bus_events(user.account_id) if e["detail-type"] == "file.indexed"]
    assert [e["detail"]["data"]["file_uuid"] for e in events] == [file_uuid]


def test_bind_and_unbind_a_face_of_someone_else(indexed: dict[str, Any]) -> None:
    user, lin, file = indexed["user"], indexed["lin"], indexed["file"]
    file_uuid = file["file_uuid"]
    traces = ok(user.client.get(f"/api/v1/files/{file_uuid}/faces"))["traces"]
    other = next(t for t in traces if t["identity_uuid"] != lin)
    face_id = other["faces"][0]["face_id"]
    pianist = ok(user.client.post("/api/v1/identities", json={"name": "Alex Lacamoire"}), 201)[
        "identity_uuid"
    ]

    bound = ok(
        user.client.post(
            f"/api/v1/identity/{pianist}/bind", json={"file_uuid": file_uuid, "face_id": face_id}
        )
    )
    assert bound["trace_id"] == other["trace_id"] and bound["face_count"] == other["face_count"]
    files = ok(user.client.get(f"/api/v1/identity/{pianist}/files"))["data"]
    assert files[0]["appearances"][0]["start_frame"] == other["start_frame"]
    assert pianist in {
        i["identity_uuid"] for i in ok(user.client.get(f"/api/v1/files/{file_uuid}"))["identities"]
    }

    wrong = user.client.post(
        f"/api/v1/identity/{lin}/unbind", json={"file_uuid": file_uuid, "face_id": face_id}
    )
    assert wrong.status_code == 409 and wrong.json()["detail"]["code"] == "face_not_bound"
    ok(
        user.client.post(
            f"/api/v1/identity/{pianist}/unbind", json={"file_uuid": file_uuid, "face_id": face_id}
        )
    )
    assert ok(user.client.get(f"/api/v1/identity/{pianist}/files"))["count"] == 0
    actions = [e["action"] for e in ok(user.client.get(f"/api/v1/identity/{pianist}/audit"))["entries"]]
    assert actions == ["unbind", "bind", "create"]


def test_split_a_shot_off_and_merge_it_back(indexed: dict[str, Any]) -> None:
    user, lin, file = indexed["user"], indexed["lin"], indexed["file"]
    file_uuid = file["file_uuid"]
    faces = ok(user.client.get(f"/api/v1/identity/{lin}/faces?page_size=1000"))["data"]
    close_up = next(f for f in faces if f["frame_number"] >= 82)

    split = ok(
        user.client.post(
            f"/api/v1/identity/{lin}/split",
            json={
                "name": "Lin (close-up)",
                "faces": [{"file_uuid": file_uuid, "face_id": close_up["face_id"]}],
            },
        ),
        201,
    )
    new = split["new_identity"]["identity_uuid"]
    assert split["moved_traces"] == 1 and split["new_identity"]["source"] == "user_defined"
    lin_ranges = ok(user.client.get(f"/api/v1/identity/{lin}/files"))["data"][0]["appearances"]
    assert [a["start_frame"] for a in lin_ranges] == [0]
    assert (
        ok(user.client.get(f"/api/v1/identity/{new}/files"))["data"][0]["appearances"][0]["start_frame"] >= 81
    )

    merged = ok(
        user.client.post(
            "/api/v1/identities/merge", json={"target_identity_uuid": lin, "identity_uuids": [new]}
        )
    )
    assert merged["moved_traces"] == 1 and merged["identity"]["source"] == ".json"
    assert len(ok(user.client.get(f"/api/v1/identity/{lin}/files"))["data"][0]["appearances"]) == 2
    assert error_code(user.client.get(f"/api/v1/identity/{new}"), 404) == "identity_not_found"
    trail = ok(user.client.get(f"/api/v1/identities/audit?identity_uuid={new}"))["entries"]
    assert [e["action"] for e in trail] == ["merge", "split"]


def test_a_corrupt_video_fails_with_a_reason(make_user: Any) -> None:
    user = make_user()
    broken = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64
    created = ok(user.client.post("/api/v1/files", files={"file": ("broken.mp4", broken, "video/mp4")}), 202)
    file = wait_for_file(user, created["file_uuid"], timeout=120)
    assert file["status"] == "failed" and file["error"], file
    events = [e for e in bus_events(user.account_id) if e["detail-type"] == "file.failed"]
    assert events and events[0]["detail"]["data"]["error"] == file["error"]


def test_deleting_the_file_leaves_the_people(make_user: Any) -> None:
    user = make_user()
    lin = enroll_lin(user)
    created = ok(
        user.client.post("/api/v1/files", files={"file": ("lin.png", face_bytes("lin-manuel-miranda.png"))}),
        202,
    )
    image = wait_for_file(user, created["file_uuid"])
    assert image["status"] == "completed" and image["media_type"] == "image"
    assert [i["identity_uuid"] for i in image["identities"]] == [lin]
    ok(user.client.delete(f"/api/v1/files/{created['file_uuid']}"))
    assert error_code(user.client.get(f"/api/v1/files/{created['file_uuid']}"), 404) == "file_not_found"
    assert ok(user.client.get(f"/api/v1/identity/{lin}/files"))["count"] == 0
    assert ok(user.client.get(f"/api/v1/identity/{lin}"))["name"] == "Lin-Manuel Miranda"


def test_a_saved_webhook_gets_file_indexed_signed(make_user: Any, local_stack: Any) -> None:
    from standardwebhooks.webhooks import Webhook

    from tests.webhook_receiver import running_receiver

    user = make_user()
    with running_receiver() as receiver:
        endpoint = user.client.post(
            "/webhooks/endpoints", json={"url": receiver.url("/media"), "events": ["file.*"]}
        )
        assert endpoint.status_code == 201, endpoint.text
        secret = endpoint.json()["secret"]
        created = ok(
            user.client.post("/api/v1/files", files={"file": ("pair.jpg", face_bytes("two_people.jpg"))}),
            202,
        )
        file = wait_for_file(user, created["file_uuid"])
        assert file["status"] == "completed" and file["faces_found"] == 2
        [delivery] = receiver.wait_for("/media")
        payload = Webhook(secret).verify(delivery.body, delivery.headers)
        assert payload["type"] == "file.indexed"
        assert payload["data"]["file_uuid"] == created["file_uuid"]
        assert payload["data"]["status"] == "completed"
        local_stack.consumers.drain(timeout=60)
