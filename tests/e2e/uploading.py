"""Presigned uploads as a client makes them: POST /uploads, then PUT the bytes to S3 (the emulator)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import ApiUser
from tests.helpers import face_bytes


def new_upload(user: ApiUser, content_type: str, size: int) -> dict[str, Any]:
    resp = user.client.post("/uploads", json={"content_type": content_type, "size": size})
    assert resp.status_code == 201, resp.text
    ticket: dict[str, Any] = resp.json()
    return ticket


def put_bytes(ticket: dict[str, Any], data: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    """PUT to the presigned URL with the ticket's headers (or others, to break the rules)."""
    return httpx.put(ticket["url"], content=data, headers=ticket["headers"] if headers is None else headers)


def uploaded(user: ApiUser, data: bytes, content_type: str = "image/jpeg") -> str:
    """An upload holding ``data``, ready to use: its upload_id."""
    ticket = new_upload(user, content_type, len(data))
    put = put_bytes(ticket, data)
    assert put.status_code == 200, put.text
    return str(ticket["upload_id"])


def padded_face(total: int, name: str = "obama.jpg") -> bytes:
    """A valid photo of one face, ``total`` bytes long (zeros after the JPEG's end marker)."""
    data = face_bytes(name)
    return data + b"\0" * (total - len(data))


def upload_record(account_id: str, upload_id: str) -> dict[str, Any] | None:
    from likeness.uploads.service import upload_record_key
    from likeness.wiring import table

    return table().get(*upload_record_key(account_id, upload_id))


def expire(account_id: str, upload_id: str) -> None:
    """As if the upload's lifetime had passed (DynamoDB's TTL deletes the record later)."""
    from likeness.uploads.service import upload_record_key
    from likeness.wiring import table

    table().update(
        *upload_record_key(account_id, upload_id), update="SET expires_at = :past", values={":past": 1}
    )
