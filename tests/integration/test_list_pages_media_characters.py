"""The media and characters lists read only the page they return, on moto (DESIGN: "a list reads
only the page it returns"): each list's order across pages, its total after creates, changes and
deletes (answered from counters), and what the Query calls for a first page of an account of 60
bring back: at most the page and one more item.

The identity search is the exception: free text has no counter, so it reads the account's
identities once (see ``MediaIdentityService.search``); only its answers are checked here."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import png_bytes

PAGE = 10
LARGE = 60


@dataclass
class QueryReads:
    """What the Query calls of the DynamoDB client brought back while it was listening."""

    items: int = 0
    scanned: int = 0

    def record(self, parsed: dict[str, Any], **_: Any) -> None:
        self.items += len(parsed.get("Items") or [])
        self.scanned += int(parsed.get("ScannedCount") or 0)


@contextmanager
def query_reads() -> Iterator[QueryReads]:
    from likeness.aws.clients import get_client

    events = get_client("dynamodb").meta.events
    seen = QueryReads()
    events.register("after-call.dynamodb.Query", seen.record)
    try:
        yield seen
    finally:
        events.unregister("after-call.dynamodb.Query", seen.record)


def assert_read_only_the_page(seen: QueryReads) -> None:
    assert 0 < seen.items <= PAGE + 1, seen
    assert seen.scanned <= PAGE + 1, seen


def account_user(app: Any, *, credits: int = 0) -> tuple[TestClient, str]:
    """A client with a key of a new account, and the account's id."""
    from likeness.wiring import account_service

    accounts = account_service()
    account = accounts.create_account(name=f"lists-{secrets.token_hex(3)}", plan="pro", credits=credits)
    issued = accounts.issue_key(account_id=account.account_id, scopes=("identities:read", "identities:write"))
    return TestClient(app, headers={"X-API-Key": issued.api_key}), account.account_id


def user(app: Any) -> TestClient:
    return account_user(app)[0]


def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status_code == status, resp.text
    return resp.json()


