"""Deployment settings, read from the environment (template.yaml's Globals set them)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIKENESS_", extra="ignore")

    stage: str = "dev"
    table_name: str = "likeness"
    media_bucket: str = "likeness-media"
    preprocess_queue_url: str = ""
    event_bus_name: str = "likeness"
    event_source: str = "likeness"

    # uploads
    # API Gateway refuses payloads over 10 MB, so a bigger limit could never be reached
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    min_image_side: int = Field(default=64, ge=1)
    result_url_ttl_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)

    # a secret mixed into API key hashes; rotating it invalidates every key
    api_key_pepper: str = ""

    # outbound URL guard: the local stack and tests allow loopback explicitly
    allow_private_urls: bool = False

    # preprocessing: the receive count after which a failing job is marked failed
    preprocess_max_attempts: int = Field(default=5, ge=1)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
