"""The outbound URL guard: every URL the service calls or fetches goes through here.

``check_url`` refuses URLs whose host is (or resolves to) an address the service must not
reach: loopback, private, link-local, CGNAT, multicast, reserved, unspecified and the cloud
metadata services. ``allow_private`` (LIKENESS_ALLOW_PRIVATE_URLS, set by the local stack)
lets loopback, private and CGNAT addresses through; link-local, metadata, multicast,
reserved and unspecified addresses are refused whatever it says.

``fetch_url`` and ``post_json`` connect to the address that was checked - the URL carries the
IP, the Host header and TLS SNI carry the name - so a DNS answer that changes between the
check and the connection (DNS rebinding) cannot redirect the request.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urljoin, urlsplit

from likeness.errors import BadRequest

if TYPE_CHECKING:
    import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., Sequence[tuple[Any, ...]]]

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_REDIRECTS = 3
USER_AGENT = "Likeness"

# Cloud metadata, DNS and time services: refused even when private addresses are allowed.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean instance metadata
        "169.254.170.2",  # ECS task metadata and credentials
        "169.254.169.253",  # AWS VPC DNS
        "169.254.169.123",  # AWS time sync
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "fd00:ec2::253",
        "fd00:ec2::123",
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
METADATA_HOSTNAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


# ---------------------------------------------------------------------------- errors


class UnsafeUrl(BadRequest):
    """The URL may not be called: wrong scheme, credentials, or a forbidden address."""

    code = "url_not_allowed"

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(
            message,
            fix=fix
            or "Use an http(s) URL whose host name resolves to a public address, without user:password@.",
        )


class UrlResolutionFailed(BadRequest):
    """The host name did not resolve (possibly a transient DNS failure)."""

    code = "url_unresolvable"


class OutboundRequestFailed(BadRequest):
    """The request could not be completed (connection refused, reset, TLS error, ...)."""

    code = "url_request_failed"


class OutboundTimeout(OutboundRequestFailed):
    code = "url_timeout"


class OutboundTooLarge(OutboundRequestFailed):
    status_code: ClassVar[int] = 413
    code = "url_content_too_large"


class OutboundBadStatus(OutboundRequestFailed):
    code = "url_bad_status"

    def __init__(self, message: str, *, status: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status = status


class OutboundBadContentType(OutboundRequestFailed):
    status_code: ClassVar[int] = 415
    code = "url_unsupported_content_type"


class TooManyRedirects(OutboundRequestFailed):
    code = "url_too_many_redirects"


# ---------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class GuardedUrl:
    """A URL that passed the guard, with the addresses it may be connected to."""

    url: str  # normalised: scheme://host[:port]/path?query, no fragment
    scheme: str
    host: str  # the name for Host and SNI (IPv6 literals without brackets)
    port: int
    target: str  # path and query, at least "/"
    addresses: tuple[IPAddress, ...]
    ip_literal: bool = False

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def pinned_url(self, address: IPAddress) -> str:
        """The same request, addressed to ``address`` instead of the host name."""
        shown = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{shown}:{self.port}{self.target}"


def address_problem(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why the service must not connect to ``address``, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address):
        # an IPv6 address can carry an IPv4 one: judge what it would reach
        embedded = address.ipv4_mapped or (address.sixtofour if address.sixtofour else None)
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            problem = address_problem(embedded, allow_private=allow_private)
            return f"{problem} ({embedded}, embedded in IPv6)" if problem else None
        if address.teredo:
            for part in address.teredo:
                problem = address_problem(part, allow_private=allow_private)
                if problem:
                    return f"{problem} ({part}, embedded in a Teredo address)"
        address = ipaddress.IPv6Address(address.compressed.split("%", 1)[0])
    if address in METADATA_ADDRESSES:
        return "a cloud metadata service address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_loopback:
        return None if allow_private else "a loopback address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return None if allow_private else "a shared (CGNAT) address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return None if allow_private else "a private address"
    if not address.is_global:
        return None if allow_private else "an address that is not publicly routable"
    return None


def _parse_ipv4_number(part: str) -> int | None:
    try:
        if part.startswith("0x"):
            return int(part[2:] or "0", 16)
        if len(part) > 1 and part.startswith("0"):
            return int(part, 8)
        return int(part, 10)
    except ValueError:
        return None


def parse_ip_literal(host: str) -> IPAddress | None:
    """An IP address written in any form a resolver accepts (inet_aton's), else None.

    Covers dotted decimal, IPv6 (with a zone), and the legacy forms that name loopback or
    metadata addresses in disguise: 2130706433, 0x7f.1, 0177.0.0.1, 127.1.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMERIC_LABEL.match(p) for p in parts):
        return None
    numbers = [_parse_ipv4_number(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    *head, last = values
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(values)):
        raise UnsafeUrl(f"{host!r} is not a valid IPv4 address", fix="Write the address in dotted form.")
    value = 0
    for n in head:
        value = value * 256 + n
    value = value * 256 ** (5 - len(values)) + last
    return ipaddress.IPv4Address(value)


def _normalise_host(raw: str) -> str:
    host = raw.rstrip(".").lower()
    if not host:
        raise UnsafeUrl("the URL has no host")
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise UnsafeUrl(f"the host {raw!r} is not a valid host name") from exc
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise UnsafeUrl(f"the host {raw!r} is not a valid host name")
    if _NUMERIC_LABEL.match(labels[-1]):
        # WHATWG: a host ending in a number is an IPv4 address or invalid, never a name
        raise UnsafeUrl(f"{raw!r} is not a valid IPv4 address", fix="Write the address in dotted form.")
    return ascii_host


def resolve(host: str, port: int, *, resolver: Resolver = socket.getaddrinfo) -> tuple[IPAddress, ...]:
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UrlResolutionFailed(
            f"the host {host!r} could not be resolved",
            fix="Check the host name; DNS must resolve it from the internet.",
        ) from exc
    addresses: list[IPAddress] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]
        address = ipaddress.ip_address(text)
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UrlResolutionFailed(f"the host {host!r} resolved to no address")
    return tuple(addresses)


