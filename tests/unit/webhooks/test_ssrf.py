"""Webhook destinations (SSRF): the address classifier, host spellings, the policy, and the
connect-time guard against a real local HTTP server (loopback only, no DNS but /etc/hosts)."""

from __future__ import annotations

import ipaddress
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxloop.settings import Settings, SettingsError
from cxloop.webhooks import ssrf
from cxloop.webhooks.model import WebhookInput, validate_webhook
from cxloop.webhooks.ssrf import (
    DestinationPolicy,
    DestinationRefused,
    GuardedTransport,
    blocked_reason,
    host_address,
    parse_networks,
    redact_url,
)

# -- the classifier --------------------------------------------------------------------------

BLOCKED = [
    # IPv4
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.255", "carrier-grade NAT"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.0.8", "reserved"),
    ("192.0.2.1", "documentation"),
    ("198.18.0.1", "benchmarking"),
    # IPv6
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fd00::1", "unique local"),
    ("fc00::1", "unique local"),
    ("fe80::1", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("2001::1", "Teredo"),
    ("100::1", "discard"),
    ("64:ff9b:1::1", "local-use NAT64"),
    ("4000::1", "outside global unicast"),
    # IPv6 forms that reach an IPv4 address
    ("::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1, loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped form of 169.254.169.254, link-local"),
    ("::ffff:10.1.2.3", "IPv4-mapped form of 10.1.2.3, private"),
    ("::127.0.0.1", "IPv4-compatible form of 127.0.0.1, loopback"),
    ("::8.8.8.8", "IPv4-compatible (deprecated)"),
    ("64:ff9b::7f00:1", "NAT64 form of 127.0.0.1, loopback"),
    ("64:ff9b::a9fe:a9fe", "NAT64 form of 169.254.169.254, link-local"),
    ("64:ff9b::10.0.0.1", "NAT64 form of 10.0.0.1, private"),
    ("2002:7f00:1::1", "6to4 form of 127.0.0.1, loopback"),
    ("2002:c0a8:101::1", "6to4 form of 192.168.1.1, private"),
    ("2002:a9fe:a9fe::", "6to4 form of 169.254.169.254, link-local"),
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below carrier-grade NAT
    "100.128.0.0",  # just above
    "172.15.255.255",
    "172.32.0.0",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",  # IPv4-mapped public address
    "64:ff9b::808:808",  # NAT64 of a public address
    "2002:808:808::1",  # 6to4 of a public address
]


@pytest.mark.parametrize(("address", "reason"), BLOCKED)
def test_non_public_addresses_are_blocked_with_a_reason(address: str, reason: str) -> None:
    found = blocked_reason(ipaddress.ip_address(address))
    assert found is not None and reason in found, found


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


