"""The outbound URL guard: what it refuses, what it lets through, and that it pins what it checked."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from likeness.errors import BadRequest
from likeness.net import (
    OutboundBadContentType,
    OutboundBadStatus,
    OutboundTooLarge,
    TooManyRedirects,
    UnsafeUrl,
    UrlResolutionFailed,
    check_url,
    fetch_url,
    post_json,
)


def resolver_for(*addresses: str) -> Any:
    """A getaddrinfo stand-in answering every name with ``addresses``."""

    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return resolve


PUBLIC = resolver_for("93.184.216.34")


def failing_resolver(*args: Any, **kwargs: Any) -> Any:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.8.9.10:8080/hook",
        "http://localhost./",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",  # CGNAT
        "http://[::1]/",
        "http://[fd12:3456::1]/",  # unique local
        # disguised loopback: decimal, hex, octal, short and IPv4-mapped forms
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0x7f.0.0.1/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[::ffff:10.0.0.1]/",
    ],
)
def test_private_and_loopback_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl) as info:
        check_url(url, allow_private=False, resolver=resolver_for("127.0.0.1"))
    assert info.value.error_code == "url_not_allowed"
    assert info.value.status_code == 400
    assert "does not call such addresses" in info.value.message
    assert info.value.fix


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://2852039166/",  # 169.254.169.254 as one number
        "http://0xa9.0xfe.0xa9.0xfe/",
        "http://0251.0376.0251.0376/",
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64
        "http://[2002:a9fe:a9fe::1]/",  # 6to4
        "http://169.254.1.1/",  # link-local
        "http://[fe80::1]/",
        "http://[fe80::1%25eth0]/",
        "http://0.0.0.0/",
        "http://0/",
        "http://[::]/",
        "http://224.0.0.1/",  # multicast
        "http://[ff02::1]/",
        "http://240.0.0.1/",  # reserved
        "http://255.255.255.255/",
        "http://100.100.100.200/",  # Alibaba metadata
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
def test_metadata_link_local_multicast_and_reserved_are_refused_even_when_private_is_allowed(
    url: str,
) -> None:
    for allow_private in (False, True):
        with pytest.raises(UnsafeUrl):
            check_url(url, allow_private=allow_private, resolver=PUBLIC)


@pytest.mark.parametrize(
    "addresses",
    [
        ("127.0.0.1",),
        ("169.254.169.254",),
        ("10.0.0.5",),
        ("::1",),
        ("::ffff:127.0.0.1",),
        ("fd00:ec2::254",),
        ("93.184.216.34", "127.0.0.1"),  # every answer counts, not just the first
    ],
)
def test_host_names_are_judged_by_every_address_they_resolve_to(addresses: tuple[str, ...]) -> None:
    with pytest.raises(UnsafeUrl) as info:
        check_url("https://hooks.example.com/in", allow_private=False, resolver=resolver_for(*addresses))
    assert "hooks.example.com resolves to" in info.value.message


def test_public_addresses_pass_and_the_url_is_normalised() -> None:
    guarded = check_url("HTTPS://Hooks.Example.COM/in?x=1#frag", allow_private=False, resolver=PUBLIC)
    assert guarded.url == "https://hooks.example.com/in?x=1"
    assert guarded.host == "hooks.example.com" and guarded.port == 443 and guarded.target == "/in?x=1"
    assert guarded.addresses == (ipaddress.ip_address("93.184.216.34"),)
    assert guarded.host_header == "hooks.example.com"
    assert guarded.pinned_url(guarded.addresses[0]) == "https://93.184.216.34:443/in?x=1"

    v6 = check_url("http://[2606:4700::1111]:8080", allow_private=False)
    assert v6.ip_literal and v6.url == "http://[2606:4700::1111]:8080/"
    assert v6.host_header == "[2606:4700::1111]:8080"
    assert check_url("http://8.8.8.8/", allow_private=False).addresses == (ipaddress.ip_address("8.8.8.8"),)
    # a mapped public address is as public as the address it maps
    assert check_url("http://[::ffff:8.8.8.8]/", allow_private=False).ip_literal


def test_allow_private_lets_loopback_and_private_networks_through() -> None:
    for url in ("http://127.0.0.1:9000/hook", "http://localhost:9000/", "http://10.0.0.8/", "http://[::1]/"):
        guarded = check_url(url, allow_private=True, resolver=resolver_for("127.0.0.1"))
        assert guarded.port in (80, 9000)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "//example.com/",
        "example.com/path",
        "http:///path",
        "http://",
        "",
        "   ",
        "http://user:pass@example.com/",
        "http://user@example.com/",
        "http://example.com\\@127.0.0.1/",
        "http://exa mple.com/",
        "http://example.com:99999/",
        "http://example.com:0/",
        "http://1.2.3.4.5/",
        "http://999.1.1.1/",
        "http://exa_mple.com/",
        "http://" + "a" * 2100 + ".com/",
    ],
)
def test_malformed_urls_schemes_and_credentials_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        check_url(url, allow_private=True, resolver=PUBLIC)


def test_unsafe_url_is_a_bad_request() -> None:
    assert issubclass(UnsafeUrl, BadRequest)
    detail = UnsafeUrl("nope").to_detail()
    assert detail["code"] == "url_not_allowed" and detail["message"] == "nope" and detail["fix"]


def test_a_name_that_does_not_resolve_is_its_own_error() -> None:
    with pytest.raises(UrlResolutionFailed) as info:
        check_url("https://no-such-host.example/", allow_private=False, resolver=failing_resolver)
    assert info.value.error_code == "url_unresolvable"


# ---------------------------------------------------------------------------- calls


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
    seen: list[dict[str, Any]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.seen.append(
            {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        )
        status, headers, payload = self.routes.get(self.path, (404, {}, b"missing"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.routes = {}
    _Handler.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_fetch_connects_to_the_checked_address_with_the_name_in_host(server: str) -> None:
    port = server.rsplit(":", 1)[1]
    _Handler.routes["/img.png"] = (200, {"content-type": "image/png"}, b"\x89PNG....")
    fetched = fetch_url(
        f"http://images.example.test:{port}/img.png",
        allow_private=True,
        max_bytes=1024,
        timeout=5,
        allowed_content_types=["image/png"],
        # the name resolves once, to loopback; nothing else is ever asked
        resolver=resolver_for("127.0.0.1"),
    )
    assert fetched.data == b"\x89PNG...." and fetched.content_type == "image/png"
    assert fetched.final_url == f"http://images.example.test:{port}/img.png"
    assert _Handler.seen[0]["headers"]["host"] == f"images.example.test:{port}"


def test_fetch_limits_size_type_status_and_redirects(server: str) -> None:
    _Handler.routes.update(
        {
            "/big": (200, {"content-type": "image/png"}, b"x" * 5000),
            "/html": (200, {"content-type": "text/html"}, b"<html>"),
            "/gone": (404, {}, b""),
            "/r1": (302, {"location": "/r2"}, b""),
            "/r2": (302, {"location": "/r3"}, b""),
            "/r3": (302, {"location": "/r4"}, b""),
            "/r4": (302, {"location": "/r5"}, b""),
            "/to-metadata": (302, {"location": "http://169.254.169.254/latest/"}, b""),
            "/ok": (301, {"location": "/final"}, b""),
            "/final": (200, {"content-type": "image/jpeg; charset=binary"}, b"jpeg"),
        }
    )
    kwargs: dict[str, Any] = {"allow_private": True, "max_bytes": 1000, "timeout": 5}
    with pytest.raises(OutboundTooLarge):
        fetch_url(f"{server}/big", **kwargs)
    with pytest.raises(OutboundBadContentType):
        fetch_url(f"{server}/html", allowed_content_types=["image/png"], **kwargs)
    with pytest.raises(OutboundBadStatus) as status:
        fetch_url(f"{server}/gone", **kwargs)
    assert status.value.status == 404
    with pytest.raises(TooManyRedirects):
        fetch_url(f"{server}/r1", **kwargs)
    # every hop is checked again
    with pytest.raises(UnsafeUrl):
        fetch_url(f"{server}/to-metadata", **kwargs)
    fetched = fetch_url(f"{server}/ok", allowed_content_types=["image/jpeg"], **kwargs)
    assert fetched.data == b"jpeg" and fetched.final_url == f"{server}/final"


def test_fetch_and_post_refuse_loopback_unless_allowed(server: str) -> None:
    _Handler.routes["/hook"] = (204, {}, b"")
    with pytest.raises(UnsafeUrl):
        fetch_url(f"{server}/hook", allow_private=False, max_bytes=10, timeout=5)
    with pytest.raises(UnsafeUrl):
        post_json(f"{server}/hook", body=b"{}", headers={}, allow_private=False, timeout=5)
    assert _Handler.seen == []


def test_post_does_not_follow_redirects(server: str) -> None:
    _Handler.routes["/moved"] = (307, {"location": "/elsewhere"}, b"")
    _Handler.routes["/hook"] = (503, {"retry-after": "7"}, b"busy " * 1000)
    moved = post_json(f"{server}/moved", body=b'{"a":1}', headers={"x-a": "b"}, allow_private=True, timeout=5)
    assert moved.status_code == 307 and not moved.ok
    assert [s["path"] for s in _Handler.seen] == ["/moved"]
    assert _Handler.seen[0]["body"] == b'{"a":1}'
    assert _Handler.seen[0]["headers"]["content-type"] == "application/json"
    busy = post_json(f"{server}/hook", body=b"{}", headers={}, allow_private=True, timeout=5)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "7"
    assert len(busy.body_excerpt) <= 1024


def test_https_is_pinned_to_the_checked_address_with_sni_and_host_for_the_name() -> None:
    import httpx

    from likeness.net.urlguard import _send_pinned

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    guarded = check_url(
        "https://hooks.example.com:8443/in?a=b", allow_private=False, resolver=resolver_for("93.184.216.34")
    )
    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        response = _send_pinned(client, "POST", guarded, headers={"x-test": "1"}, content=b"{}")
        response.close()
    request = seen[0]
    assert str(request.url) == "https://93.184.216.34:8443/in?a=b"
    assert request.headers["host"] == "hooks.example.com:8443"
    assert request.extensions["sni_hostname"] == "hooks.example.com"
