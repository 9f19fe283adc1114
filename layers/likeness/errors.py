"""Typed domain errors. The HTTP edge maps each to a status code once.

Every error carries a machine-readable ``code``, a ``message`` a person can act on,
and optionally a ``fix`` hint. The body shape is ``{"detail": {"code", "message", "fix"}}``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LikenessError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    # the same request may well succeed when sent again (a job's message is redelivered)
    transient: ClassVar[bool] = False
    # seconds a client should wait before retrying: sent as the Retry-After header
    retry_after: ClassVar[int | None] = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fix: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = code or self.code
        self.fix = fix
        self.extra = extra or {}

    def to_detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"code": self.error_code, "message": self.message}
        if self.fix:
            detail["fix"] = self.fix
        detail.update(self.extra)
        return detail


class BadRequest(LikenessError):
    status_code = 400
    code = "bad_request"


class Unauthorized(LikenessError):
    status_code = 401
    code = "unauthorized"


class InsufficientCredits(LikenessError):
    status_code = 402
    code = "insufficient_credits"


class Forbidden(LikenessError):
    status_code = 403
    code = "forbidden"


class NotFound(LikenessError):
    status_code = 404
    code = "not_found"


class Conflict(LikenessError):
    status_code = 409
    code = "conflict"


class WriteConflict(Conflict):
    """Other requests kept changing the same records at the same moment, retries included."""

    code = "write_conflict"
    transient = True

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(
            message or "other requests changed the same records at the same moment; nothing was changed",
            fix=kwargs.pop("fix", "Send the request again."),
            **kwargs,
        )


class Gone(LikenessError):
    """It existed, and is no longer usable (an upload past its expiry)."""

    status_code = 410
    code = "gone"


class PayloadTooLarge(LikenessError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(LikenessError):
    status_code = 415
    code = "unsupported_media_type"


class Unprocessable(LikenessError):
    status_code = 422
    code = "unprocessable"


class ImageRejected(Unprocessable):
    """The bytes are not an image we accept (undecodable, truncated, too small, pixel bomb)."""

    code = "image_rejected"


class FaceRejected(Unprocessable):
    """The image decodes, but does not show exactly one clearly visible face."""

    code = "face_rejected"


class SlotLimitReached(LikenessError):
    status_code = 403
    code = "identity_slots_exhausted"


class NotImplementedYet(LikenessError):
    status_code = 501
    code = "not_implemented"


class ModelUnavailable(LikenessError):
    """A model could not be loaded (missing package or file). Never silently replaced."""

    status_code = 503
    code = "model_unavailable"


class ServiceBusy(LikenessError):
    """The database is throttling requests; nothing was changed. Retry after ``retry_after``."""

    status_code = 503
    code = "service_busy"
    transient = True
    retry_after = 2

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(
            message or "the service is busy and did not handle the request; nothing was changed",
            fix=kwargs.pop("fix", f"Send the request again after {self.retry_after} seconds."),
            **kwargs,
        )


class MediaUnreadable(Unprocessable):
    """A media file that cannot be decoded (corrupt, truncated, no video stream): its index job fails."""

    code = "media_unreadable"
