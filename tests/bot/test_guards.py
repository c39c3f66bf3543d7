"""Guard rails through the real bot: allowlist, admin-only global installs, install rate limit, file size
limits, bad specs, Bot API flood control and "message is not modified", and unexpected errors."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from kiroclaw.bot.middlewares import InstallGuard, parse_rate
from kiroclaw.errors import ConfigError, LimitExceededError
from tests.acquire.conftest import make_zip, skill_md
from tests.bot.conftest import ADMIN, ALICE, BOB, MALLORY, tree
from tests.bot.fake_telegram import NOT_MODIFIED

MB = 1024 * 1024


async def test_unknown_user_is_told_their_id_and_nothing_is_created(start_bot, hub) -> None:
    h = await start_bot(kirohub_registry_url=hub.url)
    before = tree(h.settings.workspace_base_path)
    await h.say(MALLORY, "/addon install weather-api")
    assert "Your Telegram id is 6666" in h.last(MALLORY)
    await h.say(MALLORY, "hello agent")
    await h.upload(MALLORY, "x.zip", make_zip([("s/SKILL.md", skill_md("s"))]), caption="/addon install")
    # an unknown user pressing an old button gets an alert, never a handler
    fake_button_owner = h.fake.last_bot(MALLORY.id)
    fake_button_owner.buttons = [[{"text": "Install", "callback_data": "ad:whatever"}]]
    await h.press(MALLORY, fake_button_owner.message_id, "Install")
    assert tree(h.settings.workspace_base_path) == before
    assert not (h.settings.workspace_base_path / str(MALLORY.id)).exists()
    assert not h.fake.api_calls("getFile"), "a file from an unknown user was downloaded"
    assert not h.fake.api_calls("sendChatAction"), "an unknown user reached the agent"
    assert not hub.log, "an unknown user's command reached the registry"
    # told once, not on every message (no reply flood)
    assert len(h.fake.bot_texts(MALLORY.id)) == 1
    h.assert_clean(MALLORY.id)


async def test_allowlist_is_keyed_by_user_not_chat(start_bot) -> None:
    h = await start_bot()
    group = -100777
    await h.say(MALLORY, "/start", chat_id=group)
    assert "Your Telegram id is 6666" in h.fake.last_bot(group).text
    await h.say(ALICE, "/start", chat_id=group)
    assert "Hi Alice" in h.fake.last_bot(group).text


async def test_global_installs_are_for_admins_only(start_bot, hub) -> None:
    h = await start_bot(kirohub_registry_url=hub.url)
    await h.say(ALICE, "/addon install -g weather-api")
    assert h.last(ALICE) == "⚠️ only admins can manage global add-ons (-g)"
    assert not (h.settings.global_root / "addons.json").exists()

    await h.say(ADMIN, "/addon install -g weather-api")
    assert "Installed weather-api v1.1.0 from kirohub for everyone (global)" in h.last(ADMIN)
    await h.say(BOB, "/addon list")
    listing = h.last(BOB)
    assert "You have no add-ons yet" in listing
    assert "Global add-ons you inherit (1):" in listing and "weather-api v1.1.0" in listing
    await h.say(BOB, "/skills")
    assert "🌐 Global (every user has these)\n• weather-api" in h.last(BOB)
    await h.say(ALICE, "/addon remove -g weather-api")
    assert "only admins" in h.last(ALICE)
    h.assert_clean(ALICE.id, ADMIN.id, BOB.id)


async def test_install_rate_limit(start_bot, hub) -> None:
    h = await start_bot(kirohub_registry_url=hub.url, install_rate_limit="2/hour")
    await h.say(ALICE, "/addon install weather-api")
    assert "Installed weather-api" in h.last(ALICE)
    await h.say(ALICE, "/addon install plain-notes")
    assert "Installed plain-notes" in h.last(ALICE)
    requests_before = len(hub.log)
    await h.say(ALICE, "/addon install shady-tool")
    assert h.last(ALICE).startswith("⚠️ install limit reached (2 per hour); try again in")
    assert len(hub.log) == requests_before, "a rate-limited install still reached the registry"
    # the limit is per user
    await h.say(BOB, "/addon install plain-notes")
    assert "Installed plain-notes" in h.last(BOB)


async def test_installs_refused_before_the_source_do_not_use_up_the_rate_limit(start_bot, hub) -> None:
    h = await start_bot(kirohub_registry_url=hub.url, install_rate_limit="2/hour")
    await h.say(ALICE, "/addon install weather-api")
    assert "Installed weather-api" in h.last(ALICE)
    # refused before any download: already installed, not a spec, an unknown source
    await h.say(ALICE, "/addon install weather-api")
    assert "already installed" in h.last(ALICE)
    await h.say(ALICE, "/addon install Not A Spec!")
    assert h.last(ALICE).startswith("❌")
    await h.say(ALICE, "/addon install nosuchsource:thing")
    assert h.last(ALICE).startswith("❌")
    # the second real install still fits in 2/hour; the third does not
    await h.say(ALICE, "/addon install plain-notes")
    assert "Installed plain-notes" in h.last(ALICE)
    await h.say(ALICE, "/addon install shady-tool")
    assert h.last(ALICE).startswith("⚠️ install limit reached (2 per hour)")
    h.assert_clean(ALICE.id)


async def test_refund_gives_back_one_use() -> None:
    guard = InstallGuard("1/hour")
    async with guard.slot(1):
        guard.refund(1)
    async with guard.slot(1):
        pass
    with pytest.raises(LimitExceededError, match="install limit reached"):
        async with guard.slot(1):
            pass


async def test_one_install_in_flight_per_user() -> None:
    guard = InstallGuard("10/hour")
    async with guard.slot(1):
        with pytest.raises(LimitExceededError, match="still running"):
            async with guard.slot(1):
                pass
        async with guard.slot(2):  # another user is not blocked
            pass
    async with guard.slot(1):  # released afterwards
        pass


def test_rate_parsing() -> None:
    assert parse_rate("10/hour") == (10, 3600.0)
    assert parse_rate("3 / min") == (3, 60.0)
    assert parse_rate("5/30s") == (5, 30.0)
    assert parse_rate("1/day") == (1, 86400.0)
    with pytest.raises(ConfigError):
        parse_rate("ten per hour")


async def test_rate_window_slides() -> None:
    now = [0.0]
    guard = InstallGuard("2/minute", clock=lambda: now[0])
    for _ in range(2):
        async with guard.slot(1):
            pass
    with pytest.raises(LimitExceededError, match="try again in 60 s"):
        async with guard.slot(1):
            pass
    now[0] = 60.0
    async with guard.slot(1):
        pass


async def test_oversize_documents_are_refused_before_download(start_bot) -> None:
    h = await start_bot()
    await h.upload(ALICE, "huge.zip", b"PK", caption="/addon install", declared_size=25 * MB)
    assert h.last(ALICE) == "⚠️ the file is 25.0 MB; bots can download at most 20 MB from Telegram"
    await h.upload(ALICE, "video.bin", b"x", declared_size=21 * MB)
    assert "at most 20 MB" in h.last(ALICE)
    assert not h.fake.api_calls("getFile")
    assert not (h.settings.workspace_base_path / str(ALICE.id)).exists()


async def test_document_larger_than_addon_limit(start_bot) -> None:
    h = await start_bot(max_addon_size_mb=1)
    await h.upload(ALICE, "big.zip", b"PK", caption="/addon install", declared_size=2 * MB)
    assert h.last(ALICE) == "⚠️ the file is larger than the 1 MB add-on limit"
    assert not h.fake.api_calls("getFile")


async def test_install_from_an_uploaded_archive(start_bot) -> None:
    h = await start_bot()
    archive = make_zip([("notes-helper/SKILL.md", skill_md("notes-helper")), ("notes-helper/ref.md", b"# ref\n")])
    await h.upload(ALICE, "notes-helper.zip", archive, caption="/addon install")
    text = h.last(ALICE)
    assert "Installed notes-helper from upload" in text and "Skills added: notes-helper" in text
    assert (h.settings.workspace_base_path / str(ALICE.id) / ".kiro" / "skills" / "notes-helper" / "SKILL.md").is_file()
    assert h.fake.api_calls("getFile")
    # a hostile archive is refused with one line and leaves nothing behind
    evil = make_zip([("../evil/SKILL.md", skill_md("evil"))])
    await h.upload(ALICE, "evil.zip", evil, caption="/addon install")
    assert h.last(ALICE).startswith("❌")
    assert not (h.settings.workspace_base_path / str(ALICE.id) / ".kiro" / "skills" / "evil").exists()
    await h.upload(ALICE, "notes.txt", b"hello", caption="/addon install")
    assert "send the add-on as a .zip" in h.last(ALICE)
    h.assert_clean(ALICE.id)


@pytest.mark.parametrize(
    "command",
    [
        "/addon install",
        "/addon install ../../etc/passwd",
        "/addon install Not A Spec!",
        "/addon install github:not-a/repo/../../x",
        "/addon frobnicate",
        "/addon remove not-installed",
    ],
)
async def test_bad_specs_get_one_friendly_line(start_bot, command: str) -> None:
    h = await start_bot()
    await h.say(ALICE, command)
    reply = h.last(ALICE)
    assert reply.startswith(("⚠️", "❌", "Unknown subcommand")), reply
    assert "Traceback" not in reply and str(h.settings.workspace_base_path) not in reply
    assert not h.errors(), h.errors()
    h.assert_clean(ALICE.id)


async def test_flood_control_honours_retry_after(start_bot) -> None:
    h = await start_bot()
    h.fake.inject("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    await h.say(ALICE, "/start")
    assert "Hi Alice" in h.last(ALICE)
    calls = h.fake.api_calls("sendMessage")
    assert len(calls) == 2
    assert calls[1].t - calls[0].t >= 0.95
    assert ("sendmessage", 429, "Too Many Requests: retry after 1") in h.fake.errors_sent


async def test_message_not_modified_is_tolerated(start_bot, hub) -> None:
    h = await start_bot(kirohub_registry_url=hub.url)
    h.fake.inject("editMessageText", 400, NOT_MODIFIED, times=2)
    await h.say(ALICE, "/addon install weather-api")
    assert "Installed weather-api v1.1.0" in h.last(ALICE)
    assert sum(1 for e in h.fake.errors_sent if "not modified" in e[2]) == 2
    assert not h.errors(), h.errors()
    assert not [t for t in h.fake.bot_texts(ALICE.id) if "wrong" in t]


class BrokenRuntime:
    """A runtime that fails the way a bug would, mentioning a server path and a token."""

    async def prompt(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("cannot open /srv/kiroclaw/secret.db with token 123456:SECRET")

    async def aclose(self) -> None:
        return None


async def test_unexpected_errors_are_logged_and_apologised_for(start_bot) -> None:
    h = await start_bot(runtime=BrokenRuntime())
    await h.say(ALICE, "hello")
    reply = h.last(ALICE)
    assert reply.startswith("😵 Sorry, something went wrong on our side")
    transcript = h.fake.transcript(ALICE.id)
    assert "/srv" not in transcript and "SECRET" not in transcript and "Traceback" not in transcript
    errors = [r for r in h.log_records if r.levelno >= logging.ERROR]
    assert errors and errors[0].exc_info is not None, "the traceback was not logged"


async def test_an_error_after_a_button_press_still_reaches_the_chat(start_bot, hub) -> None:
    h = await start_bot(kirohub_registry_url=hub.url)
    await h.say(ALICE, "/addon install weather-api")
    await h.say(ALICE, "/addon remove weather-api")
    first = h.fake.last_bot(ALICE.id)
    await h.say(ALICE, "/addon remove weather-api")
    second = h.fake.last_bot(ALICE.id)
    await h.press(ALICE, first.message_id, "Remove")
    assert "Removed weather-api" in h.fake.messages[first.message_id].text
    await h.press(ALICE, second.message_id, "Remove")
    assert h.last(ALICE).startswith("⚠️") and "weather-api" in h.last(ALICE)
    h.assert_clean(ALICE.id)
    assert not h.errors(), h.errors()


async def test_one_install_in_flight_through_the_bot(start_bot, hub) -> None:
    h = await start_bot(kirohub_registry_url=hub.url, as_tasks=True, kirohub_timeout_seconds=2.0, kirohub_retries=0)
    hub.fault("/api/v1/skills/weather-api", "stall", times=5)
    h.fake.send_text(ALICE, "/addon install weather-api")
    await h.fake.wait_for(lambda: any("Installing" in t for t in h.fake.bot_texts(ALICE.id)), timeout=20)
    progress = h.fake.last_bot(ALICE.id)
    h.fake.send_text(ALICE, "/addon install plain-notes")
    await h.fake.wait_for(lambda: any("still running" in t for t in h.fake.bot_texts(ALICE.id)), timeout=20)
    # another user is not blocked meanwhile
    h.fake.send_text(BOB, "/addon install plain-notes")
    await h.fake.wait_for(lambda: any("Installed plain-notes" in t for t in h.fake.bot_texts(BOB.id)), timeout=20)
    # the stalled install ends with one line, and the slot is free again
    await h.fake.wait_for(lambda: progress.text.startswith("❌"), timeout=30)
    h.fake.send_text(ALICE, "/addon install plain-notes")
    await h.fake.wait_for(lambda: any("Installed plain-notes" in t for t in h.fake.bot_texts(ALICE.id)), timeout=20)
    h.assert_clean(ALICE.id, BOB.id)
