"""Identity drafts: POST /identity/create runs an ``identity_creation`` job whose image results
are drafts; POST /identity/promote-generated turns one into an identity (IdentityService).

Drafts cost credits (identity_draft_credits each) and no identity slot. The classical engine
makes them by blending faces: the optional reference image, the identities named in
``identity_codes`` and, to reach at least two faces, library faces; each draft has its own
blend weights. Structured instructions the engine can apply (style, background, framing,
aspect_ratio) steer the output; the others are recorded on each draft as not applied.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from likeness.accounts.models import Caller, Scope
from likeness.avatars.generation import engine_params
from likeness.avatars.models import AvatarOutput
from likeness.aws.dynamodb import Item
from likeness.engines.base import EngineError, EngineImage, EngineRequest, Operation
from likeness.engines.selection import require_engine
from likeness.identities.service import DRAFT_JOB_TYPE, IdentityService
from likeness.inline_images import decode_inline_image
from likeness.jobs.generation import EngineExecutor, generate_and_judge
from likeness.jobs.idempotency import request_fingerprint
from likeness.jobs.models import epoch_of
from likeness.jobs.runner import ProducedResult
from likeness.jobs.service import InputBlob, JobService, JobSubmission, Submitted
from likeness.settings import Settings

if TYPE_CHECKING:
    pass

MAX_DRAFTS = 8
APPLICABLE_ATTRIBUTES = ("style", "background", "framing", "aspect_ratio")


class DraftInstruction(BaseModel):
    """One structured instruction, e.g. {"attribute": "background", "value": "#20304a"}."""

    model_config = ConfigDict(extra="forbid")

    attribute: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
    value: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class IdentityDraftsCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)] | None = (
        None
    )
    instructions: list[DraftInstruction] | None = Field(default=None, min_length=1, max_length=50)
    num_drafts: int = Field(default=4, ge=1, le=MAX_DRAFTS)
    reference_image: str | None = Field(default=None, description="data URL or raw base64 (JPEG/PNG/WebP)")
    identity_codes: list[str] | None = Field(default=None, min_length=1, max_length=5)
    output: AvatarOutput = Field(default_factory=AvatarOutput)
    engine: str = "classical"
    client_reference_id: Annotated[str, StringConstraints(max_length=200)] | None = None

    @model_validator(mode="after")
    def _brief_given(self) -> IdentityDraftsCreate:
        if self.prompt is None and not self.instructions:
            raise ValueError("send a prompt or a list of instructions (or both)")
        return self


class DraftPublic(BaseModel):
    image_result_id: str
    image_url: str
    width: int
    height: int
    content_type: str
    consistency: dict[str, Any] | None
    details: dict[str, Any]


class DraftBatch(BaseModel):
    job_id: str
    type: str = DRAFT_JOB_TYPE
    status: str
    num_drafts: int
    cost: int
    created: int | None
    completed: int | None
    error: dict[str, Any] | None
    drafts: list[DraftPublic]


class DraftService:
    def __init__(self, *, jobs: JobService, identities: IdentityService, settings: Settings) -> None:
        self._jobs = jobs
        self._identities = identities
        self._settings = settings

    def create_drafts(
        self,
        *,
        caller: Caller,
        request: IdentityDraftsCreate,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> Submitted:
        self._jobs.require(caller, Scope.IDENTITIES_WRITE)
        reference = None
        if request.reference_image is not None:
            reference = decode_inline_image(
                request.reference_image,
                label="reference_image",
                max_bytes=self._settings.max_reference_image_bytes,
                max_pixels=self._settings.max_image_pixels,
            )
        sources = {
            code: self._identities.usable_source(caller=caller, identity_code=code)
            for code in dict.fromkeys(request.identity_codes or [])
        }
        require_engine(request.engine, Operation.NEW_FACE, faces=len(sources) + (reference is not None))
        cost = self._settings.identity_draft_credits * request.num_drafts
        fingerprint = None
        if idempotency_key is not None:
            fingerprint = request_fingerprint("POST /identity/create", request.model_dump(mode="json"))
        submission = JobSubmission(
            job_type=DRAFT_JOB_TYPE,
            engine=request.engine,
            cost=cost,
            inputs={
                "prompt": request.prompt,
                "instructions": [i.model_dump() for i in request.instructions or []],
                "num_drafts": request.num_drafts,
                "identity_sources": sources,
                "output": request.output.model_dump(mode="json", exclude_unset=True),
            },
            input_blobs=[
                InputBlob(
                    name=f"reference.{reference.extension}",
                    data=reference.data,
                    content_type=reference.content_type,
                )
            ]
            if reference
            else [],
            client_reference=request.client_reference_id,
        )

        def accepted(job: Item) -> dict[str, Any]:
            return {
                "job_id": job["job_id"],
                "object": "job",
                "type": DRAFT_JOB_TYPE,
                "status": "queued",
                "num_drafts": request.num_drafts,
                "cost": cost,
                "created": epoch_of(job["created_at"]),
                "status_url": f"/identity/create/{job['job_id']}",
            }

        return self._jobs.submit(
            caller=caller,
            submission=submission,
            respond=accepted,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            correlation_id=correlation_id,
        )

    def get_drafts(self, *, caller: Caller, job_id: str) -> DraftBatch:
        job = self._jobs.get_job(caller=caller, job_id=job_id, job_type=DRAFT_JOB_TYPE)
        shown = self._jobs.presenter.present(job)
        drafts = [
            DraftPublic(
                image_result_id=d["image_result_id"],
                image_url=d["image_url"],
                width=d["width"],
                height=d["height"],
                content_type=d["content_type"],
                consistency=d.get("consistency"),
                details=d.get("details") or {},
            )
            for d in (shown["data"] or {}).get("drafts", [])
        ]
        return DraftBatch(
            job_id=job_id,
            status=shown["status"],
            num_drafts=int(job["inputs"]["num_drafts"]),
            cost=shown["cost"],
            created=shown["created"],
            completed=shown["completed"],
            error=shown["error"],
            drafts=drafts,
        )


class DraftGenerator(EngineExecutor):
    """The identity_creation job's executor."""

    def execute(self, job: Item) -> list[ProducedResult]:
        inputs = job["inputs"]
        seed = hashlib.sha256(job["job_id"].encode()).hexdigest()[:16]
        faces: list[EngineImage] = [
            EngineImage(data=self._blobs.get(key), label="the reference image")
            for key in (inputs.get("input_keys") or {}).values()
        ]
        sources: dict[str, str] = inputs.get("identity_sources") or {}
        faces += [
            EngineImage(data=self._blobs.get(key), label=f"identity {code}") for code, key in sources.items()
        ]
        if len(faces) < 2:
            picks = self._library.pick(seed=seed, count=2 - len(faces), exclude=frozenset(sources))
            if len(faces) + len(picks) < 2:
                raise EngineError(
                    "drafts blend at least 2 faces; this request gives "
                    f"{len(faces)} and the library has {len(picks)} more. Send a reference_image or "
                    "identity_codes, or add default identities (likeness-admin default-identity-add)",
                    code="library_too_small",
                    missing="faces to blend",
                )
            faces += [
                EngineImage(data=self._blobs.get(p.source_key), label=f"library identity {p.identity_code}")
                for p in picks
            ]

        hints: dict[str, Any] = {}
        unapplied: list[dict[str, str]] = []
        for instruction in inputs.get("instructions") or []:
            if instruction["attribute"] in APPLICABLE_ATTRIBUTES:
                hints[instruction["attribute"]] = instruction["value"]
            else:
                unapplied.append(instruction)
        params = engine_params(hints=hints, output=inputs.get("output") or {}, seed=seed)
        params["count"] = int(inputs["num_drafts"])
        produced = generate_and_judge(
            engine=self._engine_for(job["engine"]),
            request=EngineRequest(operation=Operation.NEW_FACE, face_images=tuple(faces), params=params),
            judge=self._judge(),
            mode="new_person",
        )
        made = {"sources": [f.label for f in faces], "unapplied_instructions": unapplied}
        return [dataclasses.replace(r, details={**r.details, **made}) for r in produced]
