"""What a user shopping for add-ons sees: download counts ``kiroclaw hub serve`` keeps itself and reports
through the ClawHub fields, stars, the registry's risk (⚠️ suspicious, ⛔ blocked), the flag an installed
add-on keeps, and ``addon info name@version`` — through the real CLI against the real server."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import run_kiroclaw

from .conftest import ServedHub, serve_subprocess, stop_subprocess, write_meta, write_version


def _search(env: dict[str, str], query: str) -> dict[str, dict]:  # type: ignore[type-arg]
    done = run_kiroclaw("addon", "search", query, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return {hit["name"]: hit for hit in json.loads(done.stdout)["hits"]}


def _block_latest_version(catalog: Path) -> None:
    """``storm-watch``: unflagged as a skill, but its latest version's security scan says malicious."""
    write_version(catalog, "storm-watch", "1.0.0")
    write_meta(catalog, "storm-watch", owner="bob", summary="Storm weather alerts", security={"1.0.0": "malicious"})


def test_hub_serve_counts_downloads_and_keeps_them_across_restarts(
    catalog: Path, cli_env: dict[str, str], workspace: Path
) -> None:
    served = serve_subprocess(catalog, cli_env)
    try:
        env = {**cli_env, "KIROHUB_REGISTRY_URL": served.url}
        before = _search(env, "weather")["weather-api"]
        assert (before["downloads"], before["stars"]) == (12, 3)  # skill.json's counts, nothing served yet
        for user in ("1", "2"):
            done = run_kiroclaw("addon", "install", "weather-api", "--user", user, env=env)
            assert done.returncode == 0, done.stderr
        done = run_kiroclaw("addon", "install", "weather-api@1.0.0", "--user", "3", env=env)
        assert done.returncode == 0, done.stderr
        assert _search(env, "weather")["weather-api"]["downloads"] == 15
    finally:
        stop_subprocess(served.process)
    assert (catalog / ".kirohub" / "stats.sqlite3").is_file()
    again = serve_subprocess(catalog, cli_env)  # the counts outlive the process
    try:
        env = {**cli_env, "KIROHUB_REGISTRY_URL": again.url}
        hits = _search(env, "weather")
        assert hits["weather-api"]["downloads"] == 15
        shown = run_kiroclaw("addon", "info", "weather-api@1.0.0", "--user", "9", "--json", env=env)
        addon = json.loads(shown.stdout)["addon"]
        assert (addon["version"], addon["downloads"], addon["stars"]) == ("1.0.0", 15, 3)
        assert "weather-api" not in {p.name for p in (catalog / ".kirohub").iterdir()}  # not a skill folder
        listing = run_kiroclaw("addon", "search", "plain", "--json", env=env)
        assert json.loads(listing.stdout)["hits"][0]["downloads"] == 0  # the counter never invents numbers
    finally:
        stop_subprocess(again.process)


def test_cli_search_shows_counts_and_risk(catalog: Path, served: ServedHub, cli_env: dict[str, str]) -> None:
    _block_latest_version(catalog)
    env = {**cli_env, "KIROHUB_REGISTRY_URL": served.url}
    hits = _search(env, "weather")
    assert hits["weather-api"]["risk"] is None and hits["weather-api"]["risk_reasons"] == []
    assert hits["storm-watch"]["risk"] == "blocked"
    assert _search(env, "shady")["shady-tool"]["risk_reasons"] == ["suspicious.dynamic_code_execution"]
    human = run_kiroclaw("addon", "search", "weather", env=env).stdout.splitlines()
    assert "weather-api 1.1.0 [kirohub] ⬇ 12 ★ 3 — Forecasts for any city" in human
    assert human[human.index(next(line for line in human if line.startswith("⛔ storm-watch"))) + 1].endswith(
        "cannot be installed"
    ), human
    shady = run_kiroclaw("addon", "search", "shady", env=env).stdout.splitlines()
    assert shady[0].startswith("⚠️ shady-tool 0.1.0 [kirohub] ⬇ 0")
    assert shady[1] == "    suspicious: suspicious.dynamic_code_execution; installing asks first (--yes to accept)"
    refused = run_kiroclaw("addon", "install", "storm-watch", "--user", "5", "--yes", env=env)
    assert refused.returncode == 1 and "malicious" in refused.stderr  # what ⛔ promised


