"""The composition root: services built from settings and the shared, lazily made clients."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from likeness.accounts.pepper import api_key_pepper
from likeness.accounts.service import AccountService
from likeness.aws.clients import get_client
from likeness.aws.dynamodb import DynamoTable
from likeness.aws.eventbridge import EventPublisher
from likeness.aws.s3 import BlobStore
from likeness.aws.sqs import JobQueue
from likeness.identities.preprocessing import IdentityPreprocessor
from likeness.identities.service import IdentityService
from likeness.settings import Settings, get_settings

if TYPE_CHECKING:
    from likeness.avatars.service import AvatarService
    from likeness.characters.probes import ProbeService
    from likeness.engines.consistency import ConsistencyJudge
    from likeness.identities.drafts import DraftService
    from likeness.jobs.public import JobPresenter, SurfaceView
    from likeness.jobs.runner import JobRunner
    from likeness.jobs.service import JobService
    from likeness.wardrobe.generations import GenerationService
    from likeness.wardrobe.ids import IdAllocator
    from likeness.wardrobe.store import GenerationStore


def table(settings: Settings | None = None) -> DynamoTable:
    settings = settings or get_settings()
    return DynamoTable(client=get_client("dynamodb"), table_name=settings.table_name)


def account_service(settings: Settings | None = None) -> AccountService:
    settings = settings or get_settings()
    # read when a key is first hashed: the workers that only refund credits never need it
    return AccountService(table=table(settings), pepper=lambda: api_key_pepper(settings))


def blob_store(settings: Settings | None = None) -> BlobStore:
    settings = settings or get_settings()
    return BlobStore(client=get_client("s3"), bucket=settings.media_bucket)


def event_publisher(settings: Settings | None = None) -> EventPublisher:
    settings = settings or get_settings()
    return EventPublisher(
        client=get_client("events"), bus_name=settings.event_bus_name, source=settings.event_source
    )


def identity_service(settings: Settings | None = None) -> IdentityService:
    settings = settings or get_settings()
    return IdentityService(
        table=table(settings),
        blobs=blob_store(settings),
        queue=JobQueue(client=get_client("sqs"), queue_url=settings.preprocess_queue_url),
        events=event_publisher(settings),
        accounts=account_service(settings),
        settings=settings,
    )


def identity_preprocessor(settings: Settings | None = None) -> IdentityPreprocessor:
    from likeness.faces.pipeline import get_default_pipeline

    settings = settings or get_settings()
    return IdentityPreprocessor(
        table=table(settings),
        blobs=blob_store(settings),
        events=event_publisher(settings),
        pipeline=get_default_pipeline,
        max_attempts=settings.preprocess_max_attempts,
    )


# ---- jobs, engines and the surfaces built on them
def job_service(settings: Settings | None = None) -> JobService:
    from likeness.jobs.idempotency import IdempotencyStore
    from likeness.jobs.public import JobPresenter
    from likeness.jobs.service import JobService

    settings = settings or get_settings()
    presenter = JobPresenter(
        blobs=blob_store(settings),
        url_ttl_seconds=settings.job_result_url_ttl_seconds,
        retention_seconds=settings.result_retention_seconds,
    )
    presenter.surfaces.update(surface_views(presenter))
    return JobService(
        table=table(settings),
        blobs=blob_store(settings),
        queue=JobQueue(client=get_client("sqs"), queue_url=settings.job_queue_url),
        events=event_publisher(settings),
        accounts=account_service(settings),
        idempotency=IdempotencyStore(
            table=table(settings),
            ttl_seconds=settings.idempotency_ttl_seconds,
            in_flight_seconds=settings.idempotency_in_flight_seconds,
        ),
        presenter=presenter,
        settings=settings,
    )


def avatar_service(settings: Settings | None = None) -> AvatarService:
    from likeness.avatars.service import AvatarService
    from likeness.library import ReferenceLibrary

    settings = settings or get_settings()
    return AvatarService(
        jobs=job_service(settings),
        table=table(settings),
        blobs=blob_store(settings),
        settings=settings,
        library=ReferenceLibrary(table=table(settings)),
        uploads=upload_service(settings),
    )


def draft_service(settings: Settings | None = None) -> DraftService:
    from likeness.identities.drafts import DraftService
    from likeness.library import ReferenceLibrary

    settings = settings or get_settings()
    return DraftService(
        jobs=job_service(settings),
        identities=identity_service(settings),
        settings=settings,
        library=ReferenceLibrary(table=table(settings)),
        uploads=upload_service(settings),
    )


@lru_cache(maxsize=1)
def consistency_judge() -> ConsistencyJudge:
    """One judge per process: it holds the loaded face models."""
    from likeness.engines.consistency import ConsistencyJudge
    from likeness.faces.pipeline import get_default_pipeline

    return ConsistencyJudge(pipeline=get_default_pipeline)


def job_runner(settings: Settings | None = None) -> JobRunner:
    """The worker: every job type this deployment runs, with its executor."""
    from likeness.avatars.generation import AvatarGenerator
    from likeness.avatars.models import AVATAR_JOB_TYPE
    from likeness.characters.probe_job import CharacterImageGenerator
    from likeness.characters.probes import CHARACTER_IMAGE_JOB_TYPE
    from likeness.engines.catalog import get_engine
    from likeness.identities.drafts import DraftGenerator
    from likeness.identities.service import DRAFT_JOB_TYPE
    from likeness.jobs.models import JobRepository
    from likeness.jobs.runner import JobRunner
    from likeness.library import ReferenceLibrary
    from likeness.wardrobe.generation_job import WardrobeGenerator
    from likeness.wardrobe.store import GENERATION_JOB_TYPE

    settings = settings or get_settings()
    blobs = blob_store(settings)
    library = ReferenceLibrary(table=table(settings))
    parts: dict[str, Any] = {
        "blobs": blobs,
        "library": library,
        "engine_for": get_engine,
        "judge": consistency_judge,
        "settings": settings,
    }
    return JobRunner(
        jobs=job_service(settings),
        repository=JobRepository(table=table(settings)),
        blobs=blobs,
        executors={
            AVATAR_JOB_TYPE: lambda: AvatarGenerator(**parts),
            DRAFT_JOB_TYPE: lambda: DraftGenerator(**parts),
            GENERATION_JOB_TYPE: lambda: WardrobeGenerator(**parts),
            CHARACTER_IMAGE_JOB_TYPE: lambda: CharacterImageGenerator(
                **parts,
                sessions=lambda: session_service(settings),
                assets=lambda: asset_service(settings),
            ),
        },
        max_attempts=settings.job_max_attempts,
        result_retention_seconds=settings.result_retention_seconds,
        engine_for=get_engine,
    )


# ---- webhooks
if TYPE_CHECKING:
    from likeness.aws.kms import SecretBox
    from likeness.webhooks.delivery import WebhookDispatcher
    from likeness.webhooks.service import WebhookService
    from likeness.webhooks.store import WebhookStore


@lru_cache(maxsize=4)
def _secret_box(key_id: str) -> SecretBox:
    """One per process and key: it keeps the secrets it opened (see SecretBox)."""
    from likeness.aws.kms import SecretBox

    return SecretBox(client_factory=lambda: get_client("kms"), key_id=key_id)


def webhook_store(settings: Settings | None = None) -> WebhookStore:
    from likeness.webhooks.secrets import WebhookSecrets
    from likeness.webhooks.store import WebhookStore

    settings = settings or get_settings()
    return WebhookStore(
        table=table(settings), secrets=WebhookSecrets(box=_secret_box(settings.webhook_secrets_key_id))
    )


def request_webhook_secret(settings: Settings | None = None) -> Callable[[str, str | None], dict[str, Any]]:
    """What a job keeps of a request-level webhook's secret: the client's ``webhook_secret``
    sealed, or nothing once the account's own signing secret exists (made now: the delivery
    function may not write account records)."""
    store = webhook_store(settings)

    def fields(account_id: str, secret: str | None) -> dict[str, Any]:
        from likeness.webhooks.secrets import REQUEST, SEALED_FIELD

        if secret:
            return {SEALED_FIELD: store.secrets.seal(secret, REQUEST, account_id=account_id)}
        store.ensure_signing_secret(account_id)
        return {}

    return fields


def webhook_service(settings: Settings | None = None) -> WebhookService:
    from likeness.webhooks.service import WebhookService

    settings = settings or get_settings()
    return WebhookService(
        store=webhook_store(settings),
        queue=JobQueue(client=get_client("sqs"), queue_url=settings.webhook_queue_url),
        settings=settings,
    )


def webhook_dispatcher(settings: Settings | None = None) -> WebhookDispatcher:
    from likeness.webhooks.delivery import WebhookDispatcher

    settings = settings or get_settings()
    sqs = get_client("sqs")
    return WebhookDispatcher(
        store=webhook_store(settings),
        queue=JobQueue(client=sqs, queue_url=settings.webhook_queue_url),
        dead_letters=JobQueue(client=sqs, queue_url=settings.webhook_dead_letter_queue_url),
        settings=settings,
    )


# ---- wardrobe (generations, results, models, cameras)
def id_allocator(settings: Settings | None = None) -> IdAllocator:
    from likeness.wardrobe.ids import IdAllocator

    return IdAllocator(table=table(settings))


def generation_store(settings: Settings | None = None) -> GenerationStore:
    from likeness.wardrobe.store import GenerationStore

    return GenerationStore(table=table(settings), blobs=blob_store(settings))


def surface_views(presenter: JobPresenter) -> dict[str, SurfaceView]:
    """Job types whose surface names its own events and payloads (the others are ``job.*``)."""
    from likeness.characters.probes import CHARACTER_IMAGE_JOB_TYPE, ProbeReports
    from likeness.jobs.public import SurfaceView
    from likeness.wardrobe.generations import GenerationView
    from likeness.wardrobe.store import GENERATION_JOB_TYPE

    view = GenerationView(presenter=presenter)
    probes = ProbeReports(presenter=presenter)
    return {
        GENERATION_JOB_TYPE: SurfaceView(event_prefix="generation", present=view.event_data),
        CHARACTER_IMAGE_JOB_TYPE: SurfaceView(event_prefix="character.image", present=probes.report),
    }


def generation_service(settings: Settings | None = None) -> GenerationService:
    from likeness.errors import UnsupportedMediaType
    from likeness.net import check_url, fetch_url
    from likeness.wardrobe.generations import FetchedSource, Garments, GenerationService, GenerationView

    settings = settings or get_settings()
    jobs = job_service(settings)

    def fetch(url: str, field: str) -> FetchedSource:
        fetched = fetch_url(
            url,
            allow_private=settings.allow_private_urls,
            max_bytes=settings.max_upload_bytes,
            timeout=10.0,
            allowed_content_types=("image/jpeg", "image/png", "image/webp"),
        )
        if not fetched.data:
            raise UnsupportedMediaType(f"{field} returned no content")
        return FetchedSource(data=fetched.data, content_type=fetched.content_type.split(";")[0].strip())

    def guard(url: str) -> None:
        check_url(url, allow_private=settings.allow_private_urls)

    def images(account_id: str, clothing_item_id: int) -> tuple[bytes, bytes | None]:
        return clothing_service(settings).garment_images(
            account_id=account_id, clothing_item_id=clothing_item_id
        )

    def avatar(account_id: str, avatar_id: int) -> bytes:
        return wardrobe_avatar_service(settings).image_for_generation(
            account_id=account_id, avatar_id=avatar_id
        )

    return GenerationService(
        jobs=jobs,
        table=table(settings),
        store=generation_store(settings),
        ids=id_allocator(settings),
        view=GenerationView(presenter=jobs.presenter),
        garments=Garments(images=images, avatar=avatar),
        fetch=fetch,
        check_url=guard,
        settings=settings,
        webhook_secret=request_webhook_secret(settings),
    )


# ---- wardrobe: clothing items and avatars
if TYPE_CHECKING:
    from likeness.wardrobe.avatars import WardrobeAvatarService
    from likeness.wardrobe.clothing import ClothingService


def clothing_service(settings: Settings | None = None) -> ClothingService:
    from likeness.wardrobe.clothing import ClothingService

    settings = settings or get_settings()
    return ClothingService(
        table=table(settings),
        blobs=blob_store(settings),
        accounts=account_service(settings),
        ids=id_allocator(settings),
        generations=generation_store(settings),
        settings=settings,
    )


def wardrobe_avatar_service(settings: Settings | None = None) -> WardrobeAvatarService:
    from likeness.wardrobe.avatars import WardrobeAvatarService

    settings = settings or get_settings()
    # the face pipeline loads on the first create, not for reads; no describer: no engine in
    # this deployment reads body type or age from a photo
    return WardrobeAvatarService(
        table=table(settings),
        blobs=blob_store(settings),
        ids=id_allocator(settings),
        generations=generation_store(settings),
        settings=settings,
        uploads=upload_service(settings),
    )


# ---- characters: image probes and inventory batches
def probe_service(settings: Settings | None = None) -> ProbeService:
    from likeness.characters.probes import ProbeReports, ProbeService

    settings = settings or get_settings()
    jobs = job_service(settings)
    return ProbeService(
        jobs=jobs,
        table=table(settings),
        blobs=blob_store(settings),
        characters=character_service(settings),
        sessions=session_service(settings),
        assets=asset_service(settings),
        reports=ProbeReports(presenter=jobs.presenter),
        accounts=account_service(settings),
        settings=settings,
    )


# ---- characters (character-visual-identity spec)
if TYPE_CHECKING:
    from likeness.characters.assets import AssetService
    from likeness.characters.readiness import ReadinessService
    from likeness.characters.service import CharacterService
    from likeness.characters.sessions import SessionService


def character_service(settings: Settings | None = None) -> CharacterService:
    from likeness.characters.service import CharacterService

    return CharacterService(table=table(settings))


def session_service(settings: Settings | None = None) -> SessionService:
    from likeness.characters.sessions import SessionService

    return SessionService(table=table(settings), characters=character_service(settings))


def asset_service(settings: Settings | None = None) -> AssetService:
    from likeness.characters.assets import AssetService

    settings = settings or get_settings()
    # the face pipeline loads on the first identity upload, not for reads
    return AssetService(
        table=table(settings),
        blobs=blob_store(settings),
        characters=character_service(settings),
        settings=settings,
    )


def readiness_service(settings: Settings | None = None) -> ReadinessService:
    from likeness.characters.readiness import ReadinessService

    return ReadinessService(
        characters=character_service(settings),
        assets=asset_service(settings),
        accounts=account_service(settings),
    )


# ---- media identities (files, identities, the index job)
if TYPE_CHECKING:
    from likeness.media.files import FileService
    from likeness.media.identities import MediaIdentityService
    from likeness.media.index_job import MediaIndexJob
    from likeness.media.indexing import MediaIndexer
    from likeness.media.store import MediaStore


def media_store(settings: Settings | None = None) -> MediaStore:
    from likeness.media.store import MediaStore

    return MediaStore(table=table(settings), blobs=blob_store(settings))


@lru_cache(maxsize=1)
def media_indexer() -> MediaIndexer:
    """One indexer per process: it holds the loaded face models and its embedding workers."""
    from likeness.media.indexing import MediaIndexer

    return MediaIndexer()


def media_file_service(settings: Settings | None = None) -> FileService:
    from likeness.media.files import FileService

    settings = settings or get_settings()
    sqs = get_client("sqs")
    return FileService(
        store=media_store(settings),
        index_queue=JobQueue(client=sqs, queue_url=settings.media_index_queue_url),
        batch_queue=(
            JobQueue(client=sqs, queue_url=settings.media_batch_queue_url)
            if settings.media_batch_queue_url
            else None
        ),
        events=event_publisher(settings),
        settings=settings,
    )


def media_identity_service(settings: Settings | None = None) -> MediaIdentityService:
    from likeness.media.identities import MediaIdentityService

    settings = settings or get_settings()
    # the face models load on the first profile image, not for the other routes
    return MediaIdentityService(
        store=media_store(settings), settings=settings, indexer=lambda: media_indexer()
    )


def media_index_job(settings: Settings | None = None) -> MediaIndexJob:
    """What both index consumers run (the Lambda for small files, the Batch container for large)."""
    from likeness.media.index_job import MediaIndexJob

    settings = settings or get_settings()
    return MediaIndexJob(
        store=media_store(settings),
        events=event_publisher(settings),
        indexer=lambda: media_indexer(),
        max_attempts=settings.media_index_max_attempts,
    )


# ---- presigned image uploads (POST /uploads), used in place of inline images
if TYPE_CHECKING:
    from likeness.uploads.service import UploadService


def upload_service(settings: Settings | None = None) -> UploadService:
    from likeness.uploads.service import UploadService

    settings = settings or get_settings()
    return UploadService(table=table(settings), blobs=blob_store(settings), settings=settings)
