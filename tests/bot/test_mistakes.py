"""Mistakes get help, through the real bot and the KiroHub test registry: an unknown version lists the
versions that exist, a misspelt registry name gets "did you mean", and neither counts against the install
rate limit (it resolved to nothing)."""

from __future__ import annotations

from tests.bot.conftest import ALICE


async def test_unknown_version_and_misspelt_name_get_help_and_keep_the_rate_limit(start_bot, hub) -> None:  # type: ignore[no-untyped-def]
    h = await start_bot(kirohub_registry_url=hub.url, install_rate_limit="2/hour")
    await h.say(ALICE, "/addon install weather-api@9.9.9")
    reply = h.last(ALICE)
    assert reply.startswith("❌") and "weather-api 9.9.9 was not found" in reply
    assert "versions: 1.1.0, 1.0.0" in reply
    await h.say(ALICE, "/addon install wether-api")
    assert "did you mean weather-api?" in h.last(ALICE)
    # both resolved to nothing: two real installs still fit in 2/hour, the third does not
    await h.say(ALICE, "/addon install weather-api@1.0.0")
    assert "Installed weather-api v1.0.0" in h.last(ALICE)
    await h.say(ALICE, "/addon install plain-notes")
    assert "Installed plain-notes" in h.last(ALICE)
    await h.say(ALICE, "/addon install shady-tool")
    assert h.last(ALICE).startswith("⚠️ install limit reached (2 per hour)")
    h.assert_clean(ALICE.id)