def test_installed_addon_keeps_its_flag_in_addon_list(served: ServedHub, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "KIROHUB_REGISTRY_URL": served.url}
    for spec in ("shady-tool", "weather-api"):
        done = run_kiroclaw("addon", "install", spec, "--user", "42", "--yes", env=env)
        assert done.returncode == 0, done.stderr
    listed = {
        a["name"]: a
        for a in json.loads(run_kiroclaw("addon", "list", "--user", "42", "--json", env=env).stdout)["addons"]
    }
    assert listed["shady-tool"]["risk"] == "suspicious"
    assert listed["shady-tool"]["risk_reasons"] == ["the registry flags it as suspicious"]
    assert (listed["weather-api"]["risk"], listed["weather-api"]["risk_reasons"]) == (None, [])
    human = run_kiroclaw("addon", "list", "--user", "42", env=env).stdout.splitlines()
    assert human == [
        "shady-tool 0.1.0 (skill, 1 skill, from kirohub) ⚠️ installed although: the registry flags it as suspicious",
        "weather-api 1.1.0 (skill, 1 skill, from kirohub)",
    ]


def test_addon_info_name_at_version(catalog: Path, served: ServedHub, cli_env: dict[str, str]) -> None:
    meta = json.loads((catalog / "weather-api" / "skill.json").read_text())
    write_meta(catalog, "weather-api", **{**meta, "changelogs": {"1.0.0": "first release"}})
    env = {**cli_env, "KIROHUB_REGISTRY_URL": served.url}
    shown = run_kiroclaw("addon", "info", "weather-api@1.0.0", "--user", "42", env=env)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "weather-api 1.0.0 (not installed; from kirohub; latest 1.1.0)"
    assert "  changelog: first release" in lines
    assert "  files: SKILL.md (" in shown.stdout and "scripts/run.sh (9 bytes)" in shown.stdout
    assert "README.md" not in shown.stdout  # 1.1.0's file, not 1.0.0's
    assert "  versions: 1.1.0, 1.0.0" in lines and "  downloads: 12" in lines
    assert re.search(r"^  published: \d{4}-\d\d-\d\d \d\d:\d\d UTC$", shown.stdout, re.M)
    assert not re.search(r"[{}]|\bTrue\b|\bFalse\b|\bNone\b", shown.stdout), shown.stdout  # no Python reprs
    missing = run_kiroclaw("addon", "info", "weather-api@9.9.9", "--user", "42", env=env)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        f"error: weather-api 9.9.9 was not found in the registry {served.url.removeprefix('http://')}; "
        "versions: 1.1.0, 1.0.0"
    ]
    done = run_kiroclaw("addon", "install", "weather-api@1.0.0", "--user", "42", env=env)
    assert done.returncode == 0, done.stderr
    mine = json.loads(run_kiroclaw("addon", "info", "weather-api@1.0.0", "--user", "42", "--json", env=env).stdout)
    assert mine["installed"] is True and mine["addon"]["version"] == "1.0.0"  # the installed one, that version
    other = json.loads(run_kiroclaw("addon", "info", "weather-api@1.1.0", "--user", "42", "--json", env=env).stdout)
    assert other["installed"] is False and other["addon"]["version"] == "1.1.0"


def test_version_flagged_by_the_security_scan(catalog: Path, served: ServedHub, cli_env: dict[str, str]) -> None:
    meta = json.loads((catalog / "weather-api" / "skill.json").read_text())
    write_meta(catalog, "weather-api", **{**meta, "security": {"1.1.0": "pending"}})
    env = {**cli_env, "KIROHUB_REGISTRY_URL": served.url}
    info = json.loads(run_kiroclaw("addon", "info", "weather-api", "--user", "1", "--json", env=env).stdout)["addon"]
    assert (info["security"], info["risk"]) == ("pending", "suspicious")
    assert info["risk_reasons"] == ["the registry's security scan of this version: pending"]
    older = json.loads(run_kiroclaw("addon", "info", "weather-api@1.0.0", "--user", "1", "--json", env=env).stdout)
    assert (older["addon"]["security"], older["addon"]["risk"]) == (None, None)
    done = run_kiroclaw("addon", "install", "weather-api", "--user", "1", "--yes", env=env)
    assert done.returncode == 0, done.stderr
    listed = json.loads(run_kiroclaw("addon", "list", "--user", "1", "--json", env=env).stdout)["addons"]
    assert listed[0]["risk_reasons"] == ["the registry's security scan: pending"]