# -- host spellings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("0x7f000001", "127.0.0.1"),  # hex, one part
        ("0x7f.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),  # decimal, one part
        ("127.1", "127.0.0.1"),  # short form
        ("127.0.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("127.0.0.1.", "127.0.0.1"),  # trailing dot
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("[::1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("fe80::1%eth0", "fe80::1"),  # zone id
        ("FE80::1", "fe80::1"),
    ],
)
def test_every_spelling_of_an_address_is_read_as_that_address(host: str, address: str) -> None:
    assert host_address(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "host", ["hooks.example.com", "localhost", "1.2.3.4.5", "256.256.256.256", "0x", "a.0x10"]
)
def test_names_are_not_addresses(host: str) -> None:
    assert host_address(host) is None


# -- the policy -------------------------------------------------------------------------------


def test_the_default_refuses_and_says_how_to_opt_in() -> None:
    refusal = DestinationPolicy().refusal(ipaddress.ip_address("10.1.2.3"))
    assert refusal is not None and "10.1.2.3 is private" in refusal
    assert "CXLOOP_WEBHOOK_ALLOW_PRIVATE" in refusal
    assert "CXLOOP_WEBHOOK_ALLOWED_NETWORKS" in refusal


def test_allow_private_lifts_every_refusal() -> None:
    policy = DestinationPolicy(allow_private=True)
    assert all(policy.refusal(ipaddress.ip_address(a)) is None for a, _ in BLOCKED)


def test_allowed_networks_open_only_those_ranges_in_every_form() -> None:
    policy = DestinationPolicy.from_settings(
        Settings(webhook_allowed_networks="10.0.0.0/8, fd00::/8 ,192.168.1.20")
    )
    allowed = ["10.1.2.3", "::ffff:10.1.2.3", "64:ff9b::10.1.2.3", "fd12::1", "192.168.1.20"]
    refused = ["127.0.0.1", "192.168.1.21", "169.254.169.254", "fe80::1", "::ffff:127.0.0.1"]
    for host in allowed:
        assert policy.refusal_for_host(host) is None, host
    for host in refused:
        assert policy.refusal_for_host(host) is not None, host
    assert policy.refusal_for_host("localhost") is not None


def test_bad_allowed_networks_are_a_clear_error_at_start() -> None:
    with pytest.raises(ValueError, match=r"CXLOOP_WEBHOOK_ALLOWED_NETWORKS: '10\.0\.0\.0/33'"):
        parse_networks("10.0.0.0/8,10.0.0.0/33")
    with pytest.raises(SettingsError, match=r"'10\.0\.0\.0/33' is not a network"):
        Settings.from_env({"CXLOOP_WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8,10.0.0.0/33"})


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://127.1/x",
        "http://2130706433/x",
        "http://0x7f000001/x",
        "http://127.0.0.1./x",
        "http://localhost:9000/",
        "http://LOCALHOST./",
        "http://api.localhost/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::127.0.0.1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:a00:1::]/",
        "http://[fd00::1]/",
        "http://[fe80::1%25eth0]/",
        "http://10.1.2.3/",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0:8000/",
        "http://100.64.0.1/",
    ],
)
def test_creation_refuses_every_spelling_of_a_private_host(url: str) -> None:
    webhook = WebhookInput(url=url, events=["ping"])
    (problem,) = validate_webhook(webhook, policy=DestinationPolicy())
    assert problem.startswith("url host ") and "CXLOOP_WEBHOOK_ALLOW_PRIVATE" in problem
    assert validate_webhook(webhook, policy=DestinationPolicy(allow_private=True)) == []


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://evil@127.0.0.1/", "credentials"),  # userinfo trick
        ("http://hooks.example.com@127.0.0.1/", "credentials"),
        ("http://0177.0.0.1/", "cannot be sent to"),  # httpx itself refuses octal
    ],
)
def test_creation_refuses_tricks_whatever_the_policy(url: str, fragment: str) -> None:
    for policy in (DestinationPolicy(), DestinationPolicy(allow_private=True)):
        (problem,) = validate_webhook(WebhookInput(url=url, events=["ping"]), policy=policy)
        assert fragment in problem


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.example.com/t/sk_live_secret?token=abc", "https://hooks.example.com"),
        ("http://127.0.0.1:8123/hooks/tok", "http://127.0.0.1:8123"),
        ("https://user:pw@h.example:8443/x#frag", "https://h.example:8443"),
        ("http://[::1]:9/x", "http://[::1]:9"),
        ("http://h.example:99999/x", "(unparseable url)"),
    ],
)
def test_redacted_urls_keep_only_scheme_host_and_port(url: str, shown: str) -> None:
    assert redact_url(url) == shown


# -- the connect-time guard ---------------------------------------------------------------------


@pytest.fixture
def local_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def _post(policy: DestinationPolicy, url: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=GuardedTransport(policy), timeout=5) as client:
        return await client.post(url, content=b"{}")


