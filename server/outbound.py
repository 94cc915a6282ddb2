"""The outbound-request guard: the server fetches only public http(s) addresses (SSRF defence).

A URL given by a client (URL ingest, a webhook's `callback_url`) is checked after DNS resolution, so a
name that resolves to 127.0.0.1 or 169.254.169.254 is refused as surely as the literal address. The
httpx client made by `outbound_client` checks every hop (redirects included) in its transport and then
connects to the very address it checked, so a DNS answer that changes between the check and the connect
(DNS rebinding) cannot steer the request elsewhere: the request goes to the checked IP with the original
`Host` header and, for https, the original name as SNI and for certificate verification.

`ALLOW_PRIVATE_URLS=1` (`allow_private=True`) lifts the address check, for a laptop or a trusted network;
schemes other than http and https are refused always, since nothing here can fetch them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = ("http", "https")
RESOLVE_TIMEOUT_S = 10.0
# 64:ff9b::/96 (RFC 6052) embeds an IPv4 address that a NAT64 gateway would reach.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class OutboundRefused(ValueError):
    """The URL may not be fetched; the message is one readable sentence saying why."""


def address_problem(ip: IPAddress) -> str | None:
    """Why `ip` is not a public address, or None when it is."""
    inner = _embedded_ipv4(ip)
    if inner is not None:
        return address_problem(inner)
    for kind, flag in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    ):
        if flag:
            return f"a {kind} address"
    # Shared address space (100.64/10), documentation and benchmarking ranges, ...: none of the above
    # flags, but not globally reachable either.
    if not ip.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


class Policy:
    """What may be fetched: public addresses, plus `allowed` networks, or anything with `allow_private`."""

    def __init__(self, *, allow_private: bool, allowed: Iterable[IPNetwork] = ()) -> None:
        self.allow_private = allow_private
        self.allowed = tuple(allowed)

    def check_scheme_and_host(self, url: httpx.URL) -> str:
        if url.scheme not in SCHEMES:
            raise OutboundRefused(f"Only http and https URLs can be fetched, not {url.scheme or 'a bare path'}.")
        if not url.host:
            raise OutboundRefused("The URL has no host.")
        return url.host

    def check_address(self, host: str, ip: IPAddress) -> None:
        if self.allow_private or any(ip in net for net in self.allowed):
            return
        problem = address_problem(ip)
        if problem is not None:
            named = str(ip) if host == str(ip) else f"{host} ({ip})"
            raise OutboundRefused(f"{named} is {problem}; the server fetches only public addresses.")

    async def resolve(self, url: httpx.URL) -> list[IPAddress]:
        """The checked addresses to connect to for `url`, in the resolver's order."""
        host = self.check_scheme_and_host(url)
        port = url.port or (443 if url.scheme == "https" else 80)
        addresses = await resolve(host, port)
        # Every answer must pass: a name that mixes a public and a private address is refused.
        for ip in addresses:
            self.check_address(host, ip)
        return addresses


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The host's addresses, resolved in the loop's executor (getaddrinfo blocks)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        raise OutboundRefused(f"The host {host} does not resolve.") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"); link-local is refused anyway.
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise OutboundRefused(f"The host {host} does not resolve.")
    return addresses


async def check_url(url: str, *, allow_private: bool, allowed: Iterable[IPNetwork] = ()) -> None:
    """Raise OutboundRefused unless `url` is http(s) and every address its host resolves to is public."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise OutboundRefused(f"{url!r} is not a valid URL.") from exc
    policy = Policy(allow_private=allow_private, allowed=allowed)
    if allow_private:
        policy.check_scheme_and_host(parsed)
        return
    await policy.resolve(parsed)


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks each request (each redirect hop is one) and connects to the address it checked."""

    def __init__(self, policy: Policy, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpx.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.policy.allow_private:
            self.policy.check_scheme_and_host(request.url)
            return await self.inner.handle_async_request(request)
        addresses = await self.policy.resolve(request.url)
        last: httpx.ConnectError | None = None
        for ip in addresses:
            try:
                return await self.inner.handle_async_request(_pinned(request, ip))
            except httpx.ConnectError as exc:  # the next address, like a browser would
                last = exc
        assert last is not None
        raise last

    async def aclose(self) -> None:
        await self.inner.aclose()


def _pinned(request: httpx.Request, ip: IPAddress) -> httpx.Request:
    """A copy of `request` addressed to `ip`: same Host header, same SNI and certificate name.

    A copy, not an edit: httpx resolves a relative redirect against the request it sent, which must keep
    the name."""
    host = request.url.host
    extensions = dict(request.extensions)
    if request.url.scheme == "https":
        extensions["sni_hostname"] = host
    return httpx.Request(request.method, request.url.copy_with(host=str(ip)), headers=request.headers,
                         stream=request.stream, extensions=extensions)


def outbound_client(*, allow_private: bool, allowed: Iterable[IPNetwork] = (),
                    timeout: httpx.Timeout | float = 30.0, max_redirects: int = 5,
                    verify: ssl.SSLContext | bool = True, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx AsyncClient whose every request and redirect hop goes through the guard.

    `verify` belongs to the transport (httpx ignores a client's `verify` beside its own transport).
    Proxies from the environment are ignored (a proxy would make the checked address meaningless).
    OutboundRefused propagates out of `send`/`stream` as is; other failures are httpx errors."""
    inner = httpx.AsyncHTTPTransport(retries=0, verify=verify)
    transport = GuardedTransport(Policy(allow_private=allow_private, allowed=allowed), inner)
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=True,
                             max_redirects=max_redirects, trust_env=False, **kwargs)
