"""Chat with the agent through the real bot and the stand-in kiro-cli: streaming (drafts, edits), the
4096-character split, files both ways, threads, /new, /model, /cancel, and recipes."""

from __future__ import annotations

from pathlib import Path

from kiroclaw.workspaces import Scope
from tests.bot.conftest import ALICE, BOB
from tests.conftest import write_skill


async def test_long_reply_is_split_on_paragraphs_without_breaking_html(start_bot) -> None:
    h = await start_bot()
    paragraphs = [f"Paragraph {i}: " + ("words & <tags> " * 20).strip() for i in range(40)]
    text = "\n\n".join(paragraphs)
    await h.say(ALICE, text)
    parts = h.fake.chat_messages(ALICE.id, sender="bot")
    assert len(parts) >= 3
    assert all(len(p.text) <= 4096 for p in parts)
    assert "\n\n".join(p.text for p in parts) == f"I got: {text}"
    for part in parts:  # every part ends with a whole paragraph
        assert part.text.endswith("<tags>"), part.text[-40:]
    h.assert_clean(ALICE.id)


async def test_long_code_block_is_split_with_tags_reopened(start_bot) -> None:
    h = await start_bot()
    lines = [f"line {i:04d} <x> & y" for i in range(400)]
    await h.say(ALICE, "Here:\n```\n" + "\n".join(lines) + "\n```\nDone.")
    parts = h.fake.chat_messages(ALICE.id, sender="bot")
    assert len(parts) >= 2
    assert all(p.raw.count("<pre>") == p.raw.count("</pre>") for p in parts)
    assert all(p.raw.startswith("<pre>") for p in parts[1:])
    shown = "\n".join(p.text for p in parts)
    assert all(line in shown for line in lines)
    assert shown.endswith("Done.")
    h.assert_clean(ALICE.id)


async def test_reply_streams_as_drafts_then_one_final_message(start_bot) -> None:
    h = await start_bot()
    await h.say(ALICE, "slow one two three four five")
    drafts = h.fake.api_calls("sendMessageDraft")
    assert len(drafts) >= 2
    assert len({d.params["draft_id"] for d in drafts}) == 1
    final = h.fake.api_calls("sendMessage")[-1]
    assert final.t > drafts[-1].t
    assert h.fake.bot_texts(ALICE.id) == ["one two three four five"]
    assert h.fake.api_calls("sendChatAction")[0].params["action"] == "typing"


async def test_without_drafts_the_reply_streams_by_editing_one_message(start_bot) -> None:
    h = await start_bot()
    h.fake.drafts_supported = False
    await h.say(ALICE, "slow alpha beta gamma delta")
    assert len(h.fake.api_calls("sendMessageDraft")) == 1  # tried once, then edits
    assert h.fake.api_calls("editMessageText")
    assert h.fake.bot_texts(ALICE.id) == ["alpha beta gamma delta"]
    assert h.fake.last_bot(ALICE.id).edits >= 1


async def test_group_chats_stream_by_edits(start_bot) -> None:
    h = await start_bot()
    group = -100555
    await h.say(ALICE, "slow red green blue", chat_id=group)
    assert not h.fake.api_calls("sendMessageDraft")
    assert h.fake.bot_texts(group) == ["red green blue"]


async def test_files_go_both_ways(start_bot) -> None:
    h = await start_bot()
    await h.say(ALICE, "write file report.txt hello from the agent")
    doc = next(m for m in h.fake.chat_messages(ALICE.id, sender="bot") if m.document)
    assert doc.document == "report.txt" and doc.document_bytes == b"hello from the agent"
    thread_dir = h.settings.workspace_base_path / str(ALICE.id) / "0"
    assert (thread_dir / "sent" / "report.txt").is_file()

    await h.upload(ALICE, "notes.txt", b"my notes", mime_type="text/plain")
    saved = thread_dir / "inbox" / "notes.txt"
    assert saved.read_bytes() == b"my notes"
    assert "inbox/notes.txt" in h.last(ALICE)
    await h.upload(ALICE, "../../evil name.txt", b"x", mime_type="text/plain", caption="look at this")
    assert (thread_dir / "inbox" / "evil name.txt").read_bytes() == b"x"
    assert h.last(ALICE).startswith("I got: look at this")


async def test_threads_new_and_model(start_bot) -> None:
    h = await start_bot()
    await h.say(ALICE, "echo in topic", thread_id=77)
    assert h.fake.api_calls("sendMessage")[-1].params["message_thread_id"] == "77"
    await h.say(ALICE, "history", thread_id=77)
    assert h.fake.last_bot(ALICE.id).text == "echo in topic"
    assert h.fake.last_bot(ALICE.id).thread_id == 77
    await h.say(ALICE, "history")
    assert h.last(ALICE) == "(no history)"

    await h.say(ALICE, "/new", thread_id=77)
    assert "Fresh start" in h.last(ALICE)
    await h.say(ALICE, "history", thread_id=77)
    assert h.last(ALICE) == "(no history)"

    await h.say(ALICE, "/model")
    listing = h.last(ALICE)
    assert "claude-sonnet-4" in listing and "✅ auto" in listing
    await h.say(ALICE, "/model claude-haiku-4.5")
    assert "now uses claude-haiku-4.5" in h.last(ALICE)
    await h.say(ALICE, "model")
    assert h.last(ALICE) == "claude-haiku-4.5"
    await h.say(ALICE, "/model gpt-nope")
    assert h.last(ALICE).startswith("⚠️ unknown model 'gpt-nope'")
    await h.say(ALICE, "/cancel")
    assert h.last(ALICE) == "Nothing is running right now."
    h.assert_clean(ALICE.id)


