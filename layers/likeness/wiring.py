"""The composition root: services built from settings and the shared, lazily made clients."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

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
    from likeness.engines.consistency import ConsistencyJudge
    from likeness.identities.drafts import DraftService
    from likeness.jobs.runner import JobRunner
    from likeness.jobs.service import JobService


def table(settings: Settings | None = None) -> DynamoTable:
    settings = settings or get_settings()
    return DynamoTable(client=get_client("dynamodb"), table_name=settings.table_name)


def account_service(settings: Settings | None = None) -> AccountService:
    settings = settings or get_settings()
    return AccountService(table=table(settings), pepper=settings.api_key_pepper)


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
        presenter=JobPresenter(
            blobs=blob_store(settings), url_ttl_seconds=settings.job_result_url_ttl_seconds
        ),
        settings=settings,
    )


def avatar_service(settings: Settings | None = None) -> AvatarService:
    from likeness.avatars.service import AvatarService

    settings = settings or get_settings()
    return AvatarService(
        jobs=job_service(settings), table=table(settings), blobs=blob_store(settings), settings=settings
    )


def draft_service(settings: Settings | None = None) -> DraftService:
    from likeness.identities.drafts import DraftService

    settings = settings or get_settings()
    return DraftService(jobs=job_service(settings), identities=identity_service(settings), settings=settings)


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
    from likeness.engines.catalog import get_engine
    from likeness.identities.drafts import DraftGenerator
    from likeness.identities.service import DRAFT_JOB_TYPE
    from likeness.jobs.models import JobRepository
    from likeness.jobs.runner import JobRunner
    from likeness.library import ReferenceLibrary

    settings = settings or get_settings()
    blobs = blob_store(settings)
    library = ReferenceLibrary(table=table(settings))
    return JobRunner(
        jobs=job_service(settings),
        repository=JobRepository(table=table(settings)),
        blobs=blobs,
        executors={
            AVATAR_JOB_TYPE: lambda: AvatarGenerator(
                blobs=blobs, library=library, engine_for=get_engine, judge=consistency_judge
            ),
            DRAFT_JOB_TYPE: lambda: DraftGenerator(
                blobs=blobs, library=library, engine_for=get_engine, judge=consistency_judge
            ),
        },
        max_attempts=settings.job_max_attempts,
    )


# ---- webhooks
if TYPE_CHECKING:
    from likeness.webhooks.delivery import WebhookDispatcher
    from likeness.webhooks.service import WebhookService


def webhook_service(settings: Settings | None = None) -> WebhookService:
    from likeness.webhooks.service import WebhookService
    from likeness.webhooks.store import WebhookStore

    settings = settings or get_settings()
    return WebhookService(
        store=WebhookStore(table=table(settings)),
        queue=JobQueue(client=get_client("sqs"), queue_url=settings.webhook_queue_url),
        settings=settings,
    )


def webhook_dispatcher(settings: Settings | None = None) -> WebhookDispatcher:
    from likeness.webhooks.delivery import WebhookDispatcher
    from likeness.webhooks.store import WebhookStore

    settings = settings or get_settings()
    sqs = get_client("sqs")
    return WebhookDispatcher(
        store=WebhookStore(table=table(settings)),
        queue=JobQueue(client=sqs, queue_url=settings.webhook_queue_url),
        dead_letters=JobQueue(client=sqs, queue_url=settings.webhook_dead_letter_queue_url),
        settings=settings,
    )