def check_url(url: str, *, allow_private: bool, resolver: Resolver = socket.getaddrinfo) -> GuardedUrl:
    """Parse, resolve and vet ``url``; raise UnsafeUrl (or UrlResolutionFailed) when it may not be called."""
    if not isinstance(url, str) or not url.strip():
        raise UnsafeUrl("the URL is empty")
    url = url.strip()
    if len(url) > 2048:
        raise UnsafeUrl("the URL is longer than 2048 characters")
    # parsers disagree about these (the classic 'http://a\\@b/' trick): refuse them outright
    if any(c in url for c in "\\\t\r\n ") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise UnsafeUrl("the URL contains whitespace, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port_given = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"the URL is malformed: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UnsafeUrl(f"the scheme {parts.scheme or '(none)'!r} is not allowed; use http or https")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise UnsafeUrl(
            "credentials in the URL are not allowed",
            fix="Remove user:password@ from the URL; webhooks are authenticated by their signature.",
        )
    raw_host = parts.hostname
    if not raw_host:
        raise UnsafeUrl("the URL has no host")
    port = port_given if port_given is not None else DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise UnsafeUrl(f"the port {port} is not valid")

    address = parse_ip_literal(raw_host.rstrip("."))
    if address is not None:
        host = str(address).split("%", 1)[0]
        addresses: tuple[IPAddress, ...] = (ipaddress.ip_address(host),)
    else:
        host = _normalise_host(raw_host)
        if host in METADATA_HOSTNAMES:
            raise UnsafeUrl(f"the host {host!r} is a cloud metadata service")
        addresses = resolve(host, port, resolver=resolver)
    for candidate in addresses:
        problem = address_problem(candidate, allow_private=allow_private)
        if problem:
            shown = host if address is not None else f"{host} resolves to {candidate}, which"
            raise UnsafeUrl(f"{shown} is {problem}; the service does not call such addresses")

    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    shown_host = f"[{host}]" if ":" in host else host
    netloc = shown_host if port_given is None else f"{shown_host}:{port}"
    return GuardedUrl(
        url=f"{scheme}://{netloc}{target}",
        scheme=scheme,
        host=host,
        port=port,
        target=target,
        addresses=addresses,
        ip_literal=address is not None,
    )


# ---------------------------------------------------------------------------- calling


@dataclass(frozen=True)
class FetchedContent:
    data: bytes
    content_type: str
    final_url: str


@dataclass(frozen=True)
class PostResult:
    status_code: int
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body_excerpt: str = ""
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    # made once: building a context (loading the CA bundle) costs tens of milliseconds
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


@contextmanager
def _client(timeout: float) -> Iterator[httpx.Client]:
    import httpx

    # a client per call: its pool must never reuse a connection made for another host name;
    # trust_env=False: a proxy from the environment would undo the address pinning
    with httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        trust_env=False,
        verify=_ssl_context(),
        headers={"user-agent": USER_AGENT},
    ) as client:
        yield client


