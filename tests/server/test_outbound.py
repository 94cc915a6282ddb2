from __future__ import annotations

import asyncio
import ipaddress
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.servers import free_port, need
from vidpulse.server.outbound import OutboundRefused, address_problem, check_url, outbound_client

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"), ("fc00::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("100.64.0.1", "not a public address"), ("192.0.2.1", "private"),
    # IPv6 forms that carry an IPv4 address: mapped, 6to4, NAT64.
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"), ("2002:7f00:1::", "loopback"),
    ("64:ff9b::a9fe:a9fe", "link-local"),
])
def test_non_public_addresses_are_named(address, kind):
    problem = address_problem(ipaddress.ip_address(address))
    assert problem is not None and kind in problem


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert address_problem(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(("url", "reason"), [
    ("file:///etc/passwd", "Only http and https"),
    ("gopher://example.com/", "Only http and https"),
    ("http://127.0.0.1/", "loopback"),
    ("http://localhost:8080/x", "localhost ("),
    ("http://[::ffff:169.254.169.254]/latest/meta-data", "link-local"),
    ("http://2130706433/", "loopback"),  # 127.0.0.1 spelled as one number; getaddrinfo accepts it
    ("http://10.0.0.1:9000/video.mp4", "private"),
    ("http://no-such-host.invalid/v.mp4", "does not resolve"),
    ("http://", "no host"),
])
async def test_check_url_refuses_with_a_reason(url, reason):
    with pytest.raises(OutboundRefused, match=reason.replace("(", r"\(")):
        await check_url(url, allow_private=False)


async def test_check_url_passes_public_addresses_without_dns():
    await check_url("https://8.8.8.8/v.mp4", allow_private=False)
    await check_url("http://[2606:4700:4700::1111]:8080/", allow_private=False)


async def test_allow_private_lifts_the_address_check_but_not_the_scheme_check():
    await check_url("http://127.0.0.1/", allow_private=True)
    await check_url("http://no-such-host.invalid/", allow_private=True)  # no DNS when nothing is checked
    with pytest.raises(OutboundRefused):
        await check_url("file:///etc/passwd", allow_private=True)


@dataclass
class Target:
    """A real HTTP server on 127.0.0.1 that records what reached it."""

    port: int
    hits: list[str] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    async for target in _serve():
        yield target


async def _serve(**ssl_files: str) -> AsyncIterator[Target]:
    target = Target(free_port())

    async def hello(request: Request) -> Response:
        target.hits.append(request.url.path)
        return JSONResponse({"host": request.headers["host"]})

    async def redirect(request: Request) -> Response:
        target.hits.append(request.url.path)
        return RedirectResponse(request.query_params["to"], status_code=302)

    app = Starlette(routes=[Route("/hello", hello), Route("/redirect", redirect)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=target.port, log_level="warning",
                                           **ssl_files))  # type: ignore[arg-type]
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
            await asyncio.sleep(0.01)
    yield target
    server.should_exit = True
    await task


async def test_client_refuses_before_connecting(target):
    async with outbound_client(allow_private=False) as client:
        with pytest.raises(OutboundRefused, match="loopback"):
            await client.get(target.url("/hello"))
    assert target.hits == []


async def test_client_connects_to_the_checked_address_with_the_original_host(target):
    async with outbound_client(allow_private=False, allowed=LOOPBACK) as client:
        answer = await client.get(target.url("/hello", host="localhost"))
    assert answer.status_code == 200
    # The connection went to an address checked by the guard; the server still saw the name.
    assert answer.json() == {"host": f"localhost:{target.port}"}
    assert str(answer.request.url) == target.url("/hello", host="localhost")


async def test_every_redirect_hop_is_checked(target):
    async with outbound_client(allow_private=False, allowed=LOOPBACK) as client:
        # A relative redirect stays on the checked name.
        answer = await client.get(target.url("/redirect"), params={"to": "/hello"})
        assert answer.status_code == 200 and answer.json()["host"] == f"127.0.0.1:{target.port}"
        with pytest.raises(OutboundRefused, match=r"127\.0\.0\.2 is a loopback"):
            await client.get(target.url("/redirect"), params={"to": f"http://127.0.0.2:{target.port}/hello"})
        with pytest.raises(OutboundRefused, match=r"169\.254\.169\.254"):
            await client.get(target.url("/redirect"), params={"to": "http://169.254.169.254/latest/meta-data"})
        with pytest.raises((OutboundRefused, httpx.UnsupportedProtocol)):
            await client.get(target.url("/redirect"), params={"to": "file:///etc/passwd"})
    assert target.hits == ["/redirect", "/hello", "/redirect", "/redirect", "/redirect"]


async def test_allow_private_client_reaches_loopback(target):
    async with outbound_client(allow_private=True) as client:
        answer = await client.get(target.url("/redirect"), params={"to": target.url("/hello")})
    assert answer.status_code == 200
    assert target.hits == ["/redirect", "/hello"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A key and a self-signed certificate for the name `localhost` only (no IP address)."""
    need("openssl", shutil.which("openssl") is not None)
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return str(key), str(cert)


@pytest.fixture
async def tls_target(certificate) -> AsyncIterator[tuple[Target, ssl.SSLContext]]:
    key, cert = certificate
    async for target in _serve(ssl_keyfile=key, ssl_certfile=cert):
        yield target, ssl.create_default_context(cafile=cert)


async def test_https_to_the_checked_address_still_verifies_the_name(tls_target):
    target, trust = tls_target
    url = f"https://localhost:{target.port}/hello"
    async with outbound_client(allow_private=False, allowed=LOOPBACK, verify=trust) as client:
        answer = await client.get(url)
    # The connection went to 127.0.0.1 or ::1, yet SNI and the certificate check used the name.
    assert answer.status_code == 200 and answer.json() == {"host": f"localhost:{target.port}"}
    async with httpx.AsyncClient(verify=trust) as plain:
        with pytest.raises(httpx.ConnectError):  # the certificate names no address
            await plain.get(f"https://127.0.0.1:{target.port}/hello")
