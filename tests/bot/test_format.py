"""Text helpers: escaping, agent Markdown → Telegram HTML, splitting at 4096 without breaking HTML, "ago"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kiroclaw.bot.format import agent_text_to_html, ago, esc, split_html, utf16_len
from tests.bot.fake_telegram import render_html


def test_escape_and_agent_markup() -> None:
    assert esc("<b> & </b>") == "&lt;b&gt; &amp; &lt;/b&gt;"
    html = agent_text_to_html("Use **bold** and `a<b>` then\n```py\nx = 1 < 2\n```\nend")
    # code blocks keep their language (Telegram highlights it)
    assert html == (
        "Use <b>bold</b> and <code>a&lt;b&gt;</code> then\n\n"
        '<pre><code class="language-py">x = 1 &lt; 2</code></pre>\n\nend'
    )

    assert render_html(html) == "Use bold and a<b> then\n\nx = 1 < 2\n\nend"
    # unmatched markers stay literal: a half-streamed reply is still valid HTML
    partial = agent_text_to_html("start ```py\nno end yet **bold")
    assert render_html(partial) == "start ```py\nno end yet **bold"


def test_split_prefers_paragraphs_then_lines() -> None:
    paragraphs = ["a" * 1500, "b" * 1500, "c" * 1500]
    parts = split_html("\n\n".join(paragraphs), 4096)
    assert parts == ["a" * 1500 + "\n\n" + "b" * 1500, "c" * 1500]
    lines = "\n".join(["x" * 100] * 60)
    parts = split_html(lines, 1000)
    assert all(len(p) <= 1000 for p in parts)
    assert all(set(p) <= {"x", "\n"} and not p.startswith("\n") and not p.endswith("\n") for p in parts)
    assert "".join(p.replace("\n", "") for p in parts) == "x" * 6000


def test_split_closes_and_reopens_tags() -> None:
    text = '<b>bold <a href="https://e.x/?a=1&amp;b=2">' + "link " * 300 + "</a> end</b>"
    parts = split_html(text, 500)
    assert len(parts) > 3
    for part in parts:
        assert len(part) <= 500
        render_html(part)  # raises on broken HTML
    assert parts[1].startswith('<b><a href="https://e.x/?a=1&amp;b=2">')
    joined = " ".join(render_html(p) for p in parts)
    assert " ".join(joined.split()) == " ".join(render_html(text).split())


def test_split_never_cuts_an_entity_or_a_tag() -> None:
    text = "&amp;" * 1000
    parts = split_html(text, 333)
    assert all(render_html(p) == "&" * len(render_html(p)) for p in parts)
    assert sum(len(render_html(p)) for p in parts) == 1000


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["", "b", "i", "code", "pre"]),
            st.text(alphabet=st.sampled_from(list("ab <&>\n\n é😀")), min_size=0, max_size=300),
        ),
        min_size=1,
        max_size=30,
    ),
    st.integers(min_value=60, max_value=700),
)
def test_split_property(chunks: list[tuple[str, str]], limit: int) -> None:
    html = "".join(f"<{tag}>{esc(body)}</{tag}>" if tag else esc(body) for tag, body in chunks)
    parts = split_html(html, limit)
    visible = "".join("".join(render_html(p).split()) for p in parts)
    assert visible == "".join(render_html(html).split())  # nothing lost but white space at cuts
    for part in parts:
        assert utf16_len(part) <= limit  # Telegram counts UTF-16 code units
        assert render_html(part).strip()


def test_split_counts_utf16_units_like_telegram() -> None:
    text = "😀" * 5000  # 10 000 UTF-16 units; Python's len says 5000
    parts = split_html(text)
    assert len(parts) == 3
    assert all(utf16_len(render_html(p)) <= 4096 for p in parts)
    assert "".join(parts) == text
    mixed = ("word 😀 " * 2000).strip()
    parts = split_html(mixed)
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert " ".join(parts) == mixed


def test_split_keeps_indentation_inside_pre_and_code() -> None:
    lines = [f"{'    ' * (i % 3)}line {i} = value" for i in range(200)]
    for tag in ("pre", "code"):
        text = f"<{tag}>" + esc("\n".join(lines)) + f"</{tag}>"
        parts = split_html(text, 500)
        assert len(parts) > 5
        shown = [render_html(p) for p in parts]
        # only the one line break cut at is dropped: every line, indentation included, survives
        assert "\n".join(shown) == "\n".join(lines)
        assert any(s.startswith("    line") for s in shown[1:])


def test_ago() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert ago(now - timedelta(seconds=10), now) == "just now"
    assert ago(now - timedelta(minutes=5), now) == "5 min ago"
    assert ago(now - timedelta(hours=3, minutes=10), now) == "3 h ago"
    assert ago(now - timedelta(days=1, hours=2), now) == "1 day ago"
    assert ago(now - timedelta(days=12), now) == "12 days ago"
    assert ago(now - timedelta(days=400), now) == "on 2024-11-27"
    assert ago(now + timedelta(minutes=5), now) == "just now"
    assert ago((now - timedelta(hours=2)).replace(tzinfo=None), now) == "2 h ago"
