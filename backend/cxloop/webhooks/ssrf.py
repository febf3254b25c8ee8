"""Where webhooks may be sent: the address classifier and a connect-time guard (SSRF).

Webhook URLs are chosen by whoever holds a project's secret key, and the request leaves from
inside the server's network. By default only globally routable unicast addresses are allowed;
``CXLOOP_WEBHOOK_ALLOW_PRIVATE`` lifts the check and ``CXLOOP_WEBHOOK_ALLOWED_NETWORKS`` allows
chosen ranges (on-premise receivers). The check runs on the address actually connected to: the
HTTP client's network backend resolves the name once, refuses unless every answer is allowed,
connects to a checked address and checks the socket's peer again, so a second DNS answer
(rebinding) cannot swap in an internal one, and TLS still verifies the URL's host name.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import ssl
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx

from cxloop.settings import parse_networks

__all__ = [
    "DestinationPolicy",
    "DestinationRefused",
    "GuardedTransport",
    "InvalidDestination",
    "blocked_reason",
    "host_address",
    "parse_networks",
    "redact_url",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# RFC 6890 and the IANA special-purpose registries: every range here is refused by default.
_BLOCKED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "unspecified ('this network')"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "carrier-grade NAT (shared address space)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local (cloud metadata lives here)"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "reserved (IETF protocol assignments)"),
    (_V4("192.0.2.0/24"), "reserved (documentation)"),
    (_V4("192.88.99.0/24"), "reserved (6to4 relay anycast)"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("198.18.0.0/15"), "reserved (benchmarking)"),
    (_V4("198.51.100.0/24"), "reserved (documentation)"),
    (_V4("203.0.113.0/24"), "reserved (documentation)"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved (incl. broadcast)"),
)
_BLOCKED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("::/96"), "IPv4-compatible (deprecated)"),
    (_V6("64:ff9b:1::/48"), "private (local-use NAT64)"),
    (_V6("100::/64"), "reserved (discard-only)"),
    (_V6("2001::/23"), "reserved (IETF protocol assignments, incl. Teredo)"),
    (_V6("2001:db8::/32"), "reserved (documentation)"),
    (_V6("fc00::/7"), "private (unique local)"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local (deprecated)"),
    (_V6("ff00::/8"), "multicast"),
)
_GLOBAL_UNICAST_V6 = _V6("2000::/3")
# IPv6 forms that carry an IPv4 address: judged by the IPv4 address they reach.
_NAT64 = _V6("64:ff9b::/96")
_SIX_TO_FOUR = _V6("2002::/16")
_IPV4_COMPATIBLE = _V6("::/96")

# What inet_aton (and so getaddrinfo and most HTTP stacks) reads as IPv4: 1 to 4 parts, each
# decimal, octal (leading 0) or hex (0x): 127.1, 0177.0.0.1, 0x7f000001, 2130706433.
_INET_ATON = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}", re.IGNORECASE)


_OPT_IN = (
    "; webhooks go to public addresses only unless CXLOOP_WEBHOOK_ALLOW_PRIVATE=true or "
    "CXLOOP_WEBHOOK_ALLOWED_NETWORKS includes it"
)


class DestinationRefused(Exception):
    """The destination is an address this server is configured not to send to."""

    code = "blocked_address"


class InvalidDestination(Exception):
    """The URL cannot be sent to at all (unparseable, no host, wrong scheme)."""

    code = "invalid_url"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 form reaches, and the form's name, if it carries one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped"
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "NAT64"
    if address in _SIX_TO_FOUR:
        return ipaddress.IPv4Address((int(address) >> 80) & 0xFFFFFFFF), "6to4"
    if address in _IPV4_COMPATIBLE and int(address) > 1:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "IPv4-compatible"
    return None


def blocked_reason(address: IPAddress) -> str | None:
    """Why ``address`` is not a public destination (e.g. ``"loopback"``); None when it is."""
    if isinstance(address, ipaddress.IPv4Address):
        for network, reason in _BLOCKED_V4:
            if address in network:
                return reason
        return None
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        ipv4, form = embedded
        inner = blocked_reason(ipv4)
        if inner is not None:
            return f"{form} form of {ipv4}, {inner}"
        if form != "IPv4-compatible":
            return None
    for network6, reason in _BLOCKED_V6:
        if address in network6:
            return reason
    if address not in _GLOBAL_UNICAST_V6:
        return "reserved (outside global unicast 2000::/3)"
    return None


def host_address(host: str) -> IPAddress | None:
    """The address a URL host names literally, read as a browser or inet_aton would; else None.

    Accepts brackets, an IPv6 zone, trailing dots, and the short, octal and hex IPv4 forms.
    """
    host = host.strip().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.split("%", 1)[0]  # an IPv6 zone id (fe80::1%eth0)
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _INET_ATON.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:  # a part out of range: not an address, and no name either
            return None
    return None


@dataclass(frozen=True)
class DestinationPolicy:
    """Which addresses webhooks may reach: public ones, plus what the operator allowed."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: object) -> DestinationPolicy:
        """From ``webhook_allow_private`` and ``webhook_allowed_networks`` (ValueError if bad)."""
        allow = bool(getattr(settings, "webhook_allow_private", False))
        networks = parse_networks(str(getattr(settings, "webhook_allowed_networks", "") or ""))
        return cls(allow_private=allow, allowed_networks=networks)

    def reason(self, address: IPAddress) -> str | None:
        """Why ``address`` is refused (e.g. ``"loopback"``), or None when it may be reached."""
        if self.allow_private:
            return None
        reason = blocked_reason(address)
        return None if reason is None or self._allowed(address) else reason

    def refusal(self, address: IPAddress) -> str | None:
        """A sentence saying why ``address`` is refused and how to allow it, or None."""
        reason = self.reason(address)
        return None if reason is None else f"{address} is {reason}{_OPT_IN}"

    def _allowed(self, address: IPAddress) -> bool:
        candidates: list[IPAddress] = [address]
        if isinstance(address, ipaddress.IPv6Address):
            embedded = _embedded_ipv4(address)
            if embedded is not None:
                candidates.append(embedded[0])
        return any(
            candidate.version == network.version and candidate in network
            for candidate in candidates
            for network in self.allowed_networks
        )

    def refusal_for_host(self, host: str) -> str | None:
        """The refusal for a URL host without asking DNS: literal addresses and ``localhost``."""
        if self.allow_private:
            return None
        name = host.strip().rstrip(".").lower()
        if name == "localhost" or name.endswith(".localhost"):
            loopback = ipaddress.IPv4Address("127.0.0.1")
            return None if self._allowed(loopback) else f"{host} is loopback{_OPT_IN}"
        address = host_address(host)
        return None if address is None else self.refusal(address)


