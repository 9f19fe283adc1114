"""Generations: accept a request (checked against the model catalog and priced before anything
is charged), and show generations and results in the wardrobe spec's shape."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from likeness.accounts.models import Caller, Scope
from likeness.aws.dynamodb import DynamoTable, Item, TransactItem
from likeness.errors import Conflict, NotFound, Unprocessable
from likeness.inline_images import CONTENT_TYPES, sniff_format
from likeness.jobs.models import JobState, job_key, result_key
from likeness.jobs.public import JobPresenter
from likeness.jobs.service import InputBlob, JobService, JobSubmission
from likeness.settings import Settings
from likeness.wardrobe import catalog
from likeness.wardrobe.generation_list import generation_list_filters, generation_page
from likeness.wardrobe.ids import IdAllocator
from likeness.wardrobe.models import (
    STATUS_WORDS,
    GenerationCreate,
    GenerationPublic,
    GenerationResultPublic,
)
from likeness.wardrobe.pages import Page, page_from, page_offset
from likeness.wardrobe.store import (
    GENERATION_INDEX_PREFIX,
    GENERATION_JOB_TYPE,
    GenerationStore,
    StoredResult,
    clothing_links,
    generation_key,
    generation_result_key,
)

SORTS = ("created_at:desc", "created_at:asc", "updated_at:desc", "updated_at:asc")
# the most ids a result-list filter takes (the clothing filter is a DynamoDB IN: 100 at most)
MAX_FILTER_IDS = 100


@dataclass(frozen=True)
class Garments:
    """What a generate request needs from the clothing items and the avatar (their bytes)."""

    images: Callable[[str, int], tuple[bytes, bytes | None]]  # (account, clothing item) -> front, back
    avatar: Callable[[str, int], bytes]  # (account, avatar) -> image


@dataclass(frozen=True)
class FetchedSource:
    data: bytes
    content_type: str


def _extension(content_type: str) -> str:
    return {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "video/mp4": "mp4"}.get(
        content_type, "bin"
    )


def _blob(stem: str, source: FetchedSource | StoredResult) -> InputBlob:
    """A fetched or stored image as a job input named ``<stem>.<ext>``."""
    return InputBlob(
        name=f"{stem}.{_extension(source.content_type)}", data=source.data, content_type=source.content_type
    )


class GenerationView:
    """Jobs of type wardrobe_generation, as the spec shows them (and as their webhooks carry them)."""

    def __init__(self, *, presenter: JobPresenter) -> None:
        self._presenter = presenter

    def result(self, job: Item, summary: dict[str, Any]) -> GenerationResultPublic:
        inputs = job["inputs"]
        url, _ = self._presenter.file_url(summary)
        ids = inputs["clothing_item_ids"]
        return GenerationResultPublic(
            generation_result_id=int(inputs["result_ids"][summary["index"]]),
            generation_id=int(inputs["generation_id"]),
            url=url,
            kind="Video" if summary["kind"] == "video" else "Image",
            created_at=summary["created_at"],
            updated_at=summary["created_at"],
            clothing_item_id=ids[0] if ids else None,
            available=url is not None,
            width=summary["width"],
            height=summary["height"],
            content_type=summary["content_type"],
            consistency=summary.get("consistency"),
        )

    def generation(self, job: Item) -> GenerationPublic:
        inputs = job["inputs"]
        ids = [int(i) for i in inputs["clothing_item_ids"]]
        state = JobState(job["state"])
        results = [self.result(job, r) for r in (job.get("outputs") or {}).get("results", [])]
        error = job.get("error")
        return GenerationPublic(
            generation_id=int(inputs["generation_id"]),
            clothing_item_id=ids[0] if ids else None,
            clothing_item_ids=ids,
            num_images=int(inputs["num_images"]),
            payload=json.dumps(inputs["payload"], separators=(",", ":")),
            status=STATUS_WORDS[state],
            feature_name=f"model:{inputs['model_slug']}",
            created_at=job["created_at"],
            updated_at=job.get("finished_at") or job.get("started_at") or job["created_at"],
            avatar_id=inputs.get("avatar_id"),
            batch_id=inputs.get("batch_id"),
            external_id=job["job_id"],
            cost=int(job.get("cost") or 0),
            error_message=error.get("message") if error else None,
            generation_results=results,
        )

    def event_data(self, job: Item) -> dict[str, Any]:
        """Webhook payloads carry the generation, with its files in ``results``."""
        shown = self.generation(job).model_dump(mode="json")
        shown["results"] = shown["generation_results"]
        return shown


def _updated_at(job: Item) -> tuple[str, str]:
    return (job.get("finished_at") or job.get("started_at") or job["created_at"], job["job_id"])


class GenerationService:
    def __init__(
        self,
        *,
        jobs: JobService,
        table: DynamoTable,
        store: GenerationStore,
        ids: IdAllocator,
        view: GenerationView,
        garments: Garments,
        fetch: Callable[[str, str], FetchedSource],
        check_url: Callable[[str], None],
        settings: Settings,
        webhook_secret: Callable[[str, str | None], dict[str, Any]],
    ) -> None:
        self._jobs = jobs
        self._table = table
        self._store = store
        self._ids = ids
        self._view = view
        self._garments = garments
        self._fetch = fetch
        self._check_url = check_url
        self._settings = settings
        # (account, the request's webhook_secret) -> what the job keeps of it: the secret sealed,
        # or nothing once the account's own signing secret exists (webhooks/secrets.py)
        self._webhook_secret = webhook_secret

    # ------------------------------------------------------------------ create
    def create(
        self, *, caller: Caller, request: GenerationCreate, correlation_id: str | None = None
    ) -> GenerationPublic:
        self._jobs.require(caller, Scope.IDENTITIES_WRITE)
        entry = self._model(request)
        settings = self._check_against(entry, request)
        account = caller.account_id
        identity_check = request.identity_check or (
            "enforce" if request.use_case == "generate" and request.avatar_id is not None else "report"
        )

        blobs: list[InputBlob] = []
        for item_id in request.clothing_item_ids_all:
            front, back = self._garments.images(account, item_id)
            blobs.append(InputBlob(name=f"garment_{item_id}_front.png", data=front, content_type="image/png"))
            if back is not None:
                blobs.append(
                    InputBlob(name=f"garment_{item_id}_back.png", data=back, content_type="image/png")
                )
        if request.avatar_id is not None:
            avatar = self._garments.avatar(account, request.avatar_id)
            blobs.append(
                InputBlob(
                    name="avatar.img",
                    data=avatar,
                    content_type=CONTENT_TYPES.get(sniff_format(avatar) or "", "image/jpeg"),
                )
            )
        if request.generation_result_parent_id is not None:
            stored = self._store.result_file(
                account_id=account, generation_result_id=request.generation_result_parent_id
            )
            if stored is None:
                raise NotFound(
                    f"generation result {request.generation_result_parent_id} not found "
                    "(or no longer available)",
                    code="generation_result_not_found",
                )
            blobs.append(_blob("source", stored))
        elif request.image_url is not None:
            blobs.append(_blob("source", self._fetch(request.image_url, "image_url")))
        if request.use_case == "upscale":
            self._check_upscaled_size(entry, request, next(b for b in blobs if b.name.startswith("source.")))
        # the caller's references and a video's last frame are fetched now: a bad URL is a 4xx
        for index, url in enumerate(request.img_ref_urls):
            blobs.append(_blob(f"ref_{index}", self._fetch(url, f"img_ref_urls[{index}]")))
        if request.last_frame_url is not None:
            blobs.append(_blob("last_frame", self._fetch(request.last_frame_url, "last_frame_url")))
        webhook = None
        if request.webhook_url is not None:
            self._check_url(request.webhook_url)
            webhook = {
                "url": request.webhook_url,
                **self._webhook_secret(account, request.webhook_secret),
                # the spec's request-level webhooks are terminal callbacks
                "events": list(request.webhook_events or ["generation.completed", "generation.failed"]),
            }

        cost = catalog.price(
            entry.slug,
            use_case=request.use_case,
            num_images=request.num_images,
            resolution=settings["resolution"],
            upscale_factor=request.upscale_factor,
            duration=request.duration or 0,
            audio=request.generate_audio,
        )
        generation_id = self._ids.allocate("generation")
        first_result = self._ids.allocate("generation_result", request.num_images)
        inputs = {
            "generation_id": generation_id,
            "result_ids": list(range(first_result, first_result + request.num_images)),
            "use_case": request.use_case,
            "model_slug": entry.slug,
            "clothing_item_ids": request.clothing_item_ids_all,
            "avatar_id": request.avatar_id,
            "batch_id": request.batch_id,
            "num_images": request.num_images,
            "prompt": request.prompt,
            "parent_result_id": request.generation_result_parent_id,
            "payload": self._payload(request, entry, settings),
            "identity_check": identity_check,
            "enhance_user_prompt": request.enhance_user_prompt and entry.slug != "classical",
            "generate_audio": request.generate_audio,
            "target_resolution": request.target_resolution,
            **settings,
        }

        def rows(job: Item) -> Sequence[TransactItem]:
            pk, sk = generation_key(generation_id)
            return [
                TransactItem(
                    kind="Put",
                    item={
                        "PK": pk,
                        "SK": sk,
                        "GSI1PK": f"ACCOUNT#{account}",
                        "GSI1SK": f"WGEN#{job['created_at']}#{generation_id:012d}",
                        "type": "wardrobe_generation",
                        "generation_id": generation_id,
                        "job_id": job["job_id"],
                        "account_id": account,
                        "clothing_item_ids": request.clothing_item_ids_all,
                        "avatar_id": request.avatar_id,
                        "batch_id": request.batch_id,
                        "model_slug": entry.slug,
                        "created_at": job["created_at"],
                    },
                    condition="attribute_not_exists(PK)",
                ),
                *clothing_links(
                    account_id=account,
                    generation_id=generation_id,
                    job_id=job["job_id"],
                    clothing_item_ids=request.clothing_item_ids_all,
                ),
            ]

        submitted = self._jobs.submit(
            caller=caller,
            submission=JobSubmission(
                job_type=GENERATION_JOB_TYPE,
                inputs=inputs,
                cost=cost,
                engine=entry.engine,
                input_blobs=blobs,
                webhook=webhook,
                index_prefix=GENERATION_INDEX_PREFIX,
                list_filters=generation_list_filters(model_slug=entry.slug, batch_id=request.batch_id),
            ),
            respond=lambda job: self._view.generation(job).model_dump(mode="json"),
            status_code=200,
            correlation_id=correlation_id,
            extra_writes=rows,
        )
        return GenerationPublic.model_validate(submitted.body)

    def _check_upscaled_size(
        self, entry: catalog.ModelEntry, request: GenerationCreate, source: InputBlob
    ) -> None:
        """An upscale whose output would pass the model's largest side is refused before charging."""
        import io

        from PIL import Image

        try:
            with Image.open(io.BytesIO(source.data)) as im:
                width, height = im.size
        except Exception as exc:
            raise Unprocessable("the source image could not be read", code="invalid_source_image") from exc
        side = max(width, height) * request.upscale_factor
        if request.target_resolution is None and side > entry.max_output_side:
            raise Unprocessable(
                f"a {request.upscale_factor}x upscale of this {width}x{height} image is {side} px on its "
                f"long side; {entry.slug} makes at most {entry.max_output_side} px",
                code="output_too_large",
                fix="Upscale by a smaller factor, or a smaller source image.",
            )

    def _model(self, request: GenerationCreate) -> catalog.ModelEntry:
        slug = request.model_slug or self._settings.default_image_model
        entry = catalog.model(slug)
        if entry is None:
            raise Unprocessable(
                f"there is no model {slug!r}", code="unknown_model", fix="GET /models lists them."
            )
        if not entry.available:
            raise Unprocessable(
                entry.unavailable_reason or "unavailable",
                code="model_unavailable",
                fix="GET /models lists what is available here.",
            )
        if request.use_case not in entry.use_cases:
            raise Unprocessable(
                f"model {slug!r} does not do {request.use_case}", code="use_case_not_supported"
            )
        return entry

    @staticmethod
    def _check_against(entry: catalog.ModelEntry, request: GenerationCreate) -> dict[str, Any]:
        """Refuse what the model cannot do, before anything is charged; returns the settings used."""

        def refuse(what: str, allowed: Sequence[Any]) -> Unprocessable:
            return Unprocessable(
                f"model {entry.slug!r} does not support {what}; "
                f"it supports: {', '.join(str(a) for a in allowed) or 'none'}",
                code="not_supported_by_model",
            )

        video = request.use_case == "video"
        resolution = request.resolution or ("720p" if video else "2K")
        if entry.resolutions and resolution not in entry.resolutions:
            raise refuse(f"resolution {resolution}", entry.resolutions)
        aspect = request.aspect_ratio or "auto"
        if entry.aspect_ratios and aspect not in entry.aspect_ratios:
            raise refuse(f"aspect_ratio {aspect}", entry.aspect_ratios)
        if len(request.img_ref_urls) > entry.max_reference_images:
            raise refuse(
                f"{len(request.img_ref_urls)} reference images", [f"at most {entry.max_reference_images}"]
            )
        limit = entry.max_outputs.get(request.use_case, 5)
        if request.num_images > limit:
            raise refuse(f"num_images {request.num_images} for {request.use_case}", [f"at most {limit}"])
        if video:
            if request.duration not in entry.durations:
                raise refuse(f"duration {request.duration}", entry.durations)
            if request.generate_audio and not entry.audio:
                raise refuse("generate_audio", [])
            if request.last_frame_url and not entry.last_frame:
                raise refuse("last_frame_url", [])
        if request.use_case == "upscale":
            if request.upscale_factor not in entry.upscale_factors:
                raise refuse(f"upscale_factor {request.upscale_factor}", entry.upscale_factors)
            if (
                request.target_resolution is not None
                and request.target_resolution not in entry.target_resolutions
            ):
                raise refuse(f"target_resolution {request.target_resolution}", entry.target_resolutions)
        if request.camera not in catalog.CAMERAS:
            raise Unprocessable(
                f"camera {request.camera!r} is not supported; "
                f"GET /cameras lists: {', '.join(catalog.CAMERAS)}",
                code="unknown_camera",
            )
        if request.use_case == "generate" and entry.cameras and request.camera not in entry.cameras:
            raise refuse(f"camera {request.camera}", entry.cameras)
        return {
            "camera": request.camera,
            "aspect_ratio": aspect,
            "resolution": resolution,
            "upscale_factor": request.upscale_factor,
            "duration": request.duration,
        }

    @staticmethod
    def _payload(
        request: GenerationCreate, entry: catalog.ModelEntry, settings: dict[str, Any]
    ) -> dict[str, Any]:
        """What the generation was asked for, as the spec's ``payload`` string shows it."""
        payload: dict[str, Any] = {
            "prompt": request.prompt,
            "model_slug": entry.slug,
            "use_case": request.use_case,
            **settings,
        }
        if request.image_url:
            payload["image_url"] = request.image_url
        if request.generation_result_parent_id is not None:
            payload["generation_result_parent_id"] = request.generation_result_parent_id
        if request.feature_setting:
            payload["feature_setting"] = request.feature_setting
        if request.identity_check:
            payload["identity_check"] = request.identity_check
        if entry.provider is None:
            # the classical engine follows no prompt: there is nothing to enhance
            payload["enhance_user_prompt"] = False
        else:
            payload["enhance_user_prompt"] = request.enhance_user_prompt
            if request.enhance_user_prompt and request.use_case in ("generate", "edit"):
                payload["prompt_enhancements"] = (
                    ["camera guidance", "composition and lighting", "garment fidelity"]
                    if request.use_case == "generate"
                    else ["photorealism and consistent lighting"]
                )
        return {k: v for k, v in payload.items() if v is not None}

    # ------------------------------------------------------------------ reads
    def get(self, *, caller: Caller, generation_id: int) -> GenerationPublic:
        return self._view.generation(self._job_of(caller, generation_id))

    def _job_of(self, caller: Caller, generation_id: int) -> Item:
        self._jobs.require(caller, Scope.IDENTITIES_READ)
        row = self._table.get(*generation_key(generation_id))
        if row is None or row["account_id"] != caller.account_id:
            raise NotFound(f"generation {generation_id} not found", code="generation_not_found")
        job = self._table.get(*job_key(row["job_id"]))
        if job is None:
            raise NotFound(f"generation {generation_id} not found", code="generation_not_found")
        return job

    def list_generations(
        self,
        *,
        caller: Caller,
        page: int,
        items_per_page: int,
        status: str | None = None,
        feature_name: str | None = None,
        external_id: str | None = None,
        batch_id: int | None = None,
        sort: str = "created_at:desc",
    ) -> Page[GenerationPublic]:
        self._jobs.require(caller, Scope.IDENTITIES_READ)
        if sort not in SORTS:
            raise Unprocessable(f"sort must be one of {', '.join(SORTS)}", code="invalid_sort")
        field, direction = sort.split(":")
        return generation_page(
            self._table,
            account_id=caller.account_id,
            page=page,
            items_per_page=items_per_page,
            present=self._view.generation,
            status=status,
            feature_name=feature_name,
            external_id=external_id,
            batch_id=batch_id,
            sort_field=field,
            newest_first=direction == "desc",
        )

    def results(
        self,
        *,
        caller: Caller,
        page: int,
        items_per_page: int,
        generation_ids: Sequence[int] = (),
        clothing_item_ids: Sequence[int] = (),
    ) -> Page[GenerationResultPublic]:
        self._jobs.require(caller, Scope.IDENTITIES_READ)
        for name, ids in (("generation_ids", generation_ids), ("clothing_item_ids", clothing_item_ids)):
            if len(set(ids)) > MAX_FILTER_IDS:
                raise Unprocessable(
                    f"{name} has {len(set(ids))} ids; at most {MAX_FILTER_IDS} are allowed",
                    code="too_many_ids",
                    fix=f"Ask for at most {MAX_FILTER_IDS} {name} at a time.",
                )
        start = page_offset(page, items_per_page)
        if generation_ids:
            # a bounded set of generations: their rows are read by key, not found in the account
            rows = sorted(
                (
                    r
                    for r in self._store.results_of_generations(caller.account_id, set(generation_ids))
                    if not clothing_item_ids or r.get("clothing_item_id") in clothing_item_ids
                ),
                key=lambda r: str(r["GSI1SK"]),
                reverse=True,
            )
            rows, total = rows[start : start + items_per_page], len(rows)
        else:
            rows, total = self._store.result_page(
                caller.account_id, offset=start, limit=items_per_page, clothing_item_ids=clothing_item_ids
            )
        return page_from(self._result_views(rows), page=page, items_per_page=items_per_page, total=total)

    def result(self, *, caller: Caller, generation_result_id: int) -> GenerationResultPublic:
        self._jobs.require(caller, Scope.IDENTITIES_READ)
        row = self._store.result_row(account_id=caller.account_id, generation_result_id=generation_result_id)
        if row is None:
            raise NotFound(
                f"generation result {generation_result_id} not found", code="generation_result_not_found"
            )
        [shown] = self._result_views([row])
        return shown

    def _result_views(self, rows: Sequence[Item]) -> list[GenerationResultPublic]:
        jobs = {j["job_id"]: j for j in self._table.batch_get([job_key(r["job_id"]) for r in rows])}
        results = {
            r["result_id"]: r for r in self._table.batch_get([result_key(r["result_id"]) for r in rows])
        }
        shown = []
        for row in rows:
            job, result = jobs.get(row["job_id"]), results.get(row["result_id"])
            if job is None or result is None:
                continue
            shown.append(self._view.result(job, result))
        return shown

    def delete(self, *, caller: Caller, generation_id: int) -> None:
        self._jobs.require(caller, Scope.IDENTITIES_WRITE)
        job = self._job_of(caller, generation_id)
        if JobState(job["state"]) in (JobState.QUEUED, JobState.RUNNING):
            raise Conflict(f"generation {generation_id} is still running", code="generation_running")
        row = self._table.get(*generation_key(generation_id))
        assert row is not None
        self._store.delete_generation(row)


def result_rows(job: Item, records: Sequence[Item]) -> list[Item]:
    """The WRES rows of a finished generation (written with the job's completion)."""
    inputs = job["inputs"]
    ids = inputs["clothing_item_ids"]
    rows = []
    for record in records:
        number = int(inputs["result_ids"][record["index"]])
        pk, sk = generation_result_key(number)
        rows.append(
            {
                "PK": pk,
                "SK": sk,
                "GSI1PK": f"ACCOUNT#{job['account_id']}",
                "GSI1SK": f"WRES#{record['created_at']}#{number:012d}",
                "type": "wardrobe_generation_result",
                "generation_result_id": number,
                "generation_id": int(inputs["generation_id"]),
                "result_id": record["result_id"],
                "job_id": job["job_id"],
                "account_id": job["account_id"],
                "clothing_item_id": ids[0] if ids else None,
                "avatar_id": inputs.get("avatar_id"),
                "created_at": record["created_at"],
            }
        )
    return rows
