"""Agent Markdown becomes Telegram formatting: through the real bot (the stand-in agent answers
``I got: <prompt>``, so the prompt is the agent's Markdown), and as properties of the renderer."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from kiroclaw.bot.format import agent_text_to_html, split_html
from tests.bot.conftest import ALICE
from tests.bot.fake_telegram import render_html, utf16_len

REPLY = """Here it is:

# Release plan

Ship **1.2** with *care*, ~~no~~ _some_ `kiroclaw run` changes; see [the notes](https://example.com/notes?a=1&b=2).

## Steps
1. Tag the release
2. Publish
   - wheel
   - sdist

> Never publish on a Friday.

```python
if version < (1, 2):
    print("old & slow")
```

| file | size |
|------|-----:|
| a.py | 10 |
| long_name.py | 2000 |

Wrap output in a <div> & don't [click](javascript:alert(1)).
"""


async def test_markdown_reply_reads_as_telegram_formatting(start_bot) -> None:
    h = await start_bot()
    await h.say(ALICE, REPLY)
    message = h.fake.last_bot(ALICE.id)
    raw, shown = message.raw, message.text
    assert "<b>Release plan</b>" in raw and "<b>Steps</b>" in raw  # headings
    assert "<b>1.2</b>" in raw and "<i>care</i>" in raw and "<s>no</s>" in raw and "<i>some</i>" in raw
    assert "<code>kiroclaw run</code>" in raw
    assert '<a href="https://example.com/notes?a=1&amp;b=2">the notes</a>' in raw
    assert "1. Tag the release\n2. Publish\n   • wheel\n   • sdist" in shown  # lists, nested and indented
    assert "<blockquote>Never publish on a Friday.</blockquote>" in raw
    assert '<pre><code class="language-python">if version &lt; (1, 2):\n    print("old &amp; slow")</code></pre>' in raw
    assert "file         | size\n-------------+-----\na.py         | 10\nlong_name.py | 2000" in shown  # table
    assert "<pre>file" in raw
    assert "Wrap output in a <div> & don't [click](javascript:alert(1))." in shown  # raw HTML stays text
    for marker in ("**", "```", "# ", "|---"):
        assert marker not in shown, marker
    h.assert_clean(ALICE.id)


async def test_streamed_markdown_drafts_are_valid_html(start_bot) -> None:
    h = await start_bot()
    await h.say(ALICE, "slow **bold** and `code` then more **words")
    drafts = h.fake.api_calls("sendMessageDraft")
    assert len(drafts) >= 2
    for draft in drafts:  # a half-streamed reply (an open ** or `) is always valid Telegram HTML
        render_html(draft.params["text"])
    assert h.fake.last_bot(ALICE.id).raw == "<b>bold</b> and <code>code</code> then more **words"


async def test_a_long_formatted_reply_is_split_without_cutting_an_entity(start_bot) -> None:
    h = await start_bot()
    rows = "\n".join(f"- item **{i}** with `code {i}` and [link {i}](https://example.com/{i})" for i in range(200))
    await h.say(ALICE, "Items:\n\n" + rows)
    parts = h.fake.chat_messages(ALICE.id, sender="bot")
    assert len(parts) >= 2
    for part in parts:
        assert utf16_len(part.text) <= 4096
        render_html(part.raw)  # every part is balanced on its own
    shown = "\n".join(p.text for p in parts)
    assert all(f"• item {i} with code {i} and link {i}" in shown for i in range(200))
    h.assert_clean(ALICE.id)


_MARKDOWN_PIECES = st.sampled_from(
    ["**", "*", "_", "`", "```", "```py\n", "\n", "\n\n", "# ", "> ", "- ", "1. ", "| a | b |\n|---|---|\n", "[x](",
     "https://e.x/?a=1&b=2", ")", "<b>", "&amp;", "&", "<", "ü😀", "word", " ", "~~", "||"]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(_MARKDOWN_PIECES, max_size=60))
def test_any_markdown_renders_to_valid_telegram_html_and_splits_cleanly(pieces: list[str]) -> None:
    html = agent_text_to_html("".join(pieces))
    render_html(html)
    # the splitter never cuts inside a tag and reopens the open ones in every part, so the smallest useful
    # limit holds every opening tag and its closing tag at once
    limit = max(64, 2 * sum(utf16_len(tag) for tag in set(re.findall(r"<[^/][^>]*>", html))) + 16)
    for part in split_html(html, limit):
        assert utf16_len(part) <= limit
        render_html(part)
