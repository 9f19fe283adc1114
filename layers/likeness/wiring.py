"""The composition root: services built from settings and the shared, lazily made clients."""

from __future__ import annotations

from likeness.accounts.service import AccountService
from likeness.aws.clients import get_client
from likeness.aws.dynamodb import DynamoTable
from likeness.aws.eventbridge import EventPublisher
from likeness.aws.s3 import BlobStore
from likeness.aws.sqs import JobQueue
from likeness.identities.preprocessing import IdentityPreprocessor
from likeness.identities.service import IdentityService
from likeness.settings import Settings, get_settings


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
