"""Outbound HTTP behind the private-address guard (webhook deliveries, URL fetches)."""

from likeness.net.urlguard import (
    FetchedContent,
    GuardedUrl,
    OutboundBadContentType,
    OutboundBadStatus,
    OutboundRequestFailed,
    OutboundTimeout,
    OutboundTooLarge,
    PostResult,
    TooManyRedirects,
    UnsafeUrl,
    UrlResolutionFailed,
    address_problem,
    check_url,
    fetch_url,
    post_json,
)

__all__ = [
    "FetchedContent",
    "GuardedUrl",
    "OutboundBadContentType",
    "OutboundBadStatus",
    "OutboundRequestFailed",
    "OutboundTimeout",
    "OutboundTooLarge",
    "PostResult",
    "TooManyRedirects",
    "UnsafeUrl",
    "UrlResolutionFailed",
    "address_problem",
    "check_url",
    "fetch_url",
    "post_json",
]