def _send_pinned(
    client: httpx.Client,
    method: str,
    guarded: GuardedUrl,
    *,
    headers: Mapping[str, str],
    content: bytes | None = None,
) -> httpx.Response:
    """Send to the checked addresses in turn (the next only when connecting failed); stream the body."""
    import httpx

    last_error: Exception | None = None
    for address in guarded.addresses:
        request = client.build_request(
            method,
            guarded.pinned_url(address),
            headers={**headers, "host": guarded.host_header},
            content=content,
            extensions={"sni_hostname": guarded.host} if guarded.scheme == "https" else {},
        )
        try:
            return client.send(request, stream=True)
        except httpx.ConnectError as exc:
            last_error = exc
        except httpx.TimeoutException as exc:
            raise OutboundTimeout(f"{guarded.host} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise OutboundRequestFailed(f"the request to {guarded.host} failed: {_describe(exc)}") from exc
    raise OutboundRequestFailed(f"could not connect to {guarded.host}: {_describe(last_error)}")


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no address"
    text = str(exc) or type(exc).__name__
    return text[:200]


def _read_limited(response: httpx.Response, *, max_bytes: int, deadline: float, host: str) -> bytes:
    import httpx

    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise OutboundTooLarge(f"the content at {host} is larger than {max_bytes} bytes")
            chunks.append(chunk)
            # per-read timeouts alone let a slow trickle run forever
            if time.monotonic() > deadline:
                raise OutboundTimeout(f"{host} took too long to send its content")
    except httpx.TimeoutException as exc:
        raise OutboundTimeout(f"{host} stopped sending its content") from exc
    except httpx.HTTPError as exc:
        raise OutboundRequestFailed(f"reading from {host} failed: {_describe(exc)}") from exc
    return b"".join(chunks)


def fetch_url(
    url: str,
    *,
    allow_private: bool,
    max_bytes: int,
    timeout: float,
    allowed_content_types: Sequence[str] | None = None,
    resolver: Resolver = socket.getaddrinfo,
) -> FetchedContent:
    """GET ``url`` (following at most 3 redirects, each re-checked) and return its bytes.

    ``timeout`` bounds each network step (connect, each read); the whole fetch stops after
    three times that, so a server trickling bytes cannot hold the caller.

    Raises UnsafeUrl, UrlResolutionFailed, OutboundTimeout, OutboundTooLarge, OutboundBadStatus,
    OutboundBadContentType, TooManyRedirects or OutboundRequestFailed.
    """
    deadline = time.monotonic() + timeout * 3
    allowed = {t.lower() for t in allowed_content_types} if allowed_content_types else None
    current = url
    with _client(timeout) as client:
        for hop in range(MAX_REDIRECTS + 1):
            guarded = check_url(current, allow_private=allow_private, resolver=resolver)
            response = _send_pinned(client, "GET", guarded, headers={"accept": "*/*"})
            try:
                if response.status_code in (301, 302, 303, 307, 308) and "location" in response.headers:
                    if hop == MAX_REDIRECTS:
                        raise TooManyRedirects(f"{url} redirected more than {MAX_REDIRECTS} times")
                    current = urljoin(guarded.url, response.headers["location"])
                    continue
                if not 200 <= response.status_code < 300:
                    raise OutboundBadStatus(
                        f"{guarded.host} answered HTTP {response.status_code}", status=response.status_code
                    )
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > max_bytes:
                    raise OutboundTooLarge(f"the content at {guarded.host} is larger than {max_bytes} bytes")
                content_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
                if allowed is not None and content_type not in allowed:
                    raise OutboundBadContentType(
                        f"{guarded.host} sent {content_type or 'no content type'}; "
                        f"expected one of {', '.join(sorted(allowed))}"
                    )
                data = _read_limited(response, max_bytes=max_bytes, deadline=deadline, host=guarded.host)
                return FetchedContent(data=data, content_type=content_type, final_url=guarded.url)
            finally:
                response.close()
    raise TooManyRedirects(f"{url} redirected more than {MAX_REDIRECTS} times")  # pragma: no cover


def post_json(
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    allow_private: bool,
    timeout: float,
    max_response_bytes: int = 1024,
    resolver: Resolver = socket.getaddrinfo,
) -> PostResult:
    """POST a JSON body to ``url`` without following redirects; any status is a result.

    Raises UnsafeUrl before connecting to a forbidden address, and UrlResolutionFailed,
    OutboundTimeout or OutboundRequestFailed when no answer came.
    """
    guarded = check_url(url, allow_private=allow_private, resolver=resolver)
    started = time.monotonic()
    with _client(timeout) as client:
        response = _send_pinned(
            client,
            "POST",
            guarded,
            headers={"content-type": "application/json", **headers},
            content=body,
        )
        try:
            # the receiver's answer is only kept as an excerpt for the delivery log
            excerpt = b""
            try:
                for chunk in response.iter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= max_response_bytes or time.monotonic() - started > timeout:
                        break
            except Exception:  # the status is what counts; a broken body is not a failure
                pass
        finally:
            response.close()
    return PostResult(
        status_code=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        body_excerpt=excerpt[:max_response_bytes].decode("utf-8", "replace"),
        duration_ms=int((time.monotonic() - started) * 1000),
    )
