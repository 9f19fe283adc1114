"""A bind that loses a race: another bind of the same face lands between the read of the face
and the conditional write, so the request is a 409 ``face_busy`` and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_media_files import Media, error, indexed, media  # noqa: F401 (fixture)


def test_a_bind_that_loses_to_a_concurrent_bind_is_face_busy(
    media: Media,  # noqa: F811 (the imported fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from likeness.media.store import MediaStore
    from likeness.wiring import media_store

    alice = media.alice
    _, file_uuid, _ = indexed(media)
    joe = alice.client.post("/api/v1/identities", json={"name": "Joe Biden"}).json()["identity_uuid"]
    rival = alice.client.post("/api/v1/identities", json={"name": "Someone Else"}).json()["identity_uuid"]

    real = MediaStore.assign_trace
    raced: list[int] = []

    def another_bind_lands_first(self: MediaStore, account_id: str, file: str, trace: int, **kw: Any) -> Any:
        if kw.get("expected_identity", False) is not False and not raced:
            raced.append(trace)  # the rival's request, between this one's read and its write
            real(self, account_id, file, trace, identity_uuid=rival, assignment="bound")
        return real(self, account_id, file, trace, **kw)

    monkeypatch.setattr(MediaStore, "assign_trace", another_bind_lands_first)
    resp = alice.client.post(f"/api/v1/identity/{joe}/bind", json={"file_uuid": file_uuid, "face_id": "95_0"})
    detail = error(resp, 409, "face_busy")
    assert "try again" in detail["message"]
    assert raced == [2]
    monkeypatch.undo()

    # the face is the rival's; nothing of the refused bind landed
    assert alice.client.get(f"/api/v1/identity/{joe}/files").json()["data"] == []
    assert media_store().get_enrollment(alice.account_id, joe).faces == []
    [appearing] = alice.client.get(f"/api/v1/identity/{rival}/files").json()["data"]
    assert appearing["file_uuid"] == file_uuid
    # trying again binds it
    again = alice.client.post(
        f"/api/v1/identity/{joe}/bind", json={"file_uuid": file_uuid, "face_id": "95_0"}
    )
    assert again.status_code == 200, again.text
