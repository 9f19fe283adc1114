"""Presigned uploads against moto: the claim's lease and expiry over time, and what template.yaml
declares for them (the route, the lifecycle rule the local stack provisions too)."""

from __future__ import annotations

from typing import Any

import pytest

from likeness.accounts.models import Caller
from likeness.errors import LikenessError
from likeness.uploads.service import LEASE_SECONDS, UploadCreate, UploadService, upload_record_key
from tests.helpers import face_bytes


class _Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


def _caller() -> Caller:
    from likeness.wiring import account_service

    account = account_service().create_account(name="uploader", plan="free")
    scopes = frozenset({"identities:read", "identities:write"})
    return Caller(account_id=account.account_id, plan="free", key_id="k", scopes=scopes)


@pytest.fixture
def uploads(aws: dict[str, str]) -> tuple[UploadService, _Clock]:
    from likeness.settings import get_settings
    from likeness.wiring import blob_store, table

    clock = _Clock()
    return UploadService(table=table(), blobs=blob_store(), settings=get_settings(), clock=clock), clock


def _put(service: UploadService, caller: Caller, data: bytes) -> str:
    from likeness.wiring import blob_store

    ticket = service.create(caller=caller, request=UploadCreate(content_type="image/jpeg", size=len(data)))
    object_key = f"uploads/{caller.account_id}/{ticket.upload_id}"
    assert ticket.url.split("?")[0].endswith(object_key)
    blob_store().put(object_key, data, content_type="image/jpeg")
    return ticket.upload_id


def _refusal(service: UploadService, caller: Caller, upload_id: str) -> tuple[int, str]:
    with pytest.raises(LikenessError) as refused, service.claimed(caller=caller, uploads={"f": upload_id}):
        pass
    return refused.value.status_code, refused.value.error_code


def test_an_upload_in_use_is_409_and_a_crashed_claim_lapses(uploads: tuple[UploadService, _Clock]) -> None:
    service, clock = uploads
    caller = _caller()
    photo = face_bytes("obama.jpg")
    upload_id = _put(service, caller, photo)
    with service.claimed(caller=caller, uploads={"f": upload_id}) as got:
        assert got == {"f": photo}
        assert _refusal(service, caller, upload_id) == (409, "upload_in_use")
        # a request that died here never releases: its lease runs out instead
        clock.now += LEASE_SECONDS + 1
        with service.claimed(caller=caller, uploads={"g": upload_id}) as again:
            assert again == {"g": photo}
    assert _refusal(service, caller, upload_id) == (409, "upload_already_used")


def test_an_upload_expires_with_its_url(uploads: tuple[UploadService, _Clock]) -> None:
    from likeness.settings import get_settings
    from likeness.wiring import table

    service, clock = uploads
    caller = _caller()
    upload_id = _put(service, caller, face_bytes("obama.jpg"))
    record = table().get(*upload_record_key(caller.account_id, upload_id))
    assert record is not None
    # the table's TTL attribute: DynamoDB removes the record once it has expired
    assert record["expires_at"] == int(clock.now) + get_settings().upload_ttl_seconds
    clock.now += get_settings().upload_ttl_seconds
    assert _refusal(service, caller, upload_id) == (410, "upload_expired")


def test_the_template_routes_post_uploads_and_expires_what_nobody_used(aws: dict[str, str]) -> None:
    from infra.local.template import Template
    from likeness.aws.clients import get_client
    from likeness.settings import get_settings

    template = Template.load()
    routes = [r for r in template.http_routes() if r.path == "/uploads"]
    assert [(r.method, r.function_logical_id) for r in routes] == [("POST", "WardrobeApiFunction")]

    bucket: dict[str, Any] = template.data["Resources"]["MediaBucket"]["Properties"]
    rules = [r for r in bucket["LifecycleConfiguration"]["Rules"] if r.get("Prefix") == "uploads/"]
    assert len(rules) == 1 and rules[0]["Status"] == "Enabled"
    # S3 counts whole days: the rule is the backstop after an upload stopped being usable
    assert rules[0]["ExpirationInDays"] * 86400 >= get_settings().upload_ttl_seconds
    provisioned = get_client("s3").get_bucket_lifecycle_configuration(Bucket=get_settings().media_bucket)
    assert any(
        r.get("Filter", {}).get("Prefix", r.get("Prefix")) == "uploads/" and r["Expiration"]["Days"] == 1
        for r in provisioned["Rules"]
    )
