"""Image probes and inventory batches: one metered image generation each, on the job system.

A probe (or one inventory item) is a job of type ``character_image``; its id is the job id.
The report is a redacted projection of the job (no prompts, no payloads). On success the image
lands on the session's event log as ``image.ready`` (written in the job's completion
transaction) and, for inventory items, becomes a visual asset (active, or a candidate when held
for review).

The job itself (``character_image``) runs in ``likeness.characters.probe_job``.
"""

from __future__ import annotations

import base64
import heapq
import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from likeness.accounts.models import Caller, Scope
from likeness.accounts.service import AccountService
from likeness.aws.dynamodb import DynamoTable, Filter, Item
from likeness.aws.s3 import BlobStore
from likeness.engines.base import Operation
from likeness.engines.selection import require_engine
from likeness.errors import Conflict, Forbidden, InsufficientCredits, LikenessError, NotFound, Unprocessable
from likeness.jobs.models import JobState, job_key
from likeness.jobs.public import JobPresenter
from likeness.jobs.service import JobService, JobSubmission
from likeness.settings import Settings

if TYPE_CHECKING:
    from likeness.characters.assets import AssetService
    from likeness.characters.service import CharacterService
    from likeness.characters.sessions import SessionService

CHARACTER_IMAGE_JOB_TYPE = "character_image"
PROBE_INDEX_PREFIX = "CPROBE"
# the two lists of a character's jobs, each its own range of the account's job index (GSI1)
PROBES = "probe"
INVENTORY = "inventory"
# a list's page unless ``limit`` says otherwise (1-100)
LIST_LIMIT = 20
SCHEMA_VERSION = "v0"

PROBE_TYPES: dict[str, str] = {
    "identity_selfie": "selfie",
    "full_body_identity": "selfie",
    "wardrobe_variation": "selfie",
    "accessory_carry_forward": "selfie",
    "same_scene_followup": "scene",
    "prop_usage": "object",
    "forbidden_visual_check": "selfie",
}
CONTINUITY_DEPENDENT = frozenset({"accessory_carry_forward", "same_scene_followup"})
INVENTORY_CATEGORIES: dict[str, str] = {
    "wardrobe": "selfie",
    "accessory": "object",
    "prop": "object",
    "place": "scene",
    "scene": "scene",
}
MAX_BATCH = 8
STATES = {
    JobState.QUEUED: "queued",
    JobState.RUNNING: "generating",
    JobState.SUCCEEDED: "ready",
    JobState.FAILED: "failed",
    JobState.CANCELLED: "failed",
}