async def test_the_guard_refuses_loopback_by_default_and_sends_when_allowed(
    local_server: str,
) -> None:
    with pytest.raises(DestinationRefused, match=r"127\.0\.0\.1 is loopback"):
        await _post(DestinationPolicy(), f"{local_server}/hook")
    port = local_server.rsplit(":", 1)[1]
    # A name that resolves to loopback (/etc/hosts): refused after resolving, not by its spelling.
    with pytest.raises(DestinationRefused, match=r"localhost resolves to .* loopback"):
        await _post(DestinationPolicy(), f"http://localhost:{port}/hook")
    allowed = DestinationPolicy(allowed_networks=parse_networks("127.0.0.0/8"))
    assert (await _post(allowed, f"{local_server}/hook")).status_code == 204
    assert (
        await _post(DestinationPolicy(allow_private=True), f"{local_server}/")
    ).status_code == 204


class _RecordingBackend(httpcore.AsyncNetworkBackend):
    """Stands in for the real network: records where it is asked to connect."""

    def __init__(self, redirect_to: tuple[str, int] | None = None) -> None:
        self.hosts: list[str] = []
        self.redirect_to = redirect_to
        self.real = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.hosts.append(host)
        if self.redirect_to is None:
            raise httpcore.ConnectError("no network in this test")
        # What a hostile network could do: the socket ends up somewhere else.
        return await self.real.connect_tcp(*self.redirect_to)


async def test_a_name_is_resolved_once_and_the_checked_address_is_connected_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = iter([[("93.184.216.34", 443)], [("127.0.0.1", 443)]])  # a rebinding DNS
    lookups: list[str] = []

    async def getaddrinfo(host: str, port: int, **kwargs: Any) -> list[Any]:
        lookups.append(host)
        return [(2, 1, 6, "", address) for address in next(answers)]

    monkeypatch.setattr(ssrf.anyio, "getaddrinfo", getaddrinfo)
    backend = ssrf._GuardedBackend(DestinationPolicy())
    recording = _RecordingBackend()
    backend._inner = recording  # type: ignore[assignment]
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("rebind.example", 443)
    assert lookups == ["rebind.example"]  # one answer, checked, then used
    assert recording.hosts == ["93.184.216.34"]  # the checked address, never the name


async def test_a_name_with_any_private_answer_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    async def getaddrinfo(host: str, port: int, **kwargs: Any) -> list[Any]:
        return [(2, 1, 6, "", ("93.184.216.34", port)), (2, 1, 6, "", ("10.0.0.7", port))]

    monkeypatch.setattr(ssrf.anyio, "getaddrinfo", getaddrinfo)
    with pytest.raises(DestinationRefused, match=r"mixed\.example resolves to 10\.0\.0\.7"):
        await ssrf._GuardedBackend(DestinationPolicy()).connect_tcp("mixed.example", 80)


async def test_the_peer_actually_connected_to_is_checked_too(local_server: str) -> None:
    port = int(local_server.rsplit(":", 1)[1])
    backend = ssrf._GuardedBackend(DestinationPolicy())
    backend._inner = _RecordingBackend(redirect_to=("127.0.0.1", port))  # type: ignore[assignment]
    with pytest.raises(DestinationRefused, match=r"connected peer 127\.0\.0\.1 is loopback"):
        await backend.connect_tcp("93.184.216.34", 80)


async def test_unix_sockets_are_never_used() -> None:
    with pytest.raises(DestinationRefused):
        await ssrf._GuardedBackend(DestinationPolicy(allow_private=True)).connect_unix_socket("/x")


# -- properties ------------------------------------------------------------------------------

ipv4s = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)


