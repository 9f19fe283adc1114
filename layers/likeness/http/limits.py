"""How big a request body may be: what API Gateway (HTTP API) in front of Lambda lets through.

A synchronous Lambda invocation carries at most 6 MB (6,291,456 bytes), and that is the whole
event: the body plus the headers, the request context and the JSON around them. API Gateway
hands a binary body (multipart/form-data, an image) to the function base64-encoded, 4 bytes for
every 3, so the raw body that fits is three quarters of what is left after the envelope:

    (6,291,456 - 65,536) // 4 * 3 = 4,669,440 bytes, about 4.45 MiB

Every API function holds every body to that one number (a JSON body would get a little more
through, but a client needs one rule, not two). The local gateway enforces it before a function
runs, as API Gateway does, and each app's own body limit is the same, so uvicorn agrees too.
Images bigger than that go to S3 first: ``POST /uploads`` (docs/uploads.md).
"""

from __future__ import annotations

from typing import Any

# AWS: the request payload of a synchronous invocation (RequestResponse)
LAMBDA_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024
# what the event adds around the body: headers (HTTP API allows 10 KB of them), the request
# context, cookies, the query string and the JSON keys; generously rounded up
EVENT_ENVELOPE_BYTES = 64 * 1024
# the largest raw request body an API function can receive (the base64 of it must fit)
MAX_REQUEST_BODY_BYTES = (LAMBDA_SYNC_PAYLOAD_BYTES - EVENT_ENVELOPE_BYTES) // 4 * 3

UPLOAD_ROUTE = "POST /uploads"
MEDIA_UPLOAD_ROUTE = "POST /api/v1/files/uploads"
MEDIA_FILES_PATH = "/api/v1/files"


def shown_size(size: int) -> str:
    """``4669440`` -> ``"4.45 MB"``, ``65536`` -> ``"64 KB"`` (binary units, as every limit here)."""
    if size < 1024 * 1024:
        return f"{size // 1024} KB"
    return f"{size / (1024 * 1024):.2f}".rstrip("0").rstrip(".") + " MB"


def body_too_large(path: str, max_bytes: int = MAX_REQUEST_BODY_BYTES) -> dict[str, Any]:
    """The 413 ``detail`` for a body over ``max_bytes``: a ``fix`` that says where big files go."""
    message = f"the request body is larger than {shown_size(max_bytes)}"
    if max_bytes < MAX_REQUEST_BODY_BYTES:  # a route's own, smaller limit: nothing to upload there
        return {"code": "payload_too_large", "message": message, "fix": "Send a smaller request body."}
    if path == MEDIA_FILES_PATH or path.startswith(MEDIA_FILES_PATH + "/"):
        fix = (
            f"Send a file this big with {MEDIA_UPLOAD_ROUTE} (a presigned PUT), then POST "
            f"{MEDIA_FILES_PATH} with its s3_key."
        )
    else:
        fix = (
            f"Upload the image with {UPLOAD_ROUTE} (a presigned PUT straight to S3), then send its "
            "upload_id in place of the bytes (docs/uploads.md)."
        )
    message += ", the most a request can carry through API Gateway and Lambda"
    return {"code": "payload_too_large", "message": message, "fix": fix}
