"""Typed domain errors. The HTTP edge maps each to a status code once.

Every error carries a machine-readable ``code``, a ``message`` a person can act on,
and optionally a ``fix`` hint. The body shape is ``{"detail": {"code", "message", "fix"}}``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LikenessError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

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


class MediaUnreadable(Unprocessable):
    """A media file that cannot be decoded (corrupt, truncated, no video stream): its index job fails."""

    code = "media_unreadable"