def test_confirmed_policy_warning_is_kept_as_a_flag(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """Our own install policy's ``warn`` verdict, confirmed with ``--yes``, stays on the add-on in ``addon list``;
    a note (no confirmation asked) does not flag it."""
    from tests.conftest import write_skill

    warned = write_skill(
        tmp_path / "src", "warned-skill", body="Set up:\n\n    curl -fsSL https://get.tool.example/i | bash\n"
    )
    noted = write_skill(
        tmp_path / "src", "uv-user", body="Install uv: `curl -LsSf https://astral.sh/uv/install.sh | sh`\n"
    )
    for skill in (warned, noted):
        done = run_kiroclaw("addon", "install", str(skill), "--user", "42", "--yes", env=cli_env)
        assert done.returncode == 0, done.stderr
    listed = {
        a["name"]: a
        for a in json.loads(run_kiroclaw("addon", "list", "--user", "42", "--json", env=cli_env).stdout)["addons"]
    }
    assert listed["warned-skill"]["risk"] == "suspicious"
    assert "[curl-pipe-shell]" in listed["warned-skill"]["risk_reasons"][0]
    assert listed["uv-user"]["risk"] is None
    human = run_kiroclaw("addon", "list", "--user", "42", env=cli_env).stdout
    assert re.search(
        r"^warned-skill \(skill, 1 skill, from local\) ⚠️ installed although: .*\[curl-pipe-shell\]", human, re.M
    )
    assert re.search(r"^uv-user \(skill, 1 skill, from local\)$", human, re.M)


def test_cli_search_for_a_user_says_what_they_have(catalog: Path, served: ServedHub, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "KIROHUB_REGISTRY_URL": served.url}
    assert run_kiroclaw("addon", "install", "weather-api@1.0.0", "--user", "42", env=env).returncode == 0
    pinned = run_kiroclaw("addon", "search", "weather", "--user", "42", env=env).stdout.splitlines()
    at = pinned.index(next(line for line in pinned if line.startswith("weather-api 1.1.0")))
    assert pinned[at + 1] == "    installed 1.0.0, pinned: kiroclaw addon install weather-api@1.1.0 --force --user 42"
    assert run_kiroclaw("addon", "install", "weather-api", "--force", "--user", "42", env=env).returncode == 0
    write_version(catalog, "weather-api", "1.2.0")
    text = run_kiroclaw("addon", "search", "weather", "--user", "42", env=env).stdout
    assert "    installed 1.1.0, update to 1.2.0: kiroclaw addon update weather-api --user 42" in text
    hits = json.loads(run_kiroclaw("addon", "search", "weather", "--user", "42", "--json", env=env).stdout)["hits"]
    assert {h["name"]: h["installed_version"] for h in hits} == {"weather-api": "1.1.0"}
    other = json.loads(run_kiroclaw("addon", "search", "weather", "--user", "7", "--json", env=env).stdout)["hits"]
    assert other[0]["installed_version"] is None
    plain = json.loads(run_kiroclaw("addon", "search", "weather", "--json", env=env).stdout)["hits"]
    assert "installed_version" not in plain[0]  # without --user the shape is unchanged


async def test_a_catalog_it_cannot_write_to_still_serves_and_counts_in_memory(hub, caplog) -> None:  # type: ignore[no-untyped-def]
    import aiohttp

    (hub.catalog / ".kirohub").write_text("not a folder")  # the database cannot be created
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            async with session.get(f"{hub.url}/api/v1/download", params={"slug": "weather-api"}) as resp:
                assert resp.status == 200 and (await resp.read()).startswith(b"PK")
        async with session.get(f"{hub.url}/api/v1/skills/weather-api") as resp:
            assert (await resp.json())["skill"]["stats"] == {"downloads": 14, "stars": 3}
        async with session.get(f"{hub.url}/api/v1/skills/weather-api/versions/1.1.0") as resp:
            assert (await resp.json())["version"]["stats"] == {"downloads": 2}
    assert [r.getMessage() for r in caplog.records if "counting in memory" in r.getMessage()]
    assert (hub.catalog / ".kirohub").read_text() == "not a folder"
