"""URL source against an aiohttp server on 127.0.0.1 (allowed through ``URL_ALLOW_PRIVATE_HOSTS``), installed
through ``host.addons``; the address guard with a fake resolver; catalogue cases U 34–41."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

import kiroclaw
from kiroclaw import LimitExceededError, QuotaExceededError, Scope, SourceError, SpecError, UnsafeContentError
from kiroclaw.acquire import check_url, ip_literal, is_public_address
from kiroclaw.config import Settings
from kiroclaw.host import Host

from .conftest import USER, HttpServer, Invariants, TarMember, expect_refusal, make_tar, make_zip, open_fds, skill_md


def package_zip() -> bytes:
    return make_zip(
        [
            ("weather-tools/", b""),
            ("weather-tools/skills/forecast/SKILL.md", skill_md("forecast")),
            ("weather-tools/skills/radar/SKILL.md", skill_md("radar")),
            ("weather-tools/recipes/daily.md", b"---\nname: Daily\ndescription: Daily weather.\n---\nGo.\n"),
        ]
    )


async def test_installs_zip_targz_tgz_tar_skill_and_raw_skill_md(
    acq_host: Host, http_server: HttpServer, workspace: Path
) -> None:
    http_server.routes["/dl/weather-tools.zip"] = package_zip()
    http_server.routes["/dl/notes.tar.gz"] = make_tar(
        [TarMember("SKILL.md", skill_md("notes")), TarMember("scripts/run.sh", b"#!/bin/sh\n", mode=0o755)]
    )
    http_server.routes["/dl/t.tgz"] = make_tar([TarMember("tgz-skill/SKILL.md", skill_md("tgz-skill"))])
    http_server.routes["/dl/plain.tar"] = make_tar([TarMember("SKILL.md", skill_md("plain"))], compression="")
    http_server.routes["/dl/pdf.skill"] = make_zip([("pdf/SKILL.md", skill_md("pdf")), ("pdf/ref.md", b"x")])
    http_server.routes["/raw/SKILL.md"] = skill_md("raw-one")
    scope = Scope.user(USER)

    package = (await acq_host.addons.install(http_server.url("/dl/weather-tools.zip"), scope)).record
    assert (package.name, package.kind, package.path) == ("weather-tools", "plugin", ".kiro/plugins/weather-tools")
    assert package.skills == ["forecast", "radar"] and package.recipes == ["daily"]
    assert package.origin["sha256"] == hashlib.sha256(http_server.routes["/dl/weather-tools.zip"]).hexdigest()  # type: ignore[arg-type]

    expected = {"/dl/notes.tar.gz": "notes", "/dl/t.tgz": "tgz-skill", "/dl/plain.tar": "plain", "/dl/pdf.skill": "pdf"}
    for path, name in expected.items():
        record = (await acq_host.addons.install(http_server.url(path), scope)).record
        assert (record.name, record.kind, record.path) == (name, "skill", f".kiro/skills/{name}")
    run_sh = workspace / str(USER) / ".kiro" / "skills" / "notes" / "scripts" / "run.sh"
    assert run_sh.stat().st_mode & 0o777 == 0o755
    raw = (await acq_host.addons.install(http_server.url("/raw/SKILL.md"), scope)).record
    assert (raw.name, raw.kind) == ("raw-one", "skill")
    assert (workspace / str(USER) / ".kiro" / "skills" / "raw-one" / "SKILL.md").read_bytes() == skill_md("raw-one")


async def test_sha256_pin_is_checked_before_extraction(
    acq_host: Host, http_server: HttpServer, invariants: Invariants
) -> None:
    # The archive is also hostile (a link): a wrong digest must be what refuses it, before extraction.
    hostile = make_tar([TarMember("SKILL.md", b"", type=b"2", linkname="/etc/passwd")])
    good = make_tar([TarMember("pinned/SKILL.md", skill_md("pinned"))])
    http_server.routes["/a/hostile.tar.gz"] = hostile
    http_server.routes["/a/good.tar.gz"] = good
    scope = Scope.user(USER)
    wrong = "0" * 64
    await expect_refusal(
        invariants,
        acq_host.addons.install(http_server.url("/a/hostile.tar.gz") + f"#sha256={wrong}", scope),
        UnsafeContentError,
        "integrity mismatch",
    )
    digest = hashlib.sha256(good).hexdigest()
    record = (
        await acq_host.addons.install(http_server.url("/a/good.tar.gz") + f"#sha256={digest.upper()}", scope)
    ).record
    assert record.pinned and record.origin["sha256"] == digest
    [result] = await acq_host.addons.update("pinned", scope)
    assert result.status == "pinned"


async def test_update_redownloads_and_reports_a_new_digest(acq_host: Host, http_server: HttpServer) -> None:
    first = make_tar([TarMember("SKILL.md", skill_md("moving"))])
    http_server.routes["/m/moving.tar.gz"] = first
    scope = Scope.user(USER)
    await acq_host.addons.install(http_server.url("/m/moving.tar.gz"), scope)
    [same] = await acq_host.addons.update("moving", scope)
    assert same.status == "current"
    second = make_tar([TarMember("SKILL.md", skill_md("moving")), TarMember("extra.md", b"new")])
    http_server.routes["/m/moving.tar.gz"] = second
    [moved] = await acq_host.addons.update("moving", scope)
    assert moved.status == "updated"
    assert acq_host.addons.get("moving", scope).origin["sha256"] == hashlib.sha256(second).hexdigest()


def test_claims_are_disjoint_from_github_and_paths(acq_host: Host) -> None:
    sources = acq_host.sources

    def pick(spec: str, sources: object) -> str | None:
        # the core decides from every source's claim (no plugin consults another); None: nobody claims it
        try:
            return acq_host.source_for(spec)[0].name
        except kiroclaw.SpecError:
            return None

    assert pick(spec="https://example.com/a/b.zip", sources=sources) == "url"
    assert pick(spec="https://github.com/o/r/releases/download/v1/x.tar.gz", sources=sources) == "url"
    assert pick(spec="https://raw.githubusercontent.com/o/r/main/SKILL.md", sources=sources) == "url"
    assert pick(spec="https://github.com/o/r", sources=sources) == "github"
    assert pick(spec="http://example.com/a.zip", sources=sources) != "url"  # plain http: not allowed
    assert pick(spec="http://127.0.0.1:8/a.zip", sources=sources) == "url"  # admin-allowed host
    assert pick(spec="https://example.com/page.html", sources=sources) != "url"


# --- the address guard (case 34, 35) ---------------------------------------------------------------

PRIVATE_LITERALS = [
    "127.0.0.1",
    "[::1]",
    "169.254.169.254",
    "[::ffff:169.254.169.254]",
    "2130706433",
    "0x7f.1",
    "0",
    "100.64.0.1",
    "[fd00::1]",
    "[64:ff9b::a9fe:a9fe]",
    "[fe80::1%25eth0]",
    "10.1.2.3",
    "192.168.0.1",
    "224.0.0.1",
    "240.0.0.1",
    "[2002:a9fe:a9fe::1]",
    "[::]",
]


class FakeResolver:
    """Answers from a table; counts calls; unknown hosts fail like a DNS miss."""

    def __init__(self, table: dict[str, list[list[str]]]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        answers = self.table.get(host)
        if not answers:
            raise SourceError(f"cannot resolve host {host}")
        return answers[min(len(self.calls) - 1, len(answers) - 1)]


@pytest.fixture
def public_only(acq_settings: Settings) -> Host:
    """A host that allows no private address at all."""
    return Host(acq_settings.model_copy(update={"url_allow_private_hosts": []}))


@pytest.mark.parametrize("literal", PRIVATE_LITERALS)
async def test_private_literals_are_refused_before_connecting(
    public_only: Host, literal: str, canary: Path, tmp_path: Path, workspace: Path
) -> None:
    resolver = FakeResolver({})
    public_only.source("url").resolver = resolver  # type: ignore[attr-defined]
    invariants = Invariants(tmp_path, workspace)
    invariants.take()
    await expect_refusal(
        invariants,
        public_only.addons.install(f"https://{literal}/x.zip", Scope.user(USER)),
        UnsafeContentError,
        "private or reserved",
    )
    assert resolver.calls == []


def test_address_classification() -> None:
    for text in ("8.8.8.8", "2606:4700::1111", "93.184.216.34"):
        assert is_public_address(text), text
    for text in ("127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::7f00:1", "2001::7f00:1", "::127.0.0.1", "fe80::1%eth0"):
        assert not is_public_address(text.split("%")[0]) or "%" in text, text
    assert ip_literal("0x7f.1") == "127.0.0.1" and ip_literal("2130706433") == "127.0.0.1"
    assert ip_literal("example.com") is None


async def test_hostname_with_any_private_address_is_refused(
    public_only: Host, canary: Path, tmp_path: Path, workspace: Path
) -> None:
    resolver = FakeResolver({"mixed.test": [["93.184.216.34", "10.0.0.5"]], "v6.test": [["::ffff:127.0.0.1"]]})
    public_only.source("url").resolver = resolver  # type: ignore[attr-defined]
    invariants = Invariants(tmp_path, workspace)
    invariants.take()
    for host in ("mixed.test", "v6.test"):
        await expect_refusal(
            invariants,
            public_only.addons.install(f"https://{host}/x.zip", Scope.user(USER)),
            UnsafeContentError,
            "private or reserved",
        )


async def test_connection_goes_to_the_vetted_address_only(acq_settings: Settings, http_server: HttpServer) -> None:
    # pinned.test is admin-allowed to be private; a second lookup would say 10.9.9.9 (rebinding).
    host = Host(acq_settings.model_copy(update={"url_allow_private_hosts": ["pinned.test"]}))
    resolver = FakeResolver({"pinned.test": [["127.0.0.1"], ["10.9.9.9"]]})
    host.source("url").resolver = resolver  # type: ignore[attr-defined]
    http_server.routes["/p/pin.tar.gz"] = make_tar([TarMember("SKILL.md", skill_md("pin"))])
    record = (await host.addons.install(http_server.url("/p/pin.tar.gz", host="pinned.test"), Scope.user(USER))).record
    assert record.name == "pin"
    assert resolver.calls == ["pinned.test"]


# --- redirects and URL text (case 36, 37) ---------------------------------------------------------


async def test_redirects_are_revalidated_and_capped(
    acq_settings: Settings, http_server: HttpServer, canary: Path, tmp_path: Path, workspace: Path
) -> None:
    host = Host(acq_settings.model_copy(update={"url_allow_private_hosts": ["127.0.0.1", "files.test"]}))
    resolver = FakeResolver({"files.test": [["127.0.0.1"]], "internal.test": [["10.0.0.7"]]})
    host.source("url").resolver = resolver  # type: ignore[attr-defined]
    good = make_tar([TarMember("SKILL.md", skill_md("hopped"))])
    http_server.routes["/final.tar.gz"] = good

    def redirect(target: str, status: int = 302) -> web.Response:
        return web.Response(status=status, headers={"Location": target})

    port = http_server.port
    for index in range(1, 11):
        nxt = "/final.tar.gz" if index == 3 else f"/hop{index + 1}.tar.gz"
        http_server.routes[f"/hop{index}.tar.gz"] = lambda _r, n=nxt: _async(redirect(n, 307))
    http_server.routes["/to-loop.tar.gz"] = lambda _r: _async(redirect("/to-loop.tar.gz"))
    http_server.routes["/to-file.tar.gz"] = lambda _r: _async(redirect("file:///etc/passwd"))
    http_server.routes["/to-ftp.tar.gz"] = lambda _r: _async(redirect("ftp://127.0.0.1/x.tar.gz"))
    http_server.routes["/to-localhost.tar.gz"] = lambda _r: _async(redirect(f"http://localhost:{port}/final.tar.gz"))
    http_server.routes["/to-internal.tar.gz"] = lambda _r: _async(redirect("https://internal.test/final.tar.gz"))
    http_server.routes["/to-far.tar.gz"] = lambda _r: _async(redirect("/hop1.tar.gz"))
    scope = Scope.user(USER)

    record = (await host.addons.install(http_server.url("/hop1.tar.gz", host="files.test"), scope)).record
    assert record.name == "hopped"  # 3 redirects are fine
    await host.addons.remove("hopped", scope)
    invariants = Invariants(tmp_path, workspace)
    invariants.take()
    cases = [
        ("/to-loop.tar.gz", LimitExceededError, "too many redirects"),
        ("/to-far.tar.gz", LimitExceededError, "too many redirects"),
        ("/to-file.tar.gz", SpecError, "only https"),
        ("/to-ftp.tar.gz", SpecError, "only https"),
        ("/to-localhost.tar.gz", SpecError, "plain http"),
        ("/to-internal.tar.gz", UnsafeContentError, "private or reserved"),
    ]
    for path, error, message in cases:
        await expect_refusal(invariants, host.addons.install(http_server.url(path), scope), error, message)
    assert "internal.test" in resolver.calls  # the hop was vetted, then refused before connecting


async def _async(value: web.StreamResponse) -> web.StreamResponse:
    return value


BAD_URLS = [
    "url:file:///etc/passwd.zip",
    "url:ftp://example.com/x.zip",
    "url:data:application/zip;base64,UEsFBg==",
    "url:gopher://example.com/x.zip",
    "https://github.com@evil.test/x.zip",
    "https://evil.test\\@good.test/x.zip",
    "https://evil.test/x%00.zip",
    "https://user:pw@evil.test/x.zip",
    "url:https://evil.test:8443/x.zip",
    "url:https://evil.test/x.zip#sha256=nothex",
    "url:https://evil.test/page.html",
]


@pytest.mark.parametrize("spec", BAD_URLS)
async def test_bad_urls_are_refused_as_specs(acq_host: Host, invariants: Invariants, spec: str) -> None:
    await expect_refusal(invariants, acq_host.addons.install(spec, Scope.user(USER)), SpecError)


def test_check_url_rules(acq_settings: Settings) -> None:
    assert check_url("https://Example.COM/x.zip", acq_settings).host == "example.com"
    with pytest.raises(SpecError):
        check_url("http://example.com/x.zip", acq_settings)
    assert check_url("http://127.0.0.1:9/x.zip", acq_settings).allow_private


# --- slow, lying and hostile servers (case 38, 39, 40) ----------------------------------------------


async def test_one_byte_per_second_server_is_given_up_at_the_total_timeout(
    acq_settings: Settings, http_server: HttpServer, canary: Path, tmp_path: Path, workspace: Path
) -> None:
    host = Host(acq_settings.model_copy(update={"download_total_timeout_seconds": 2.0}))

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/gzip"})
        await response.prepare(request)
        for _ in range(60):
            await response.write(b"\x1f")
            await asyncio.sleep(0.5)
        return response

    http_server.routes["/slow.tar.gz"] = trickle
    invariants = Invariants(tmp_path, workspace)
    invariants.take()
    fds_before = open_fds()
    started = time.monotonic()
    await expect_refusal(
        invariants,
        host.addons.install(http_server.url("/slow.tar.gz"), Scope.user(USER)),
        LimitExceededError,
        "timed out",
    )
    assert 1.9 <= time.monotonic() - started < 4.0
    await asyncio.sleep(0.1)  # let the test server notice the closed connection
    assert open_fds() <= fds_before  # the client socket and the partial file are closed


async def test_stall_after_headers_hits_the_read_timeout(
    acq_settings: Settings, http_server: HttpServer, canary: Path, tmp_path: Path, workspace: Path
) -> None:
    host = Host(acq_settings.model_copy(update={"download_read_timeout_seconds": 1.0}))

    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await asyncio.sleep(10)
        return response

    http_server.routes["/stall.tar.gz"] = stall
    invariants = Invariants(tmp_path, workspace)
    invariants.take()
    started = time.monotonic()
    await expect_refusal(
        invariants,
        host.addons.install(http_server.url("/stall.tar.gz"), Scope.user(USER)),
        LimitExceededError,
        "timed out",
    )
    assert time.monotonic() - started < 3.0


async def test_size_cap_on_bytes_received(
    acq_settings: Settings, http_server: HttpServer, canary: Path, tmp_path: Path, workspace: Path
) -> None:
    host = Host(acq_settings.model_copy(update={"max_addon_size_mb": 1}))
    sent: dict[str, int] = {"endless": 0}

    async def huge_length(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = 10 * 1024**3
        await response.prepare(request)
        await response.write(b"\x1f\x8b" + b"\0" * 1000)
        return response

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()  # chunked, no Content-Length
        await response.prepare(request)
        for _ in range(10_000):
            await response.write(b"\0" * 65536)
            sent["endless"] += 65536
        return response

    http_server.routes["/huge.tar.gz"] = huge_length
    http_server.routes["/endless.tar.gz"] = endless
    invariants = Invariants(tmp_path, workspace)
    invariants.take()
    scope = Scope.user(USER)
    await expect_refusal(invariants, host.addons.install(http_server.url("/huge.tar.gz"), scope), QuotaExceededError)
    await expect_refusal(invariants, host.addons.install(http_server.url("/endless.tar.gz"), scope), QuotaExceededError)
    assert sent["endless"] < 64 * 1024 * 1024  # stopped long before the 655 MB the server would send


@pytest.fixture
async def lying_server() -> AsyncIterator[int]:
    """Raw HTTP: Content-Length says 1 KiB, then 2 MiB follow."""
    body = make_zip([("liar/SKILL.md", skill_md("liar")), ("liar/big.bin", b"\x01" * (2 * 1024 * 1024))])

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n" + body)
        with __import__("contextlib").suppress(ConnectionError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_lying_content_length_is_not_trusted(acq_host: Host, lying_server: int, invariants: Invariants) -> None:
    await expect_refusal(
        invariants,
        acq_host.addons.install(f"http://127.0.0.1:{lying_server}/liar.zip", Scope.user(USER)),
    )


async def test_web_page_and_content_encoding_tricks_are_refused(
    acq_host: Host, http_server: HttpServer, invariants: Invariants
) -> None:
    login = b"<!DOCTYPE html><html><body>Please log in</body></html>"
    http_server.routes["/login.zip"] = (login, {"Content-Type": "text/html"})
    inner = make_tar([TarMember("SKILL.md", skill_md("bomb"))])
    http_server.routes["/wrapped.tar.gz"] = (gzip.compress(inner), {"Content-Encoding": "gzip"})
    http_server.routes["/claims-zip.tar.gz"] = (inner, {"Content-Type": "application/zip"})
    http_server.routes["/html-type.zip"] = (package_zip(), {"Content-Type": "text/html; charset=utf-8"})
    scope = Scope.user(USER)
    await expect_refusal(
        invariants, acq_host.addons.install(http_server.url("/login.zip"), scope), UnsafeContentError, "web page"
    )
    await expect_refusal(
        invariants, acq_host.addons.install(http_server.url("/wrapped.tar.gz"), scope), UnsafeContentError, "corrupt"
    )
    await expect_refusal(
        invariants,
        acq_host.addons.install(http_server.url("/claims-zip.tar.gz"), scope),
        UnsafeContentError,
        "ambiguous",
    )
    await expect_refusal(
        invariants, acq_host.addons.install(http_server.url("/html-type.zip"), scope), UnsafeContentError, "web page"
    )


# --- TLS (case 41) --------------------------------------------------------------------------------


@pytest.fixture
async def self_signed_server(tmp_path: Path) -> AsyncIterator[int]:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = web.Application()

    async def serve(_request: web.Request) -> web.Response:
        return web.Response(body=package_zip())

    app.router.add_get("/{tail:.*}", serve)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def test_self_signed_certificate_is_refused(
    acq_host: Host, self_signed_server: int, invariants: Invariants
) -> None:
    exc = await expect_refusal(
        invariants,
        acq_host.addons.install(f"https://127.0.0.1:{self_signed_server}/x.zip", Scope.user(USER)),
        SourceError,
        "download failed",
    )
    assert "certificate" in exc.user_message.lower()


async def test_cancelled_download_leaves_nothing_behind(
    acq_host: Host, http_server: HttpServer, workspace: Path
) -> None:
    started = asyncio.Event()

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        started.set()
        for _ in range(100):
            await response.write(b"\x1f" * 1024)
            await asyncio.sleep(0.05)
        return response

    http_server.routes["/cancel.tar.gz"] = trickle
    task = asyncio.ensure_future(acq_host.addons.install(http_server.url("/cancel.tar.gz"), Scope.user(USER)))
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    staging = workspace / ".kiroclaw-staging" / str(USER)  # staging lives outside the user's folder
    assert not staging.exists() or not any(staging.iterdir())
    assert acq_host.addons.list(Scope.user(USER)) == []
