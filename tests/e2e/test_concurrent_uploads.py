"""Uploads racing for one name: DynamoDB lets one win, the rest are told the name is taken."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.conftest import ApiUser, bucket_keys
from tests.helpers import face_bytes

pytestmark = pytest.mark.e2e

RACERS = 20


def test_twenty_uploads_of_one_name_at_once_give_one_201_and_nineteen_409(alice: ApiUser) -> None:
    photo = face_bytes("obama_small.jpg")
    start = threading.Barrier(RACERS)
    before = set(bucket_keys())

    def upload(_: int) -> httpx.Response:
        # a client per racer: each request goes out on its own connection
        with httpx.Client(
            base_url=str(alice.client.base_url), headers={"X-API-Key": alice.api_key}, timeout=120
        ) as client:
            start.wait(timeout=60)
            return client.post(
                "/identity/upload",
                data={"name": "Twin"},
                files={"file": ("twin.jpg", photo, "image/jpeg")},
            )

    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        responses = list(pool.map(upload, range(RACERS)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (RACERS - 1), [(r.status_code, r.text[:200]) for r in responses]
    for resp in responses:
        if resp.status_code == 409:
            assert resp.json()["detail"]["code"] == "identity_name_taken", resp.text
    created = next(r.json() for r in responses if r.status_code == 201)

    listed = alice.client.get("/identity", params={"visibility": "private"}).json()
    assert listed["total_count"] == 1
    assert [i["identity_code"] for i in listed["data"]] == [created["identity_code"]]
    assert alice.client.get(f"/identity/{created['identity_code']}").status_code == 200
    # the losers' photos were removed: every new file is the winner's
    added = set(bucket_keys()) - before
    assert added and all(key.startswith(f"identities/{created['identity_code']}/") for key in added), added