def redact_url(url: str | httpx.URL) -> str:
    """``scheme://host[:port]`` only: paths and queries of webhook URLs often carry tokens."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "(unparseable url)"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


# -- the connect-time guard ------------------------------------------------------------------


async def _resolve(host: str, port: int) -> list[IPAddress]:
    literal = host_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves once, refuses unless every address is allowed, connects to a checked one."""

    def __init__(self, policy: DestinationPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await _resolve(host, port)
        for address in addresses:
            reason = self.policy.reason(address)
            if reason is not None:
                if str(address) == host:
                    name = host
                elif host_address(host) is not None:  # another spelling of the address
                    name = f"{host} is {address}, which"
                else:
                    name = f"{host} resolves to {address}, which"
                raise DestinationRefused(f"{name} is {reason}{_OPT_IN}")
        last_error: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            # The peer the socket is actually connected to, whatever resolved it.
            peer = stream.get_extra_info("server_addr")
            peer_address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0]) if peer else None
            reason = "unknown" if peer_address is None else self.policy.reason(peer_address)
            if reason is not None:
                await stream.aclose()
                raise DestinationRefused(
                    f"{host}: the connected peer {peer_address} is {reason}{_OPT_IN}"
                )
            return stream
        raise last_error or httpcore.ConnectError(f"{host} resolved to no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("webhooks are never sent to a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport whose every connection goes through the destination policy.

    Proxies are never used (the policy must see the address actually connected to).
    """

    def __init__(
        self,
        policy: DestinationPolicy,
        *,
        ssl_context: ssl.SSLContext | None = None,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),  # noqa: B008
    ) -> None:
        super().__init__(trust_env=False, limits=limits)
        # httpx takes no network backend, so its pool is replaced by one built the same way
        # with the guarded backend (httpx keeps the pool in ``_pool`` since 0.18).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(policy),
        )
