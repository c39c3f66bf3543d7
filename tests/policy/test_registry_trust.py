"""Registry trust (issue 12): the SSRF guard on every redirect and on ``.well-known`` discovery, the
registry's ``verdict`` and per-version ``security.status``, and integrity when a version lists no files.

The registry runs in process on 127.0.0.1 (tests/hub fixtures); a second loopback server stands for an
internal service the registry tries to send us to, and records whether anything reached it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from kiroclaw import Scope
from kiroclaw.errors import ConfirmationRequired, KiroclawError, PolicyBlockedError
from tests.hub.conftest import Hub

USER = Scope.user(42)


@pytest.fixture
async def internal() -> AsyncIterator[tuple[str, list[str]]]:
    """An "internal service" on another loopback port: ``(url, paths it was asked for)``."""
    hits: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(body=b"secret", content_type="application/zip")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", hits
    finally:
        await runner.cleanup()


async def test_download_redirect_to_another_loopback_port_is_refused(
    make_host: Any, hub: Hub, internal: tuple[str, list[str]]
) -> None:
    url, hits = internal
    hub.fault("/api/v1/download", "status", status=302, headers={"Location": f"{url}/latest/meta-data"})
    host = make_host(hub.url)
    with pytest.raises(KiroclawError) as info:
        await host.addons.install("kirohub:weather-api", USER)
    assert "127.0.0.1" in info.value.user_message or "not allowed" in info.value.user_message
    assert hits == []  # the redirect was vetted before any request
    assert host.addons.list(USER) == []


async def test_redirect_within_the_registry_is_followed(make_host: Any, hub: Hub) -> None:
    hub.fault("/api/v1/download", "status", status=307, headers={"Location": "/api/v1/download?slug=weather-api"})
    host = make_host(hub.url)
    result = await host.addons.install("kirohub:weather-api", USER)
    assert result.record.name == "weather-api"


async def test_well_known_api_base_pointing_inside_is_refused(
    make_host: Any, hub: Hub, internal: tuple[str, list[str]]
) -> None:
    url, hits = internal
    body = json.dumps({"apiBase": f"{url}/"}).encode()
    hub.fault("/.well-known/clawhub.json", "body", body=body)
    host = make_host("https://registry.invalid", kirohub_site=hub.url)
    with pytest.raises(KiroclawError):
        await host.addons.install("kirohub:weather-api", USER)
    assert hits == []


def _info(verdict: str) -> bytes:
    moderation = {"isSuspicious": False, "isMalwareBlocked": False, "verdict": verdict, "reasonCodes": []}
    return json.dumps({"skill": {"slug": "weather-api"}, "latestVersion": {"version": "1.1.0"},
                       "owner": {"handle": "alice"}, "moderation": moderation}).encode()  # fmt: skip


async def test_verdict_malicious_refuses_and_suspicious_asks(make_host: Any, hub: Hub) -> None:
    """Only ``verdict`` says it (the boolean flags are false): the verdict alone decides."""
    host = make_host(hub.url)
    hub.fault("/api/v1/skills/weather-api", "body", body=_info("malicious"))
    with pytest.raises(PolicyBlockedError, match="malicious"):
        await host.addons.install("kirohub:weather-api", USER, assume_yes=True)
    hub.fault("/api/v1/skills/weather-api", "body", body=_info("suspicious"))
    with pytest.raises(ConfirmationRequired):
        await host.addons.install("kirohub:weather-api", USER)
    assert host.addons.list(USER) == []


def _detail(version: str, **extra: Any) -> bytes:
    data = {"version": {"version": version, "createdAt": 0, "changelog": "", **extra},
            "skill": {"slug": "weather-api", "displayName": "Weather API"}}  # fmt: skip
    return json.dumps(data).encode()


@pytest.mark.parametrize(("status", "outcome"), [("malicious", "blocked"), ("pending", "confirm"),
                                                  ("error", "confirm"), ("clean", "installs")])  # fmt: skip
async def test_per_version_security_status(make_host: Any, hub: Hub, status: str, outcome: str) -> None:
    hub.fault("/api/v1/skills/weather-api/versions/1.1.0", "body",
              body=_detail("1.1.0", security={"status": status}), times=5)  # fmt: skip
    host = make_host(hub.url)
    if outcome == "blocked":
        with pytest.raises(PolicyBlockedError, match="security scan"):
            await host.addons.install("kirohub:weather-api", USER, assume_yes=True)
        return
    if outcome == "installs":  # clean, no file list: the registry's resolve recognises the fingerprint
        assert (await host.addons.install("kirohub:weather-api", USER)).record.name == "weather-api"
        assert hub.hits("/api/v1/resolve")
        return
    with pytest.raises(ConfirmationRequired) as info:
        await host.addons.install("kirohub:weather-api", USER)
    assert f"security: {status}" in " ".join(info.value.reasons)
    assert host.addons.list(USER) == []
    result = await host.addons.install("kirohub:weather-api", USER, assume_yes=True)
    assert result.record.name == "weather-api"


async def test_version_without_files_unknown_fingerprint_asks(make_host: Any, hub: Hub) -> None:
    hub.fault("/api/v1/skills/weather-api/versions/1.1.0", "body", body=_detail("1.1.0"), times=5)
    hub.fault("/api/v1/resolve", "body", body=json.dumps(
        {"slug": "weather-api", "match": None, "latestVersion": {"version": "1.1.0"}}).encode())  # fmt: skip
    host = make_host(hub.url)
    with pytest.raises(ConfirmationRequired) as info:
        await host.addons.install("kirohub:weather-api", USER)
    assert any("integrity" in r for r in info.value.reasons)


async def test_version_without_files_is_checked_through_resolve(make_host: Any, hub: Hub) -> None:
    hub.fault("/api/v1/skills/weather-api/versions/1.1.0", "body", body=_detail("1.1.0"), times=5)
    answer = {"slug": "weather-api", "match": {"version": "1.0.0"}, "latestVersion": {"version": "1.1.0"}}
    hub.fault("/api/v1/resolve", "body", body=json.dumps(answer).encode())
    host = make_host(hub.url)
    with pytest.raises(KiroclawError, match=r"is the registry's version 1\.0\.0"):
        await host.addons.install("kirohub:weather-api", USER, assume_yes=True)
    assert host.addons.list(USER) == []


@pytest.mark.parametrize("created", [1e20, float("inf"), -5.0])
async def test_a_version_date_that_is_no_date_shows_no_date(make_host: Any, hub: Hub, created: float) -> None:
    """``createdAt`` out of any calendar (a hostile or broken registry): info still answers, without a date."""
    data = {"version": {"version": "1.1.0", "createdAt": created, "changelog": "fixes"},
            "skill": {"slug": "weather-api", "displayName": "Weather API"}}  # fmt: skip
    hub.fault("/api/v1/skills/weather-api/versions/1.1.0", "body", body=json.dumps(data).encode(), times=5)
    host = make_host(hub.url)
    info = await host.addons.info("kirohub:weather-api@1.1.0", USER)
    assert info.version == "1.1.0" and info.published_at is None