def error(resp: Any, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    assert resp.json()["detail"]["code"] == code, resp.text


@pytest.fixture
def media_app(aws: dict[str, str]) -> Any:
    from functions.media_api.app import app

    return app


@pytest.fixture
def character_app(aws: dict[str, str]) -> Any:
    from functions.character_api.app import app

    return app


# ---------------------------------------------------------------------------- media files
def test_files_are_read_a_page_at_a_time_newest_first_and_counted(media_app: Any) -> None:
    alice, bob = user(media_app), user(media_app)
    created = [
        ok(alice.post("/api/v1/files", files={"file": (f"f{i}.png", png_bytes(8, 8), "image/png")}), 202)
        for i in range(LARGE)
    ]
    newest_first = [
        f["file_uuid"] for f in sorted(created, key=lambda f: (f["created_at"], f["file_uuid"]), reverse=True)
    ]

    with query_reads() as seen:
        first = ok(alice.get(f"/api/v1/files?page=1&page_size={PAGE}"))
    assert_read_only_the_page(seen)
    pages = [first] + [ok(alice.get(f"/api/v1/files?page={p}&page_size={PAGE}")) for p in range(2, 8)]
    assert [p["count"] for p in pages] == [LARGE] * 7
    assert [f["file_uuid"] for p in pages for f in p["files"]] == newest_first
    assert pages[-1]["files"] == []

    for file_uuid in newest_first[:3]:
        ok(alice.delete(f"/api/v1/files/{file_uuid}"))
    error(alice.delete(f"/api/v1/files/{newest_first[0]}"), 404, "file_not_found")
    left = ok(alice.get("/api/v1/files?page=1&page_size=100"))
    assert left["count"] == LARGE - 3
    assert [f["file_uuid"] for f in left["files"]] == newest_first[3:]
    assert {k: v for k, v in ok(bob.get("/api/v1/files")).items() if k != "success"} == {
        "count": 0,
        "page": 1,
        "page_size": 20,
        "files": [],
    }


# ---------------------------------------------------------------------------- media identities
def key(name: str) -> str:
    return " ".join(name.casefold().split())


def all_pages(client: TestClient, path: str, field: str, **params: Any) -> tuple[list[str], set[int]]:
    """Every page's identity names (page_size PAGE) and the counts the pages answered."""
    names: list[str] = []
    counts: set[int] = set()
    for page in range(1, 100):
        query = "&".join(f"{k}={v}" for k, v in {**params, "page": page, "page_size": PAGE}.items())
        body = ok(client.get(f"{path}?{query}"))
        counts.add(body["count"])
        if not body[field]:
            return names, counts
        names += [i["name"] for i in body[field]]
    raise AssertionError("more pages than expected")


def test_identities_are_read_a_page_at_a_time_by_name_and_counted_by_filter(media_app: Any) -> None:
    alice, bob = user(media_app), user(media_app)
    # names one of which starts another: "ann" sorts before "Ann B", which sorts before "ann!"
    names = ["Ann B", "ann!", "ann"] + [f"Person {n:02d}" for n in range(LARGE - 3)]
    secrets.SystemRandom().shuffle(names)
    uuids: dict[str, str] = {}
    pending: set[str] = set()
    for i, name in enumerate(names):
        status = "pending" if i % 3 == 0 else "confirmed"
        uuids[name] = ok(alice.post("/api/v1/identities", json={"name": name, "status": status}), 201)[
            "identity_uuid"
        ]
        if status == "pending":
            pending.add(name)
    tmdb = ["Tmdb A", "Tmdb B", "Tmdb C"]
    for name in tmdb:
        uuids[name] = secrets.token_hex(16)
        body = {
            "version": 1,
            "identity_uuid": uuids[name],
            "name": name,
            "source": "tmdb",
            "status": "confirmed",
        }
        ok(alice.post("/api/v1/identity/upload", json=body), 201)
    total = LARGE + len(tmdb)

    with query_reads() as seen:
        first = ok(alice.get(f"/api/v1/identities?page=1&page_size={PAGE}"))
    assert_read_only_the_page(seen)
    assert first["count"] == total
    listed, counts = all_pages(alice, "/api/v1/identities", "identities")
    assert listed == sorted(uuids, key=key) and counts == {total}
    assert listed.index("ann") < listed.index("Ann B") < listed.index("ann!")
    listed, counts = all_pages(alice, "/api/v1/identities", "identities", status="pending")
    assert listed == sorted(pending, key=key) and counts == {len(pending)}
    listed, counts = all_pages(alice, "/api/v1/identities", "identities", source="tmdb")
    assert listed == tmdb and counts == {3}
    listed, counts = all_pages(alice, "/api/v1/identities", "identities", source="tmdb", status="pending")
    assert listed == [] and counts == {0}

    # a status change and a rename move it between the filters' counts and in the order
    moved = sorted(pending, key=key)[-1]
    ok(alice.patch(f"/api/v1/identity/{uuids[moved]}", json={"status": "confirmed", "name": "Aaron"}))
    pending.discard(moved)
    uuids["Aaron"] = uuids.pop(moved)
    first = ok(alice.get(f"/api/v1/identities?page=1&page_size={PAGE}&status=confirmed"))
    assert first["identities"][0]["name"] == "Aaron"
    assert first["count"] == total - len(pending)
    assert ok(alice.get("/api/v1/identities?status=pending"))["count"] == len(pending)

    # deletes and a merge count them out
    gone = sorted(pending, key=key)[:2]
    for name in gone:
        ok(alice.delete(f"/api/v1/identity/{uuids.pop(name)}"))
        pending.discard(name)
    error(alice.delete(f"/api/v1/identity/{uuids['Aaron']}x"), 404, "identity_not_found")
    merge = {
        "target_identity_uuid": uuids["Tmdb A"],
        "identity_uuids": [uuids.pop("Tmdb B"), uuids.pop("Tmdb C")],
    }
    ok(alice.post("/api/v1/identities/merge", json=merge))
    listed, counts = all_pages(alice, "/api/v1/identities", "identities")
    assert listed == sorted(uuids, key=key) and counts == {total - 4}
    assert all_pages(alice, "/api/v1/identities", "identities", status="pending") == (
        sorted(pending, key=key),
        {len(pending)},
    )
    assert all_pages(alice, "/api/v1/identities", "identities", source="tmdb") == (["Tmdb A"], {1})
    assert ok(bob.get("/api/v1/identities"))["count"] == 0

    # search: the matches in name order, a page at a time, and their count
    matches = sorted((n for n in uuids if "person 1" in key(n)), key=key)
    assert all_pages(alice, "/api/v1/identities/search", "identities", q="PERSON%201") == (
        matches,
        {len(matches)},
    )


def test_the_audit_trail_is_read_a_page_at_a_time_newest_first_and_counted(media_app: Any) -> None:
    alice = user(media_app)
    created = [
        ok(alice.post("/api/v1/identities", json={"name": f"Someone {n:02d}"}), 201)["identity_uuid"]
        for n in range(LARGE)
    ]
    first_uuid = created[0]
    ok(alice.patch(f"/api/v1/identity/{first_uuid}", json={"status": "inactive"}))
    merge = {"target_identity_uuid": first_uuid, "identity_uuids": created[1:3]}
    ok(alice.post("/api/v1/identities/merge", json=merge))
    ok(alice.delete(f"/api/v1/identity/{created[3]}"))
    entries = LARGE + 3  # the creates, the update, the merge, the delete

    with query_reads() as seen:
        first = ok(alice.get(f"/api/v1/identities/audit?page=1&page_size={PAGE}"))
    assert_read_only_the_page(seen)
    assert first["count"] == entries
    pages = [first] + [
        ok(alice.get(f"/api/v1/identities/audit?page={p}&page_size={PAGE}"))
        for p in range(2, entries // PAGE + 3)
    ]
    trail = [e for p in pages for e in p["entries"]]
    assert {p["count"] for p in pages} == {entries} and pages[-1]["entries"] == []
    assert len({e["audit_id"] for e in trail}) == entries
    assert [e["action"] for e in trail[:3]] == ["delete", "merge", "update"]
    assert [e["created_at"] for e in trail] == sorted((e["created_at"] for e in trail), reverse=True)
    assert {e["action"] for e in trail[3:]} == {"create"}

    # one identity's trail, its own count (a deleted identity's too)
    mine = ok(alice.get(f"/api/v1/identities/audit?identity_uuid={first_uuid}&page_size=2"))
    assert mine["count"] == 3 and [e["action"] for e in mine["entries"]] == ["merge", "update"]
    merged = ok(alice.get(f"/api/v1/identities/audit?identity_uuid={created[1]}"))
    assert merged["count"] == 2 and [e["action"] for e in merged["entries"]] == ["merge", "create"]
    assert ok(alice.get(f"/api/v1/identity/{created[4]}/audit"))["count"] == 1


# ---------------------------------------------------------------------------- characters
def test_characters_are_read_a_page_at_a_time_by_slug_with_a_cursor(character_app: Any) -> None:
    alice, bob = user(character_app), user(character_app)
    slugs = [f"c{secrets.token_hex(4)}" for _ in range(LARGE)]
    for slug in slugs:
        ok(alice.post("/v1/characters", json={"slug": slug, "name": slug.upper()}), 201)
    ok(bob.post("/v1/characters", json={"slug": "bobs-own", "name": "Bob's"}), 201)

    with query_reads() as seen:
        first = ok(alice.get(f"/v1/characters?limit={PAGE}"))
    assert_read_only_the_page(seen)
    listed = [c["slug"] for c in first["data"]["characters"]]
    cursor = first["data"]["next_cursor"]
    assert any(a["command"].endswith(f"cursor={cursor}") for a in first["next_actions"])
    while cursor:
        page = ok(alice.get(f"/v1/characters?limit={PAGE}&cursor={cursor}"))["data"]
        assert len(page["characters"]) <= PAGE
        listed += [c["slug"] for c in page["characters"]]
        cursor = page["next_cursor"]
    assert listed == sorted(slugs)
    assert first["data"]["characters"][0]["name"] == sorted(slugs)[0].upper()

    by_default = ok(alice.get("/v1/characters"))["data"]
    assert [c["slug"] for c in by_default["characters"]] == sorted(slugs)[:50]
    assert by_default["next_cursor"]
    everything = ok(alice.get("/v1/characters?limit=100"))["data"]
    assert len(everything["characters"]) == LARGE and everything["next_cursor"] is None
    assert [c["slug"] for c in ok(bob.get("/v1/characters"))["data"]["characters"]] == ["bobs-own"]
    error(alice.get("/v1/characters?cursor=not-a-cursor"), 400, "invalid_cursor")
    error(alice.get("/v1/characters?limit=0"), 422, "invalid_request")
    error(alice.get("/v1/characters?limit=101"), 422, "invalid_request")


# ---------------------------------------------------------------------------- probes and inventory
def test_probes_and_inventory_generations_read_only_their_page(
    character_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from likeness.characters.probes import ProbeService
    from likeness.jobs.models import new_job_item, put_job
    from likeness.wiring import table

    # the generation preconditions (identity image, session, engine) are the probe tests' subject
    context = {
        "version": {"version_id": "ver_1"},
        "identities": [{"asset_id": "ast_1", "key": "identity.png"}],
        "anchors": {"visual_summary": "short dark hair"},
    }
    monkeypatch.setattr(ProbeService, "_preconditions", lambda self, **_: context)
    alice, account_id = account_user(character_app, credits=10_000)
    slug = "prober"
    ok(alice.post("/v1/characters", json={"slug": slug, "name": "Prober"}), 201)

    # jobs from before probes and inventory had index ranges of their own
    old: dict[str, str] = {}
    for kind, inputs in (("probe", {"probe_type": "identity_selfie"}), ("inventory", {"category": "prop"})):
        job = new_job_item(
            job_id=f"job_old_{kind}",
            job_type="character_image",
            account_id=account_id,
            inputs={"slug": slug, "session_id": "ses_1", "image_kind": "selfie", **inputs},
            index_prefix=f"CPROBE#{slug}",
        )
        table().transact(put_job(job))
        old[kind] = job["job_id"]

    probe = {"probe_type": "identity_selfie", "session_id": "ses_1"}
    for _ in range(LARGE):
        ok(alice.post(f"/v1/characters/{slug}/image-probe", json=probe), 202)
    batch = {
        "categories": ["wardrobe", "prop", "scene", "place"],
        "count_per_category": 2,
        "session_id": "ses_1",
    }
    for _ in range(3):
        assert ok(alice.post(f"/v1/characters/{slug}/inventory/generate", json=batch))["data"]["queued"] == 8

    with query_reads() as seen:
        first = ok(alice.get(f"/v1/characters/{slug}/image-probe?limit={PAGE}"))["data"]["probes"]
    assert_read_only_the_page(seen)
    probes = ok(alice.get(f"/v1/characters/{slug}/image-probe?limit=100"))["data"]["probes"]
    assert first == probes[:PAGE]
    assert len(probes) == LARGE + 1 and probes[-1]["probe_id"] == old["probe"]
    assert all(p["probe_type"] == "identity_selfie" and "category" not in p for p in probes)
    order = [(p["created_at"], p["probe_id"]) for p in probes[:-1]]
    assert order == sorted(order, reverse=True)

    with query_reads() as seen:
        first = ok(alice.get(f"/v1/characters/{slug}/inventory/generations?limit={PAGE}"))["data"]
    assert_read_only_the_page(seen)
    assert first["categories"] == ["accessory", "place", "prop", "scene", "wardrobe"]
    generations = ok(alice.get(f"/v1/characters/{slug}/inventory/generations?limit=100"))["data"][
        "generations"
    ]
    assert first["generations"] == generations[:PAGE]
    assert len(generations) == 3 * 8 + 1 and generations[-1]["probe_id"] == old["inventory"]
    assert all(g["probe_type"] is None and g["category"] for g in generations)
    assert len(ok(alice.get(f"/v1/characters/{slug}/inventory/generations"))["data"]["generations"]) == 20
    error(alice.get(f"/v1/characters/{slug}/inventory/generations?limit=0"), 422, "invalid_request")
