"""Replies that grow with the number of skills/add-ons are split into several messages instead of being
refused by Telegram ("message is too long") and replaced by the apology."""

from __future__ import annotations

from pathlib import Path

from tests.bot.conftest import ALICE
from tests.bot.fake_telegram import render_html, utf16_len
from tests.conftest import write_skill

SKILLS = 40


def big_package(root: Path) -> Path:
    """``root/bigpack``: a plugin package with 40 skills, each with a long description and emoji."""
    package = root / "bigpack"
    for index in range(SKILLS):
        write_skill(
            package / "skills",
            f"skill-number-{index:02d}",
            f"Skill {index:02d} 😀 does one small thing well, described at length so the list grows long.",
        )
    return package


async def test_long_lists_are_split_not_refused(start_bot, tmp_path: Path) -> None:
    roots = tmp_path / "packages"
    package = big_package(roots)
    h = await start_bot(local_source_roots=[roots])
    fake = h.fake

    await h.say(ALICE, f"/addon install {package}")
    assert "Installed bigpack" in fake.bot_texts(ALICE.id)[0]

    # a package's skills are one line of names: the list fits one page
    before = len(fake.bot_texts(ALICE.id))
    await h.say(ALICE, "/skills")
    replies = fake.bot_texts(ALICE.id)[before:]
    assert len(replies) == 1
    assert replies[0].startswith(f"🧠 Your agent's skills ({SKILLS}):\n\n📦 bigpack ({SKILLS}): skill-number-00, ")
    assert all(f"skill-number-{i:02d}" in replies[0] for i in range(SKILLS))

    before = len(fake.bot_texts(ALICE.id))
    await h.say(ALICE, "/addon info bigpack")
    assert "Skills: skill-number-00" in fake.bot_texts(ALICE.id)[before]

    # the remove prompt lists every skill the agent loses; the buttons are on its last part
    before = len(fake.bot_texts(ALICE.id))
    await h.say(ALICE, "/addon remove bigpack")
    prompt = fake.chat_messages(ALICE.id, sender="bot")[before:]
    assert prompt[0].text.startswith("🗑 Remove bigpack?")
    assert prompt[-1].buttons and not any(m.buttons for m in prompt[:-1])
    await h.press(ALICE, prompt[-1].message_id, "Remove")
    assert "Removed bigpack" in "\n".join(fake.bot_texts(ALICE.id))
    assert not list((h.settings.workspace_base_path / str(ALICE.id) / ".kiro" / "plugins").glob("*/skills/*"))

    texts = fake.bot_texts(ALICE.id)
    assert not [t for t in texts if "went wrong" in t], texts
    assert not [e for e in fake.errors_sent if e[1] == 400], fake.errors_sent
    assert all(utf16_len(t) <= 4096 for t in texts)
    h.assert_clean(ALICE.id)
    assert not h.errors(), h.errors()


async def test_fake_server_counts_utf16_units(start_bot) -> None:
    """The fake Bot API refuses what Telegram refuses: 2100 emoji are 4200 UTF-16 units."""
    from aiogram.exceptions import TelegramBadRequest

    h = await start_bot()
    assert utf16_len(render_html("😀" * 2100)) == 4200
    try:
        await h.bot.send_message(chat_id=ALICE.id, text="😀" * 2100)
    except TelegramBadRequest as exc:
        assert "message is too long" in exc.message
    else:
        raise AssertionError("an over-long text was accepted")
    await h.bot.send_message(chat_id=ALICE.id, text="😀" * 2048)


async def test_an_overflowing_progress_message_continues_in_new_messages(start_bot) -> None:
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

    from kiroclaw.bot.progress import ProgressMessage

    h = await start_bot()
    progress = ProgressMessage(h.bot, ALICE.id, None, "🔄 Updating your add-ons…")
    await progress.start("resolving")
    first = progress.message_id
    lines = [f"⬆️ <b>addon-{i:03d}</b>: 1.0.0 → 1.1.0 😀 with a few words more" for i in range(150)]
    keyboard = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="OK", callback_data="x")]])
    await progress.done("\n".join(lines), keyboard)
    messages = h.fake.chat_messages(ALICE.id, sender="bot")
    assert messages[0].message_id == first and messages[0].text.startswith("⬆️ addon-000")
    assert len(messages) >= 2 and messages[-1].buttons and not any(m.buttons for m in messages[:-1])
    shown = "\n".join(m.text for m in messages)
    assert all(f"addon-{i:03d}" in shown for i in range(150))
    assert not h.fake.errors_sent, h.fake.errors_sent
