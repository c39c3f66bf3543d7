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