async def test_cancel_stops_a_running_turn(start_bot) -> None:
    h = await start_bot(as_tasks=True)
    words = " ".join(f"w{i}" for i in range(40))
    h.fake.send_text(ALICE, f"slow {words}")
    await h.fake.wait_for(lambda: len(h.fake.api_calls("sendMessageDraft")) >= 2, timeout=30)
    live = h.fake.transcript(ALICE.id, live=True)
    assert "bot  : (typing…)" in live and "bot  : (draft " in live, live
    h.fake.send_text(ALICE, "/cancel")
    await h.fake.wait_for(lambda: any("stopped" in t for t in h.fake.bot_texts(ALICE.id)), timeout=30)
    texts = h.fake.bot_texts(ALICE.id)
    assert "⏹ Stopping the agent's answer." in texts
    final = next(t for t in texts if "stopped" in t and t != "⏹ Stopping the agent's answer.")
    assert "(draft " not in h.fake.transcript(ALICE.id, live=True), "the draft outlived the final message"
    assert final.startswith("w0") and final.endswith("⏹ stopped") and "w39" not in final


def _package_with_recipes(root: Path) -> Path:
    pkg = root / "recipe-pack"
    write_skill(pkg / "skills", "helper", "Helps.")
    (pkg / "recipes").mkdir(parents=True)
    (pkg / "recipes" / "review.md").write_text(
        "---\nname: Review\ndescription: Review a file.\narguments:\n  file:\n    description: which file\n"
        "    default: main.py\n  focus:\n    description: what to look at\n---\n"
        "{{/* the stand-in echoes what follows */}}echo Review {{.file}} for {{ .focus }} now\n",
        encoding="utf-8",
    )
    (pkg / "recipes" / "bad.md").write_text(
        '---\nname: Bad\ndescription: Runs a command.\n---\necho {{bash "ls"}}\n', encoding="utf-8"
    )
    return pkg


async def test_recipes_with_arguments_and_a_bad_placeholder(start_bot, tmp_path: Path) -> None:
    h = await start_bot()
    pkg = _package_with_recipes(tmp_path / "pkgs")
    result = await h.host.addons.install(str(pkg), Scope.user(ALICE.id))
    # the template is checked at install time and the file's own line is named (frontmatter included)
    assert any(s.startswith("recipes/bad.md: recipe bad line 5:") for s in result.skipped), result.skipped

    await h.say(ALICE, "/recipe")
    listing = h.last(ALICE)
    assert "recipe-pack" in listing and "review Review: Review a file." in listing
    assert "args: file=main.py focus=…" in listing

    await h.say(ALICE, '/recipe review file=app.py focus="error handling"')
    assert h.fake.bot_texts(ALICE.id)[-2] == "📜 Running recipe review…"
    assert h.last(ALICE) == "Review app.py for error handling now"

    await h.say(ALICE, "/recipe review focus=tests")
    assert h.last(ALICE) == "Review main.py for tests now"

    actions_before = len(h.fake.api_calls("sendChatAction"))
    await h.say(ALICE, "/recipe review")
    assert h.last(ALICE) == "⚠️ recipe review needs argument(s) focus; add them as focus=…"
    await h.say(ALICE, "/recipe bad")  # refused at install, so it was never placed
    assert h.last(ALICE) == "⚠️ you have no recipe called 'bad'; send /recipe to list them"
    await h.say(ALICE, "/recipe nope")
    assert "you have no recipe called 'nope'" in h.last(ALICE)
    assert len(h.fake.api_calls("sendChatAction")) == actions_before, "a refused recipe reached the agent"

    await h.say(BOB, "/recipe")
    assert "You have no recipes" in h.last(BOB)
    h.assert_clean(ALICE.id, BOB.id)


async def test_failing_previews_never_lose_the_reply(start_bot) -> None:
    h = await start_bot()
    h.fake.inject("sendMessageDraft", 500, "Internal Server Error", times=2)
    h.fake.inject("sendMessageDraft", 429, "Too Many Requests: retry after 120", retry_after=120, times=10)
    await h.say(ALICE, "slow one two three")
    assert h.fake.bot_texts(ALICE.id) == ["one two three"]
    assert not h.errors(), h.errors()


async def test_the_stop_button_under_a_draft_cancels_the_turn(start_bot) -> None:
    h = await start_bot(as_tasks=True)
    words = " ".join(f"w{i}" for i in range(40))
    h.fake.send_text(ALICE, f"slow {words}")
    await h.fake.wait_for(lambda: len(h.fake.api_calls("sendMessageDraft")) >= 2, timeout=30)
    draft = h.fake.api_calls("sendMessageDraft")[-1]
    assert draft.params["can_stop"] == "true"
    # a forged stop for another draft id is ignored
    await h.fake.wait_acked(h.fake.stop_generation(ALICE.id, int(draft.params["draft_id"]) + 1))
    drafts = len(h.fake.api_calls("sendMessageDraft"))
    await h.fake.wait_for(lambda: len(h.fake.api_calls("sendMessageDraft")) >= drafts + 2, timeout=10)
    assert not h.fake.bot_texts(ALICE.id), "a forged stop ended the turn"
    h.fake.stop_generation(ALICE.id, int(draft.params["draft_id"]))
    await h.fake.wait_for(lambda: any("stopped" in t for t in h.fake.bot_texts(ALICE.id)), timeout=30)
    final = h.fake.bot_texts(ALICE.id)[-1]
    assert final.startswith("w0") and final.endswith("⏹ stopped") and "w39" not in final
    assert not h.errors(), h.errors()
