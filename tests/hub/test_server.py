"""The hub server's ClawHub v1 answers, over real HTTP on 127.0.0.1 (in process and as a subprocess)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import aiohttp
import pytest

from kiroclaw.fingerprint import tree_fingerprint
from tests.conftest import run_kiroclaw, write_skill

from .conftest import Hub, ServedHub, write_meta, write_version


async def get(url: str, **params: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url, params=params) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.read()


async def test_well_known_names_the_server_itself(hub: Hub) -> None:
    status, ctype, body = await get(f"{hub.url}/.well-known/clawhub.json")
    assert status == 200 and ctype.startswith("application/json")
    assert json.loads(body)["apiBase"] == hub.url


async def test_skill_info_has_the_fields_the_clawhub_cli_requires(hub: Hub) -> None:
    status, _, body = await get(f"{hub.url}/api/v1/skills/weather-api")
    data = json.loads(body)
    assert status == 200
    assert set(data) >= {"skill", "latestVersion", "owner", "moderation"}
    assert {"slug", "displayName", "tags", "stats", "createdAt", "updatedAt"} <= set(data["skill"])
    assert data["latestVersion"]["version"] == "1.1.0" and isinstance(data["latestVersion"]["changelog"], str)
    assert data["owner"]["handle"] == "alice"
    assert data["moderation"] is None
    flagged = json.loads((await get(f"{hub.url}/api/v1/skills/shady-tool"))[2])["moderation"]
    assert flagged["isSuspicious"] is True and flagged["isMalwareBlocked"] is False


async def test_unknown_traversing_and_foreign_owner_slugs_are_plain_text_404(hub: Hub) -> None:
    for path, params in [
        ("/api/v1/skills/nope", {}),
        ("/api/v1/skills/..%2F..%2Fetc", {}),
        ("/api/v1/skills/weather-api%401.0.0", {}),
        ("/api/v1/skills/weather-api", {"ownerHandle": "bob"}),
        ("/api/v1/skills/weather-api/versions/9.9.9", {}),
    ]:
        status, ctype, body = await get(hub.url + path, **params)
        assert status == 404, path
        assert ctype.startswith("text/plain")
        assert body in (b"Skill not found", b"Version not found")


async def test_versions_and_version_detail(hub: Hub) -> None:
    items = json.loads((await get(f"{hub.url}/api/v1/skills/weather-api/versions"))[2])
    assert [i["version"] for i in items["items"]] == ["1.1.0", "1.0.0"] and items["nextCursor"] is None
    detail = json.loads((await get(f"{hub.url}/api/v1/skills/weather-api/versions/1.0.0"))[2])
    assert detail["skill"] == {"slug": "weather-api", "displayName": "Weather API"}
    files = {f["path"]: f for f in detail["version"]["files"]}
    assert set(files) == {"SKILL.md", "scripts/run.sh"}
    assert files["scripts/run.sh"]["size"] == len(b"echo 1.0\n")


async def test_download_is_a_deterministic_zip_without_wrapper_folder(hub: Hub) -> None:
    url = f"{hub.url}/api/v1/download"
    status, ctype, first = await get(url, slug="weather-api", version="1.0.0")
    _, _, second = await get(url, slug="weather-api", version="1.0.0")
    assert status == 200 and ctype == "application/zip"
    assert first == second
    with zipfile.ZipFile(io.BytesIO(first)) as zf:
        assert zf.namelist() == ["SKILL.md", "scripts/run.sh"]
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert zf.read("scripts/run.sh") == b"echo 1.0\n"
    latest = (await get(url, slug="weather-api"))[2]
    assert "README.md" in zipfile.ZipFile(io.BytesIO(latest)).namelist()
    tagged = (await get(url, slug="weather-api", tag="latest"))[2]
    assert tagged == latest


async def test_resolve_matches_the_fingerprint_of_the_extracted_files(hub: Hub, tmp_path: Path) -> None:
    zip_bytes = (await get(f"{hub.url}/api/v1/download", slug="weather-api", version="1.0.0"))[2]
    zipfile.ZipFile(io.BytesIO(zip_bytes)).extractall(tmp_path / "x")
    digest = tree_fingerprint(tmp_path / "x")
    data = json.loads((await get(f"{hub.url}/api/v1/resolve", slug="weather-api", hash=digest))[2])
    assert data == {"slug": "weather-api", "match": {"version": "1.0.0"}, "latestVersion": {"version": "1.1.0"}}
    miss = json.loads((await get(f"{hub.url}/api/v1/resolve", slug="weather-api", hash="a" * 64))[2])
    assert miss["match"] is None
    status, _, body = await get(f"{hub.url}/api/v1/resolve", slug="weather-api", hash="zz")
    assert (status, body) == (400, b"Invalid hash")


async def test_malware_blocked_is_hidden_and_not_downloadable(hub: Hub) -> None:
    search = json.loads((await get(f"{hub.url}/api/v1/search", q="weather"))[2])
    assert [r["slug"] for r in search["results"]] == ["weather-api"]
    status, _, body = await get(f"{hub.url}/api/v1/download", slug="evil-tool")
    assert status == 403 and body.startswith(b"Blocked")
    listing = json.loads((await get(f"{hub.url}/api/v1/skills"))[2])
    assert "evil-tool" not in [i["slug"] for i in listing["items"]]
    assert json.loads((await get(f"{hub.url}/api/v1/search", q=""))[2]) == {"results": []}


async def test_invalid_skill_json_makes_the_skill_unavailable_not_unmoderated(hub: Hub) -> None:
    write_version(hub.catalog, "broken-meta", "1.0.0")
    (hub.catalog / "broken-meta" / "skill.json").write_text('{"moderation": {"isMalwareBlocked": "yes"}}')
    status, _, _ = await get(f"{hub.url}/api/v1/skills/broken-meta")
    assert status == 500
    status, _, _ = await get(f"{hub.url}/api/v1/download", slug="broken-meta")
    assert status == 500
    search = json.loads((await get(f"{hub.url}/api/v1/search", q="broken"))[2])
    assert search["results"] == []


async def test_new_versions_copied_in_are_served_without_restart(hub: Hub) -> None:
    write_version(hub.catalog, "weather-api", "1.2.0")
    data = json.loads((await get(f"{hub.url}/api/v1/skills/weather-api"))[2])
    assert data["latestVersion"]["version"] == "1.2.0"


async def test_server_is_read_only(hub: Hub) -> None:
    async with aiohttp.ClientSession() as session:
        for method, path in [
            ("POST", "/api/v1/skills"),
            ("PUT", "/api/v1/skills/weather-api"),
            ("DELETE", "/api/v1/skills/weather-api"),
        ]:
            async with session.request(method, hub.url + path, json={}) as resp:
                assert resp.status == 405, (method, path)


def test_prerelease_is_not_latest_and_tag_in_skill_json_wins(catalog: Path) -> None:
    from kiroclaw.hub.catalog import Catalog

    write_version(catalog, "plain-notes", "3.0.0-rc.1")
    assert Catalog(catalog).skill("plain-notes").latest.version == "2.0.0"  # type: ignore[union-attr]
    write_version(catalog, "plain-notes", "1.5.0")
    write_meta(catalog, "plain-notes", tags={"latest": "1.5.0"})
    assert Catalog(catalog).skill("plain-notes").latest.version == "1.5.0"  # type: ignore[union-attr]


# --- the real `kiroclaw hub serve` subprocess and the CLI ------------------------------------------


def test_cli_search_and_install_against_hub_serve(served: ServedHub, cli_env: dict[str, str], workspace: Path) -> None:
    env = {**cli_env, "KIROHUB_REGISTRY_URL": served.url}
    found = run_kiroclaw("addon", "search", "weather", "--json", env=env)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["hits"]
    assert [(h["name"], h["version"], h["source"]) for h in hits] == [("weather-api", "1.1.0", "kirohub")]
    done = run_kiroclaw("addon", "install", "weather-api@1.0.0", "--user", "42", env=env)
    assert done.returncode == 0, done.stderr
    installed = workspace / "42" / ".kiro" / "skills" / "weather-api"
    assert (installed / "scripts" / "run.sh").read_bytes() == b"echo 1.0\n"
    refused = run_kiroclaw("addon", "install", "shady-tool", "--user", "42", env=env)
    assert refused.returncode != 0 and "suspicious" in refused.stderr and "Traceback" not in refused.stderr
    assert not (workspace / "42" / ".kiro" / "skills" / "shady-tool").exists()
    confirmed = run_kiroclaw("addon", "install", "shady-tool", "--user", "42", "--yes", env=env)
    assert confirmed.returncode == 0, confirmed.stderr
    listed = json.loads(run_kiroclaw("addon", "list", "--user", "42", "--json", env=env).stdout)
    assert sorted(a["name"] for a in listed["addons"]) == ["shady-tool", "weather-api"]


def test_cli_against_a_file_catalog(catalog: Path, cli_env: dict[str, str], workspace: Path) -> None:
    env = {**cli_env, "KIROHUB_REGISTRY_URL": catalog.as_uri()}
    found = run_kiroclaw("addon", "search", "forecasts", env=env)
    assert found.returncode == 0 and "weather-api" in found.stdout
    done = run_kiroclaw("addon", "install", "@alice/weather-api", "--user", "7", env=env)
    assert done.returncode == 0, done.stderr
    assert (workspace / "7" / ".kiro" / "skills" / "weather-api" / "README.md").is_file()


def test_cli_registry_down_is_one_line(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "KIROHUB_REGISTRY_URL": "http://127.0.0.1:9", "KIROHUB_RETRIES": "0"}
    result = run_kiroclaw("addon", "search", "weather", env=env)
    assert result.returncode == 1
    # the error line, then the source's own reason as one "detail" line
    error, detail = result.stderr.strip().splitlines()[-2:]
    assert error.startswith("error:") and "not reachable" in error and "Traceback" not in result.stderr
    assert detail.startswith("  detail: ") and "127.0.0.1:9" in detail


def test_cli_publish_then_serve(tmp_path: Path, cli_env: dict[str, str]) -> None:
    src = write_skill(tmp_path / "src", "my-skill", "Mine.")
    catalog = tmp_path / "cat"
    first = run_kiroclaw("hub", "publish", str(src), "--catalog", str(catalog), "--owner", "me", env=cli_env)
    second = run_kiroclaw("hub", "publish", str(src), "--catalog", str(catalog), env=cli_env)
    assert (first.stdout.strip(), second.stdout.strip()) == ("published my-skill 1.0.0", "published my-skill 1.0.1")
    dup = run_kiroclaw("hub", "publish", str(src), "--catalog", str(catalog), "--version", "1.0.1", env=cli_env)
    assert dup.returncode == 1 and "already" in dup.stderr
    assert sorted(p.name for p in (catalog / "my-skill").iterdir()) == ["1.0.0", "1.0.1", "skill.json"]


def test_hub_serve_refuses_a_missing_catalog(tmp_path: Path, cli_env: dict[str, str]) -> None:
    result = run_kiroclaw("hub", "serve", str(tmp_path / "missing"), "--port", "0", env=cli_env)
    assert result.returncode != 0 and "not a directory" in result.stderr


@pytest.mark.parametrize("host", ["127.0.0.1"])
def test_hub_serve_binds_loopback_by_default(served: ServedHub, host: str) -> None:
    assert served.url.startswith(f"http://{host}:")