def envelope(data: Any, next_actions: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """The spec's response envelope, as JSON."""
    from likeness.characters.models import envelope as wrap

    return wrap(data, next_actions).model_dump(mode="json")


class ProbeReports:
    """The redacted report of a probe or inventory generation, from its job."""

    def __init__(self, *, presenter: JobPresenter) -> None:
        self._presenter = presenter

    def report(self, job: Item) -> dict[str, Any]:
        inputs = job["inputs"]
        state = JobState(job["state"])
        results = (job.get("outputs") or {}).get("results", [])
        url = None
        consistency = None
        if results:
            url, _ = self._presenter.file_url(results[0])
            consistency = (results[0].get("details") or {}).get("probe_consistency")
        error = job.get("error") or {}
        passed = consistency is not None and consistency.get("status") == "passed"
        near_copy = bool(consistency and consistency.get("near_copy"))
        succeeded = state is JobState.SUCCEEDED
        report: dict[str, Any] = {
            "probe_id": job["job_id"],
            "session_id": inputs["session_id"],
            "probe_type": inputs.get("probe_type"),
            "image_kind": inputs["image_kind"],
            "request_status": state.value,
            "state": STATES[state],
            "image_url": url,
            "servable": url is not None,
            "summary": self._summary(state, url is not None, passed, error.get("message"), near_copy),
            "assets_sent": list(inputs.get("assets_sent") or []),
            "consistency": consistency,
            "failure_reason": error.get("message")
            if state in (JobState.FAILED, JobState.CANCELLED)
            else None,
            # a near copy of the uploaded identity image shows nothing new: never promoted
            "promotion_eligible": succeeded and passed and not near_copy,
            "continuity_dependent": inputs.get("probe_type") in CONTINUITY_DEPENDENT,
            "created_at": job["created_at"],
            "completed_at": job.get("finished_at"),
        }
        if inputs.get("category"):
            report["category"] = inputs["category"]
        if results and (results[0].get("details") or {}).get("visual_checks"):
            report["visual_checks"] = results[0]["details"]["visual_checks"]
        return report

    @staticmethod
    def _summary(state: JobState, servable: bool, passed: bool, failure: str | None, near_copy: bool) -> str:
        if state is JobState.QUEUED:
            return "Queued: the image has not started generating."
        if state is JobState.RUNNING:
            return "Generating the image."
        if state is JobState.SUCCEEDED and passed and near_copy:
            return (
                "Image generated and on-identity, but it is a near copy of the uploaded identity image: "
                "not promotable."
            )
        if state is JobState.SUCCEEDED and passed:
            return "Image generated and eligible to promote into inventory."
        if state is JobState.SUCCEEDED:
            return "Image generated and viewable, but the consistency verdict did not pass: not promotable."
        if servable:
            return "An image exists but the request did not succeed: viewable, not promotable, not delivered."
        return f"No servable image: {failure or 'the generation failed'}."


class ProbeService:
    def __init__(
        self,
        *,
        jobs: JobService,
        table: DynamoTable,
        blobs: BlobStore,
        characters: CharacterService,
        sessions: SessionService,
        assets: AssetService,
        reports: ProbeReports,
        accounts: AccountService,
        settings: Settings,
    ) -> None:
        self._accounts = accounts
        self._jobs = jobs
        self._table = table
        self._blobs = blobs
        self._characters = characters
        self._sessions = sessions
        self._assets = assets
        self._reports = reports
        self._settings = settings

    # ------------------------------------------------------------------ preconditions
    def _preconditions(self, *, caller: Caller, slug: str, session_id: str, images: int) -> dict[str, Any]:
        """The spec's synchronous checks, in its order; returns what the generation will use."""
        if caller.demo:
            raise Forbidden(
                "image probes and inventory batches need a persistent developer key; demo sandbox keys "
                "cannot run metered generations",
                code="developer_key_required",
                fix="Use a developer API key (likeness-admin key-create ACCOUNT).",
            )
        self._jobs.require(caller, Scope.IDENTITIES_WRITE)
        _, version = self._characters.require_active(caller=caller, slug=slug)
        self._sessions.get_open(caller=caller, session_id=session_id, slug=slug)
        identities = self._assets.active_assets(account_id=caller.account_id, slug=slug, category="identity")
        if not identities:
            raise Conflict(
                "this character has no active identity asset yet",
                code="needs_identity",
                fix="Upload identity first: POST /v1/characters/{slug}/visual-assets (category=identity).",
            )
        anchors = (version.get("profile") or {}).get("identity_anchors")
        reachable = [a for a in identities if self._blobs.exists(a["key"])]
        if not isinstance(anchors, dict) or not anchors or not reachable:
            why = (
                "the identity image is not fetchable"
                if isinstance(anchors, dict) and anchors
                else "profile.identity_anchors is not a non-empty dict"
            )
            raise Conflict(
                f"the self visual reference cannot be seeded: {why}",
                code="needs_identity",
                fix="GET /v1/characters/{slug}/visual-readiness shows what is missing.",
            )
        cost = self._settings.character_image_credits * images
        balance = self._accounts.get_account(caller.account_id).credits
        if balance < cost:
            raise self._over_budget(cost, balance)
        # character images run on the deployment's default model: it must be there to run them
        require_engine(self._settings.default_image_model, Operation.PORTRAIT)
        return {"version": version, "identities": reachable, "anchors": anchors}

    @staticmethod
    def _over_budget(cost: int, balance: int) -> LikenessError:
        return InsufficientCredits(
            f"this needs {cost} credits (metered image generations) and the account has {balance}",
            code="budget_exceeded",
            fix="Add credits, or generate fewer images.",
            extra={"required": cost, "balance": balance},
        )

    # ------------------------------------------------------------------ probes
    def probe(
        self,
        *,
        caller: Caller,
        slug: str,
        probe_type: str,
        session_id: str,
        identity_check: str | None = None,
    ) -> dict[str, Any]:
        if probe_type not in PROBE_TYPES:
            raise Unprocessable(
                f"unknown probe_type {probe_type!r}; valid: {', '.join(PROBE_TYPES)}",
                code="invalid_probe_type",
                extra={"probe_types": list(PROBE_TYPES)},
            )
        context = self._preconditions(caller=caller, slug=slug, session_id=session_id, images=1)
        job = self._submit(
            caller=caller,
            slug=slug,
            session_id=session_id,
            context=context,
            probe_type=probe_type,
            identity_check=identity_check,
        )
        data = {
            "probe_id": job["job_id"],
            "session_id": session_id,
            "probe_type": probe_type,
            "image_kind": PROBE_TYPES[probe_type],
            "request_status": job["state"],
            "decision": "send_image",
            "deliverable": True,
        }
        return envelope(
            data,
            [
                (
                    f"GET /v1/characters/{slug}/image-probe/{job['job_id']}",
                    "Poll the probe result (image URL + assets sent + consistency)",
                ),
                (
                    f"GET /v1/sessions/{session_id}/events?since=0",
                    "Watch the session log for the image.ready event",
                ),
            ],
        )

    def get_probe(self, *, caller: Caller, slug: str, probe_id: str) -> dict[str, Any]:
        job = self._job(caller, slug, probe_id)
        return envelope(self._reports.report(job))

    def list_probes(self, *, caller: Caller, slug: str, limit: int = LIST_LIMIT) -> dict[str, Any]:
        jobs = self._listed(caller, slug, PROBES, limit)
        return envelope({"probe_types": list(PROBE_TYPES), "probes": [self._reports.report(j) for j in jobs]})

    # ------------------------------------------------------------------ inventory
    def generate_inventory(
        self,
        *,
        caller: Caller,
        slug: str,
        session_id: str,
        categories: Sequence[str],
        count_per_category: int,
        style_brief: str | None,
        forbidden: Sequence[str],
        hold_for_review: bool,
        identity_check: str | None = None,
    ) -> dict[str, Any]:
        unknown = [c for c in categories if c not in INVENTORY_CATEGORIES]
        if unknown:
            raise Unprocessable(
                f"unknown inventory categor{'y' if len(unknown) == 1 else 'ies'}: {', '.join(unknown)}; "
                f"valid: {', '.join(INVENTORY_CATEGORIES)}",
                code="invalid_category",
            )
        requested = len(categories) * count_per_category
        if requested > MAX_BATCH:
            raise Unprocessable(
                f"{requested} images requested; max {MAX_BATCH} per batch",
                code="batch_too_large",
                fix=f"Reduce categories × count_per_category to ≤ {MAX_BATCH}.",
            )
        context = self._preconditions(caller=caller, slug=slug, session_id=session_id, images=requested)
        batch = []
        for category in categories:
            for _ in range(count_per_category):
                entry: dict[str, Any] = {"category": category, "image_kind": INVENTORY_CATEGORIES[category]}
                try:
                    job = self._submit(
                        caller=caller,
                        slug=slug,
                        session_id=session_id,
                        context=context,
                        category=category,
                        hold_for_review=hold_for_review,
                        style_brief=style_brief,
                        forbidden=list(forbidden),
                        identity_check=identity_check,
                    )
                    entry.update(request_id=job["job_id"], request_status=job["state"], deliverable=True)
                except LikenessError as exc:
                    # one item that cannot be queued does not sink the batch
                    entry.update(request_id=None, error=exc.message, deliverable=False)
                batch.append(entry)
        data = {
            "requested": requested,
            "queued": sum(1 for e in batch if e["request_id"]),
            "hold_for_review": hold_for_review,
            "batch": batch,
        }
        return envelope(
            data,
            [
                (f"GET /v1/characters/{slug}/inventory/generations", "Poll the generation batch status"),
                (
                    f"GET /v1/characters/{slug}/visual-inventory",
                    "See the new typed inventory assets as they complete",
                ),
            ],
        )

    def inventory_generations(self, *, caller: Caller, slug: str, limit: int = LIST_LIMIT) -> dict[str, Any]:
        jobs = self._listed(caller, slug, INVENTORY, limit)
        return envelope(
            {
                "categories": sorted(INVENTORY_CATEGORIES),
                "generations": [self._reports.report(j) for j in jobs],
            }
        )

    # ------------------------------------------------------------------ helpers
    def _submit(
        self,
        *,
        caller: Caller,
        slug: str,
        session_id: str,
        context: dict[str, Any],
        probe_type: str | None = None,
        category: str | None = None,
        hold_for_review: bool = False,
        style_brief: str | None = None,
        forbidden: list[str] | None = None,
        identity_check: str | None = None,
    ) -> Item:
        account = caller.account_id
        engine = self._settings.default_image_model
        identity = context["identities"][0]
        parent = self._last_image(caller, slug, session_id) if probe_type in CONTINUITY_DEPENDENT else None
        wardrobe = self._assets.active_assets(account_id=account, slug=slug, category="wardrobe")
        inputs = {
            "slug": slug,
            "session_id": session_id,
            "probe_type": probe_type,
            "category": category,
            "image_kind": PROBE_TYPES[probe_type] if probe_type else INVENTORY_CATEGORIES[category or ""],
            "hold_for_review": hold_for_review,
            "style_brief": style_brief,
            "forbidden": forbidden or [],
            "version_id": context["version"].get("version_id"),
            "avoid_visual_changes": list((context["anchors"] or {}).get("avoid_visual_changes") or []),
            "identities": [
                {"asset_id": a["asset_id"], "key": a["key"], "embedding": _b64(a.get("embedding"))}
                for a in context["identities"]
            ],
            "wardrobe": [{"asset_id": a["asset_id"], "key": a["key"]} for a in wardrobe],
            "parent": parent,
            "assets_sent": [identity["asset_id"]] + ([parent["probe_id"]] if parent else []),
            # every probe has the character's identity to be judged against
            "identity_check": identity_check or "enforce",
            "anchors": {k: v for k, v in (context["anchors"] or {}).items() if isinstance(v, str | list)},
        }
        try:
            submitted = self._jobs.submit(
                caller=caller,
                submission=JobSubmission(
                    job_type=CHARACTER_IMAGE_JOB_TYPE,
                    inputs=inputs,
                    cost=self._settings.character_image_credits,
                    engine=engine,
                    index_prefix=f"{PROBE_INDEX_PREFIX}#{slug}#{PROBES if probe_type else INVENTORY}",
                ),
                respond=lambda job: {"job_id": job["job_id"], "state": job["state"]},
            )
        except InsufficientCredits as exc:
            raise self._over_budget(
                self._settings.character_image_credits, int(exc.extra.get("balance", 0))
            ) from exc
        job = self._table.get(*job_key(submitted.job_id))
        assert job is not None
        return job

    def _last_image(self, caller: Caller, slug: str, session_id: str) -> dict[str, Any] | None:
        """The session's latest generated image: what continuity probes follow."""
        pk = f"ACCOUNT#{caller.account_id}"
        ranges = [
            self._table.iter_query(pk, sk_prefix=_range(slug, kind), index="GSI1", forward=False)
            for kind in (PROBES, INVENTORY)
        ]
        newest = heapq.merge(*ranges, key=lambda j: (j["created_at"], j["job_id"]), reverse=True)
        older = self._table.iter_query(pk, sk_prefix=_legacy_range(slug), index="GSI1", forward=False)
        for job in itertools.chain(newest, older):
            results = (job.get("outputs") or {}).get("results") or []
            if job["inputs"]["session_id"] != session_id or job["state"] != JobState.SUCCEEDED.value:
                continue
            details = (results[0].get("details") or {}) if results else {}
            failed = (details.get("probe_consistency") or {}).get("status") == "failed"
            if details.get("shows_person", True) and not failed and results[0]["kind"] == "image":
                return {"probe_id": job["job_id"], "key": results[0]["key"]}
        return None

    def _listed(self, caller: Caller, slug: str, kind: str, limit: int) -> list[Item]:
        """The character's newest ``limit`` probes or inventory generations; only those are read:
        the kind's own range of the account's job index, then, while the page is short, the range
        both kinds shared before they had their own (all older), filtered to the kind."""
        self._jobs.require(caller, Scope.IDENTITIES_READ)
        self._characters.require_active(caller=caller, slug=slug)
        pk = f"ACCOUNT#{caller.account_id}"
        jobs = self._table.query(pk, sk_prefix=_range(slug, kind), index="GSI1", forward=False, limit=limit)
        if len(jobs) < limit:
            marker = "probe_type" if kind == PROBES else "category"
            jobs += self._table.query(
                pk,
                sk_prefix=_legacy_range(slug),
                index="GSI1",
                forward=False,
                limit=limit - len(jobs),
                where=Filter("attribute_exists(#inputs.#kind)", {"#inputs": "inputs", "#kind": marker}),
            )
        return jobs

    def _job(self, caller: Caller, slug: str, probe_id: str) -> Item:
        self._jobs.require(caller, Scope.IDENTITIES_READ)
        job = self._table.get(*job_key(probe_id))
        if (
            job is None
            or job["account_id"] != caller.account_id
            or job["job_type"] != CHARACTER_IMAGE_JOB_TYPE
            or job["inputs"].get("slug") != slug
        ):
            raise NotFound(f"probe {probe_id} not found", code="probe_not_found")
        return job


def _range(slug: str, kind: str) -> str:
    """Where a character's probes (or inventory generations) sort in the account's job index:
    ``CPROBE#<slug>#<kind>#<created_at>#<job_id>``."""
    return f"{PROBE_INDEX_PREFIX}#{slug}#{kind}#"


def _legacy_range(slug: str) -> str:
    """Jobs from before the two kinds had ranges: ``CPROBE#<slug>#<created_at>#<job_id>``, the
    time being an ISO year 2xxx (the kinds' ranges start with a letter)."""
    return f"{PROBE_INDEX_PREFIX}#{slug}#2"


def _b64(value: Any) -> str | None:
    if value is None:
        return None
    return base64.b64encode(bytes(value)).decode()
