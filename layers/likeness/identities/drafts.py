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
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from likeness.accounts.models import Caller, Scope
from likeness.avatars.generation import engine_params
from likeness.avatars.models import AvatarOutput
from likeness.aws.dynamodb import Item
from likeness.engines.base import EngineError, EngineImage, EngineRequest, Operation
from likeness.engines.prompts import draft_prompt
from likeness.engines.selection import require_engine
from likeness.errors import Unprocessable
from likeness.identities.service import DRAFT_JOB_TYPE, IdentityService
from likeness.inline_images import InlineImage
from likeness.jobs.generation import EngineExecutor, generate_verified
from likeness.jobs.idempotency import request_fingerprint
from likeness.jobs.models import epoch_of
from likeness.jobs.runner import ProducedResult
from likeness.jobs.service import InputBlob, JobService, JobSubmission, Submitted
from likeness.library import ReferenceLibrary
from likeness.settings import Settings
from likeness.uploads.service import UploadRef, UploadService, claimed_or_none, image_input, upload_fields

if TYPE_CHECKING:
    pass

MAX_DRAFTS = 8
MIN_BLEND_FACES = 2  # the classical engine's new faces are blends of at least two
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
    reference_image: str | UploadRef | None = Field(
        default=None,
        description='data URL or raw base64 (JPEG/PNG/WebP), or {"upload_id"} from POST /uploads',
    )
    identity_codes: list[str] | None = Field(default=None, min_length=1, max_length=5)
    output: AvatarOutput = Field(default_factory=AvatarOutput)
    # the engine or hosted model; none: the deployment's default model
    engine: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    # off | report (the default: drafts are new people, judged against their references) | enforce
    identity_check: Literal["off", "report", "enforce"] | None = None
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
    def __init__(
        self,
        *,
        jobs: JobService,
        identities: IdentityService,
        settings: Settings,
        library: ReferenceLibrary | None = None,
        uploads: UploadService | None = None,
    ) -> None:
        self._jobs = jobs
        self._identities = identities
        self._settings = settings
        self._library = library
        self._uploads = uploads

    def create_drafts(
        self,
        *,
        caller: Caller,
        request: IdentityDraftsCreate,
        idempotency_key: str | None = None,
        correlation_id: str | None = None,
    ) -> Submitted:
        self._jobs.require(caller, Scope.IDENTITIES_WRITE)
        named = upload_fields({"reference_image": request.reference_image})
        if named and idempotency_key is not None:
            # a retry of a request that went through: its upload is used, its answer stored
            replay = self._jobs.replayed(
                caller=caller, idempotency_key=idempotency_key, fingerprint=self._fingerprint(request)
            )
            if replay is not None:
                return replay
        # an {"upload_id"} reference is claimed for the request: used once it is accepted
        with claimed_or_none(self._uploads, caller=caller, named=named) as uploaded:
            reference = None
            if request.reference_image is not None:
                reference = image_input(
                    request.reference_image,
                    label="reference_image",
                    uploaded=uploaded,
                    max_bytes=self._settings.max_reference_image_bytes,
                    max_pixels=self._settings.max_image_pixels,
                )
            return self._submit(
                caller=caller,
                request=request,
                reference=reference,
                idempotency_key=idempotency_key,
                correlation_id=correlation_id,
            )

    @staticmethod
    def _fingerprint(request: IdentityDraftsCreate) -> str:
        return request_fingerprint("POST /identity/create", request.model_dump(mode="json"))

    def _submit(
        self,
        *,
        caller: Caller,
        request: IdentityDraftsCreate,
        reference: InlineImage | None,
        idempotency_key: str | None,
        correlation_id: str | None,
    ) -> Submitted:
        sources = {
            code: self._identities.usable_source(caller=caller, identity_code=code)
            for code in dict.fromkeys(request.identity_codes or [])
        }
        slug = request.engine or self._settings.default_image_model
        faces = len(sources) + (reference is not None)
        capabilities = require_engine(slug, Operation.NEW_FACE, faces=faces)
        if capabilities.follows_prompt:
            # a brief alone is a text-to-image draft; references steer it
            require_engine(slug, Operation.NEW_FACE if faces else Operation.GENERATE, faces=faces)
        elif faces < MIN_BLEND_FACES:
            library = len(self._library.faces()) if self._library else 0
            if faces + library < MIN_BLEND_FACES:
                raise Unprocessable(
                    f"drafts on {slug} blend at least {MIN_BLEND_FACES} faces; this request gives {faces} "
                    f"and the library has {library} more",
                    code="library_too_small",
                    fix="Send a reference_image or identity_codes, use a prompt-following engine "
                    "(GET /api/v1/engines), or add default identities (likeness-admin default-identity-add).",
                )
        cost = self._settings.identity_draft_credits * request.num_drafts
        fingerprint = self._fingerprint(request) if idempotency_key is not None else None
        submission = JobSubmission(
            job_type=DRAFT_JOB_TYPE,
            engine=slug,
            cost=cost,
            inputs={
                "prompt": request.prompt,
                "instructions": [i.model_dump() for i in request.instructions or []],
                "num_drafts": request.num_drafts,
                "identity_sources": sources,
                "output": request.output.model_dump(mode="json", exclude_unset=True),
                "identity_check": request.identity_check or "report",
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
    """The identity_creation job's executor.

    A prompt-following engine drafts new people from the brief (``draft_prompt``), the
    reference image and named identities steering the look; the classical engine blends faces:
    the references, topped up with library faces to reach two."""

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
        engine = self._engine_for(job["engine"])
        instructions = list(inputs.get("instructions") or [])
        if engine.capabilities.follows_prompt:
            return self._prompted(job, engine, faces, instructions, seed)
        if len(faces) < MIN_BLEND_FACES:
            picks = self._library.pick(
                seed=seed, count=MIN_BLEND_FACES - len(faces), exclude=frozenset(sources)
            )
            if len(faces) + len(picks) < MIN_BLEND_FACES:
                raise EngineError(
                    f"drafts blend at least {MIN_BLEND_FACES} faces; this request gives "
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
        for instruction in instructions:
            if instruction["attribute"] in APPLICABLE_ATTRIBUTES:
                hints[instruction["attribute"]] = instruction["value"]
            else:
                unapplied.append(instruction)
        params = engine_params(hints=hints, output=inputs.get("output") or {}, seed=seed)
        params["count"] = int(inputs["num_drafts"])
        produced = generate_verified(
            session=self.session(job),
            engine=engine,
            request=EngineRequest(
                operation=Operation.NEW_FACE,
                face_images=tuple(faces),
                count=int(inputs["num_drafts"]),
                deadline=self.deadline(job),
                params=params,
            ),
            judge=self._judge,
            verification=self.verification(job, mode="new_person"),
        )
        made = {"sources": [f.label for f in faces], "unapplied_instructions": unapplied}
        return [dataclasses.replace(r, details={**r.details, **made}) for r in produced]

    def _prompted(
        self,
        job: Item,
        engine: Any,
        faces: list[EngineImage],
        instructions: list[dict[str, str]],
        seed: str,
    ) -> list[ProducedResult]:
        inputs = job["inputs"]
        output = inputs.get("output") or {}
        count = int(inputs["num_drafts"])
        request = EngineRequest(
            operation=Operation.NEW_FACE if faces else Operation.GENERATE,
            prompt=draft_prompt(
                prompt=inputs.get("prompt"), instructions=instructions, has_references=bool(faces)
            ),
            style_images=tuple(faces),
            aspect_ratio=output.get("aspect_ratio") or "1:1",
            count=count,
            seed=seed,
            deadline=self.deadline(job),
        )
        produced = generate_verified(
            session=self.session(job),
            engine=engine,
            request=request,
            judge=self._judge,
            verification=self.verification(job, mode="new_person", references=tuple(faces) or None),
        )
        made = {"sources": [f.label for f in faces], "unapplied_instructions": []}
        return [dataclasses.replace(r, details={**r.details, **made}) for r in produced]
