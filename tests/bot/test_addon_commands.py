"""The rest of ``/addon`` through the real bot and the KiroHub test registry: help, info, update (old →
new), enable/disable, suspicious add-ons behind a confirm button, blocked ones, expired and foreign
buttons. The whole chat is compared with a golden transcript."""

from __future__ import annotations

from kiroclaw.workspaces import Scope
from tests.bot.conftest import ADMIN, ALICE, BOB
from tests.bot.test_conversation import check_golden, normalise
from tests.hub.conftest import write_meta, write_version

USER = Scope.user(ALICE.id)


async def test_addon_management(start_bot, hub) -> None:
    h = await start_bot(kirohub_registry_url=hub.url)
    fake = h.fake

    await h.say(ALICE, "/addon")
    assert "/addon search weather" in h.last(ALICE) and "-g" in h.last(ALICE)

    await h.say(ALICE, "/addon info weather-api")
    info = fake.last_bot(ALICE.id)
    assert "weather-api v1.1.0 (kirohub, not installed)" in info.text and "By alice" in info.text
    assert "Versions: 1.1.0, 1.0.0" in info.text

    await h.say(ALICE, "/addon install weather-api@1.0.0")
    assert "Installed weather-api v1.0.0" in h.last(ALICE)
    await h.say(ALICE, "/addon update")
    assert "weather-api: pinned" in h.last(ALICE)
    # the next step is named: the newer version and the command that moves to it
    assert "1.1.0 exists, move to it with /addon install weather-api@1.1.0 --force" in h.last(ALICE)
    await h.say(ALICE, "/addon install --force weather-api")
    assert "Installed weather-api v1.1.0" in h.last(ALICE)
    write_version(hub.catalog, "weather-api", "1.2.0")
    await h.say(ALICE, "/addon update weather-api")
    assert "⬆️ weather-api: 1.1.0 → 1.2.0" in h.last(ALICE)
    await h.say(ALICE, "/addon update")
    assert "✅ weather-api: up to date" in h.last(ALICE)

    await h.say(ALICE, "/addon info weather-api")
    details = h.last(ALICE)
    assert "weather-api v1.2.0 (installed)" in details and "Skills: weather-api" in details
    assert str(h.settings.workspace_base_path) not in details

    await h.say(ALICE, "/addon disable weather-api")
    assert "Disabled weather-api" in h.last(ALICE)
    await h.say(ALICE, "/skills")
    assert "no skills yet" in h.last(ALICE)
    await h.say(ALICE, "/addon list")
    assert "⏸ weather-api v1.2.0 · kirohub · disabled" in h.last(ALICE)
    await h.say(ALICE, "/addon enable weather-api")
    assert "Enabled weather-api" in h.last(ALICE)
    await h.say(ALICE, "/addon enable weather-api")
    assert "weather-api is already enabled; nothing changed." in h.last(ALICE)
    await h.say(ALICE, "/skills")
    assert "weather-api" in h.last(ALICE)

    # suspicious: a confirm button; pressing it installs in the same message
    await h.say(ALICE, "/addon install shady-tool")
    confirm = fake.last_bot(ALICE.id)
    assert confirm.text.startswith("⚠️") and "Install anyway?" in confirm.text
    assert not (h.settings.workspace_base_path / str(ALICE.id) / ".kiro" / "skills" / "shady-tool").exists()
    await h.press(ALICE, confirm.message_id, "Install anyway")
    assert "Installed shady-tool v0.1.0" in fake.messages[confirm.message_id].text
    # the confirm button is one-shot
    update_id = fake.press_data(ALICE, confirm.message_id, confirm_data(fake, confirm))
    await fake.wait_acked(update_id)
    assert fake.api_calls("answerCallbackQuery")[-1].params["text"].startswith("This button has expired")

    # malware-blocked: refused outright, no button
    await h.say(ALICE, "/addon install evil-tool")
    blocked = fake.last_bot(ALICE.id)
    assert blocked.text.startswith("❌") and not blocked.buttons

    # a search button pressed by someone else (in a group) is refused (Alice has weather-api by now, so
    # its result carries no Install button: the button is plain-notes')
    group = -100999
    await h.say(ALICE, "/addon search plain", chat_id=group)
    results = fake.last_bot(group)
    await h.press(BOB, results.message_id, "Install plain-notes")
    assert fake.api_calls("answerCallbackQuery")[-1].params["text"].startswith("This button has expired")
    assert not (h.settings.workspace_base_path / str(BOB.id) / "addons.json").exists()

    h.assert_clean(ALICE.id, group)
    assert not h.errors(), h.errors()
    check_golden("addon_management_alice.txt", normalise(fake.transcript(ALICE.id)))


def confirm_data(fake, message) -> str:  # type: ignore[no-untyped-def]
    """The callback data of the "Install anyway" button that was on ``message`` before it was pressed."""
    for call in fake.api_calls("editMessageText"):
        if call.params.get("message_id") == str(message.message_id) and call.params.get("reply_markup"):
            return call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    raise AssertionError("no confirm button was sent")