@st.composite
def spellings(draw: st.DrawFn, address: ipaddress.IPv4Address) -> str:
    """``address`` as inet_aton reads it: 1 to 4 parts, each decimal, octal or hex."""
    value = int(address)
    parts_count = draw(st.integers(1, 4))
    # The last part holds the remaining bytes: a.b.c.d, a.b.(c·256+d), a.(b·65536+…), (all).
    octets = list(address.packed)
    parts = [*octets[: parts_count - 1], value & ((1 << (8 * (5 - parts_count))) - 1)]
    written = []
    for part in parts:
        style = draw(st.sampled_from(["dec", "oct", "hex", "HEX"]))
        if style == "dec":
            written.append(str(part))
        elif style == "oct":
            written.append("0" + format(part, "o"))
        else:
            text = "0x" + format(part, "x")
            written.append(text.upper() if style == "HEX" else text)
    return ".".join(written) + draw(st.sampled_from(["", "."]))


@given(address=ipv4s)
def test_ipv6_forms_of_an_ipv4_address_are_judged_by_it(address: ipaddress.IPv4Address) -> None:
    blocked = blocked_reason(address) is not None
    forms = [
        ipaddress.IPv6Address(f"::ffff:{address}"),  # IPv4-mapped
        ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | int(address)),  # NAT64
        ipaddress.IPv6Address((0x2002 << 112) | (int(address) << 80) | 1),  # 6to4
    ]
    for form in forms:
        assert (blocked_reason(form) is not None) is blocked, (address, form)
    # IPv4-compatible (::a.b.c.d) is deprecated: refused whatever it carries.
    assert blocked_reason(ipaddress.IPv6Address(int(address))) is not None


@given(data=st.data(), address=ipv4s)
def test_every_inet_aton_spelling_reads_as_its_address(
    data: st.DataObject, address: ipaddress.IPv4Address
) -> None:
    spelling = data.draw(spellings(address))
    assert host_address(spelling) == address, spelling


@given(data=st.data(), address=ipv4s.filter(lambda a: blocked_reason(a) is not None))
def test_no_spelling_of_a_blocked_address_is_accepted_at_creation(
    data: st.DataObject, address: ipaddress.IPv4Address
) -> None:
    spelling = data.draw(spellings(address))
    webhook = WebhookInput(url=f"http://{spelling}/hook", events=["ping"])
    # Refused as a blocked host, or as a URL the sender cannot use: never accepted.
    assert validate_webhook(webhook, policy=DestinationPolicy()) != [], spelling


# -- TLS: connect to the checked address, verify the URL's name ---------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[tuple[str | None, str]]]]:
    """An HTTPS server on 127.0.0.1 with a certificate for ``hooks.test`` only; it records the
    TLS server name and Host header of each request."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=hooks.test", "-addext", "subjectAltName=DNS:hooks.test"],
        check=True, capture_output=True,
    )  # fmt: skip
    seen: list[tuple[str | None, str]] = []
    names: dict[int, str | None] = {}
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, _: names.__setitem__(id(sock), name)  # type: ignore[assignment]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            seen.append((names.get(id(self.connection)), self.headers["host"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], cert, seen
    finally:
        server.shutdown()
        server.server_close()


async def test_https_goes_to_the_checked_address_and_verifies_the_urls_name(
    tls_server: tuple[int, Path, list[tuple[str | None, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, cert, seen = tls_server

    async def getaddrinfo(host: str, port: int, **kwargs: Any) -> list[Any]:
        assert host == "hooks.test"
        return [(2, 1, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(ssrf.anyio, "getaddrinfo", getaddrinfo)
    trusted = ssl.create_default_context(cafile=str(cert))
    policy = DestinationPolicy(allowed_networks=parse_networks("127.0.0.1/32"))
    transport = GuardedTransport(policy, ssl_context=trusted)
    async with httpx.AsyncClient(transport=transport, timeout=5) as client:
        answer = await client.post(f"https://hooks.test:{port}/hook", content=b"{}")
        assert answer.status_code == 204
        # The same checked address under another name: the certificate does not match.
        with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
            await client.post(f"https://127.0.0.1:{port}/hook", content=b"{}")
    assert seen == [("hooks.test", f"hooks.test:{port}")]
