"""Search shows what the user already has: "installed" or "update to X" in place of an Install button."""

from __future__ import annotations

from tests.bot.conftest import ALICE, BOB


async def test_search_marks_installed_pinned_and_outdated_addons(start_bot, hub) -> None:
    h = await start_bot(kirohub_registry_url=hub.url)
    await h.say(ALICE, "/addon install weather-api@1.0.0")  # an exact version pins it
    assert "Installed weather-api v1.0.0" in h.last(ALICE)

    await h.say(ALICE, "/addon search weather")
    results = h.fake.last_bot(ALICE.id)
    assert "📌 you have 1.0.0, pinned; move to 1.1.0 with /addon install weather-api@1.1.0 --force" in results.text
    assert results.buttons == [], "no Install button for an add-on the user has"

    await h.say(ALICE, "/addon install weather-api@1.1.0 --force")  # the step the line names works
    assert "Installed weather-api v1.1.0" in h.last(ALICE)
    await h.say(ALICE, "/addon search weather")
    assert "✅ installed" in h.fake.last_bot(ALICE.id).text

    await h.say(BOB, "/addon search weather")  # someone else's add-ons change nothing for Bob
    assert [b["text"] for row in h.fake.last_bot(BOB.id).buttons for b in row] == ["📦 Install weather-api"]
    h.assert_clean(ALICE.id, BOB.id)


async def test_search_offers_the_update_of_an_unpinned_addon(start_bot, hub, catalog) -> None:
    from tests.hub.conftest import write_version

    h = await start_bot(kirohub_registry_url=hub.url)
    await h.say(ALICE, "/addon install weather-api")
    assert "Installed weather-api v1.1.0" in h.last(ALICE)
    write_version(catalog, "weather-api", "1.2.0", files={"scripts/run.sh": b"echo 1.2\n"})
    await h.say(ALICE, "/addon search weather")
    text = h.fake.last_bot(ALICE.id).text
    assert "⬆ you have 1.1.0; update to 1.2.0 with /addon update weather-api" in text, text


async def test_search_shows_counts_and_risk_and_blocked_gets_no_button(start_bot, hub, catalog) -> None:
    from tests.hub.conftest import write_meta, write_version

    write_version(catalog, "storm-watch", "1.0.0")  # its latest version's security scan says malicious
    write_meta(catalog, "storm-watch", owner="bob", summary="Storm weather alerts", security={"1.0.0": "malicious"})
    h = await start_bot(kirohub_registry_url=hub.url)
    await h.say(ALICE, "/addon search weather")
    results = h.fake.last_bot(ALICE.id)
    assert "<b>weather-api</b> v1.1.0 · by alice · ⬇ 12 · ★ 3" in results.raw, results.raw
    assert "⛔ <b>storm-watch</b> v1.0.0" in results.raw
    assert "⛔ blocked as malicious: flagged as malicious by the registry; it cannot be installed" in (results.text)
    assert [b["text"] for row in results.buttons for b in row] == ["📦 Install weather-api"], "no button for ⛔"
    await h.say(ALICE, "/addon info storm-watch")
    blocked = h.fake.last_bot(ALICE.id)
    assert blocked.text.startswith("📦 ⛔ storm-watch v1.0.0 (kirohub, not installed)"), blocked.text
    assert "⛔ blocked as malicious: the registry's security scan of this version: malicious" in blocked.text
    assert blocked.buttons == [], "no Install button for what the registry blocks"

    await h.say(ALICE, "/addon search shady")
    shady = h.fake.last_bot(ALICE.id)
    assert "⚠️ shady-tool v0.1.0 · by mallory · ⬇ 0" in shady.text
    assert "⚠️ flagged as suspicious: suspicious.dynamic_code_execution; installing asks you first" in shady.text
    await h.press(ALICE, shady.message_id, "Install shady-tool")  # suspicious: the button asks first
    confirm = h.fake.last_bot(ALICE.id)
    assert "Install anyway?" in confirm.text
    await h.press(ALICE, confirm.message_id, "Install anyway")
    assert "Installed shady-tool v0.1.0" in h.fake.messages[confirm.message_id].text

    await h.say(ALICE, "/addon list")  # the flag stays on the installed add-on
    listed = h.last(ALICE)
    assert "✅ ⚠️ shady-tool v0.1.0 · kirohub" in listed
    assert "⚠️ installed although the registry flags it as suspicious" in listed
    await h.say(ALICE, "/addon search shady")  # the download the hub counted shows up in chat
    assert "shady-tool</b> v0.1.0 · by mallory · ⬇ 1" in h.fake.last_bot(ALICE.id).raw
    assert "✅ installed" in h.last(ALICE)
    await h.say(ALICE, "/addon info shady-tool")
    assert "⚠️ installed although the registry flags it as suspicious" in h.last(ALICE)
    h.assert_clean(ALICE.id)


async def test_addon_info_shows_the_version_asked_for(start_bot, hub, catalog) -> None:
    import json

    from tests.hub.conftest import write_meta

    meta = json.loads((catalog / "weather-api" / "skill.json").read_text())
    write_meta(catalog, "weather-api", **{**meta, "changelogs": {"1.0.0": "first release"}})
    h = await start_bot(kirohub_registry_url=hub.url)
    await h.say(ALICE, "/addon info weather-api@1.0.0")
    shown = h.fake.last_bot(ALICE.id)
    assert shown.text.startswith("📦 weather-api v1.0.0 (kirohub, latest 1.1.0, not installed)"), shown.text
    assert "Changes in 1.0.0: first release" in shown.text and "Files: 2" in shown.text
    await h.press(ALICE, shown.message_id, "Install weather-api")  # the button installs the version shown
    assert "Installed weather-api v1.0.0" in h.last(ALICE)
    await h.say(ALICE, "/addon info weather-api@1.0.0")
    assert h.last(ALICE).startswith("📦 weather-api v1.0.0 (installed)")
    await h.say(ALICE, "/addon info weather-api@9.9.9")
    assert "weather-api 9.9.9 was not found in the registry" in h.last(ALICE)
    assert "versions: 1.1.0, 1.0.0" in h.last(ALICE)
    h.assert_clean(ALICE.id)