async def test_skills_shows_provenance_and_shadowing(start_bot, hub) -> None:
    h = await start_bot(kirohub_registry_url=hub.url)
    await h.say(ADMIN, "/addon install -g weather-api@1.0.0")
    await h.say(ADMIN, "/addon install -g plain-notes")
    await h.say(ALICE, "/addon install weather-api")
    await h.say(ALICE, "/skills")
    text = h.last(ALICE)
    # grouped: the user's own first, then global ones under their heading, shadowed ones last
    assert "🧠 Your agent's skills (2):" in text
    assert (
        "• weather-api: The weather-api skill, version 1.1.0.\n\n"
        "🌐 Global (every user has these)\n• plain-notes: The plain-notes skill, version 2.0.0."
    ) in text
    assert "🙈 Shadowed (1)" in text
    assert "• weather-api (global weather-api) → hidden by weather-api (your add-on)" in text
    await h.say(BOB, "/skills")
    assert "Shadowed" not in h.last(BOB) and "🌐 Global (every user has these)\n• plain-notes" in h.last(BOB)
    h.assert_clean(ALICE.id, BOB.id)


async def test_replies_stay_in_the_topic(start_bot, hub) -> None:
    h = await start_bot(kirohub_registry_url=hub.url)
    await h.say(ALICE, "/addon search weather", thread_id=77)
    results = h.fake.last_bot(ALICE.id)
    assert results.thread_id == 77
    await h.press(ALICE, results.message_id, "Install weather-api")
    progress = h.fake.last_bot(ALICE.id)
    assert progress.thread_id == 77 and "Installed weather-api" in progress.text
    await h.say(ALICE, "/addon list", thread_id=77)
    assert h.fake.last_bot(ALICE.id).thread_id == 77
    assert all(c.params.get("message_thread_id") == "77" for c in h.fake.api_calls("sendMessage"))
    assert h.fake.transcript(ALICE.id).startswith("#77 alice: /addon search weather")


async def test_update_all_asks_per_addon_and_confirms_only_that_one(start_bot, hub) -> None:
    """Security: after ``/addon update`` the user confirms one add-on at a time; pressing one add-on's
    button never confirms another add-on's warnings, which the user has not seen."""
    h = await start_bot(kirohub_registry_url=hub.url)
    fake = h.fake
    await h.say(ALICE, "/addon install weather-api")
    await h.say(ALICE, "/addon install plain-notes")
    write_version(hub.catalog, "weather-api", "1.2.0")
    write_meta(hub.catalog, "weather-api", owner="alice", moderation={"isSuspicious": True})
    write_version(hub.catalog, "plain-notes", "2.1.0")
    write_meta(hub.catalog, "plain-notes", moderation={"isSuspicious": True})

    await h.say(ALICE, "/addon update")
    results = fake.last_bot(ALICE.id)
    assert results.text.startswith("🔄 Update results:")
    assert "⚠️ plain-notes" in results.text and "⚠️ weather-api" in results.text
    assert "suspicious" in results.text.lower()
    labels = [button["text"] for row in results.buttons for button in row]
    assert labels == ["⚠️ Update plain-notes anyway", "⚠️ Update weather-api anyway"]
    assert h.host.addons.get("weather-api", USER).version == "1.1.0"

    await h.press(ALICE, results.message_id, "Update weather-api anyway")
    assert "⬆️ weather-api: 1.1.0 → 1.2.0" in h.last(ALICE)
    assert h.host.addons.get("weather-api", USER).version == "1.2.0"
    assert h.host.addons.get("plain-notes", USER).version == "2.0.0", "a warning the user never saw was confirmed"
    await h.press(ALICE, results.message_id, "Update plain-notes anyway")
    assert "⬆️ plain-notes: 2.0.0 → 2.1.0" in h.last(ALICE)
    h.assert_clean(ALICE.id)
    assert not h.errors(), h.errors()


async def test_update_anyway_keeps_force(start_bot, hub) -> None:
    h = await start_bot(kirohub_registry_url=hub.url)
    await h.say(ALICE, "/addon install weather-api")
    skill = h.settings.workspace_base_path / str(ALICE.id) / ".kiro" / "skills" / "weather-api" / "SKILL.md"
    skill.write_text(skill.read_text() + "\nmy local note\n")
    write_version(hub.catalog, "weather-api", "1.2.0")
    write_meta(hub.catalog, "weather-api", owner="alice", moderation={"isSuspicious": True})

    await h.say(ALICE, "/addon update --force weather-api")
    confirm = h.fake.last_bot(ALICE.id)
    assert confirm.text.startswith("⚠️") and "Update anyway?" in confirm.text
    await h.press(ALICE, confirm.message_id, "Update anyway")
    assert "⬆️ weather-api: 1.1.0 → 1.2.0" in h.last(ALICE), h.last(ALICE)
    assert "my local note" not in skill.read_text()
    h.assert_clean(ALICE.id)
