"""Deployment settings, read from the environment (template.yaml's Globals set them)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from likeness.http.limits import MAX_REQUEST_BODY_BYTES


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIKENESS_", extra="ignore")

    stage: str = "dev"
    table_name: str = "likeness"
    media_bucket: str = "likeness-media"
    preprocess_queue_url: str = ""
    job_queue_url: str = ""
    webhook_queue_url: str = ""
    webhook_dead_letter_queue_url: str = ""
    event_bus_name: str = "likeness"
    event_source: str = "likeness"

    # uploads. An image sent inside a request is also held to the request's own ceiling
    # (likeness.http.limits: about 4.45 MB of body, what API Gateway and Lambda carry); up to the
    # limits below it comes as an upload_id from POST /uploads (docs/uploads.md)
    # identity photos, garments, wardrobe avatars, media profile images
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    min_image_side: int = Field(default=64, ge=1)
    result_url_ttl_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)

    # a secret mixed into API key hashes; rotating it invalidates every key. On AWS it lives in
    # the Secrets Manager secret the template generates (api_key_pepper_secret, its ARN); a
    # value set here wins. Empty is refused outside the local stack (likeness.accounts.pepper).
    api_key_pepper: str = ""
    api_key_pepper_secret: str = ""
    # the API key authorizer remembers a key's answer this long (template.yaml's
    # AuthorizerCacheSeconds): a revoked key keeps working at most this long
    authorizer_cache_seconds: int = Field(default=60, ge=0, le=3600)

    # outbound URL guard: the local stack and tests allow loopback explicitly
    allow_private_urls: bool = False

    # preprocessing: the attempts (counted on the identity) after which a failing one is failed
    preprocess_max_attempts: int = Field(default=5, ge=1)

    # jobs: the attempts (counted on the job) after which a failing job is failed and refunded
    # (template.yaml's JobQueue maxReceiveCount matches it), and the time after which an
    # unfinished job fails
    job_max_attempts: int = Field(default=3, ge=1)
    job_deadline_seconds: int = Field(default=900, ge=10)
    # Idempotency-Key: how long a key is remembered, and how long a first request that never
    # finished (a crash) holds its key before a retry may take it over
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    idempotency_in_flight_seconds: int = Field(default=60, ge=1)
    # lifetime of signed URLs for generated images and videos
    job_result_url_ttl_seconds: int = Field(default=4 * 3600, ge=60, le=7 * 24 * 3600)
    # how long generated files are served; then the sweeper deletes them (template.yaml's
    # bucket lifecycle rule, in whole days, is the backstop)
    result_retention_seconds: int = Field(default=4 * 3600, ge=60, le=24 * 3600)

    # how a failed attempt comes back: after this many seconds, doubled per attempt
    job_retry_backoff_seconds: int = Field(default=10, ge=0, le=900)

    # prices in credits (the engine catalog lists them too)
    avatar_generation_credits: int = Field(default=10, ge=0)
    identity_draft_credits: int = Field(default=10, ge=0)  # per draft
    identity_promotion_credits: int = Field(default=50, ge=0)
    # one metered character image (a probe, or one inventory item)
    character_image_credits: int = Field(default=5, ge=0)
    # the model used by any request that names none: avatar jobs, drafts, character probes and
    # inventory, and the wardrobe's default model_slug
    default_image_model: str = "classical"
    # reference images (avatar jobs, identity drafts): the avatar-jobs spec's 15 MB (inline, base64
    # in JSON, one fits up to about 3.3 MB; bigger ones come as {"upload_id"})
    max_reference_image_bytes: int = Field(default=15 * 1024 * 1024, ge=1024)
    # POST /uploads: how long the presigned PUT and the upload_id it answers with stay usable
    # (template.yaml's lifecycle rule on uploads/ removes what nobody claimed a day later)
    upload_ttl_seconds: int = Field(default=3600, ge=60, le=12 * 3600)

    # webhooks: per-attempt timeout, and the delays (seconds) between attempts; jitter and a
    # receiver's Retry-After stretch them. The default spans about 28 hours.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_retry_schedule: list[int] = Field(default=[5, 300, 1800, 7200, 18000, 36000, 36000])
    webhook_retry_jitter: float = Field(default=0.2, ge=0, le=1)
    webhook_max_retry_after_seconds: int = Field(default=24 * 3600, ge=1)
    # events kept for GET /webhooks/events
    event_log_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    # the KMS key (id, ARN or alias) webhook signing secrets are sealed with (template.yaml's
    # WebhookSecretsKey); secrets are never stored in clear, so webhooks need it
    webhook_secrets_key_id: str = ""

    # media identities: index jobs go to the Lambda consumer's queue when the file is at most
    # media_lambda_max_bytes, larger ones to the queue the Pipe feeds to AWS Batch; with no batch
    # queue everything goes to the index queue
    media_index_queue_url: str = ""
    media_batch_queue_url: str = ""
    media_lambda_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    # the queue's maxReceiveCount and the job definition's RetryStrategy: on the last attempt a
    # consumer fails the file with the error instead of leaving it "processing"
    media_index_max_attempts: int = Field(default=3, ge=1, le=10)
    # what MediaIndexFailureFunction reads (template.yaml gives it these): the Pipe's dead-letter
    # queue (its messages could not become jobs), and the job queue's RUNNABLE time limit
    media_batch_dead_letter_queue_arn: str = ""
    media_index_runnable_timeout_seconds: int = Field(default=3600, ge=1)
    # a file sent in the request body (multipart): no more than a request can carry through API
    # Gateway and Lambda (likeness.http.limits); bigger files go to S3 first (POST
    # /api/v1/files/uploads hands out a presigned PUT) and are named by s3_key
    media_max_upload_bytes: int = Field(default=MAX_REQUEST_BODY_BYTES, ge=1024)
    # a file named by s3_key (S3's single PUT stops at 5 GB)
    media_max_source_bytes: int = Field(default=5 * 1024 * 1024 * 1024, ge=1024)
    media_max_subtitles_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    media_upload_url_ttl_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    # the face embeddings an identity keeps for matching besides its profile image (bound faces,
    # merged identities' faces); the oldest go first
    media_max_enrolled_faces: int = Field(default=24, ge=1, le=500)

    # ---- hosted model providers (docs/engines.md). Keys may instead live in one Secrets Manager
    # secret (provider_keys_secret, a JSON object keyed by these setting names); a key set here wins.
    gemini_api_key: SecretStr | None = None
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    openai_api_key: SecretStr | None = None
    openai_base_url: str = "https://api.openai.com/v1"
    fal_key: SecretStr | None = None
    fal_queue_url: str = "https://queue.fal.run"
    provider_keys_secret: str = ""
    # slug -> "provider:model-id", to send a catalog slug to another model id (or provider)
    model_routes: dict[str, str] = Field(default_factory=dict)
    # one provider HTTP call (a synchronous image generation can take a minute or two)
    provider_timeout_seconds: float = Field(default=180.0, gt=0, le=900)
    # 429 / 5xx / timeouts: attempts per provider call (within the job's deadline)
    provider_max_attempts: int = Field(default=5, ge=1, le=20)
    # a queued provider request (fal) is checked back this long after it was submitted, then
    # less often (up to 60 s); the job's worker is free meanwhile
    provider_poll_seconds: int = Field(default=5, ge=0, le=900)
    # downloaded provider outputs (a 15 s video is tens of MB)
    provider_max_output_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)
    # identity_check=enforce: generations per output before the job fails identity_not_preserved
    identity_max_attempts: int = Field(default=3, ge=1, le=10)

    @property
    def upload_max_bytes(self) -> int:
        """The largest image any route takes (POST /uploads refuses a bigger declared size)."""
        from likeness.characters.models import MAX_ASSET_BYTES

        return max(self.max_upload_bytes, self.max_reference_image_bytes, MAX_ASSET_BYTES)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
