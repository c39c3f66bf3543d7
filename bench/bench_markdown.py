"""Benchmark: agent Markdown → Telegram HTML (markdown-it-py + our renderer) per reply, against
``html.escape`` of the same text (the least any reply costs) side by side.

A 4,000-character reply with headings, lists, code, a table and links (about one Telegram message),
rendered as the final reply and as each of 40 growing draft previews. Not a test: run it by hand::

    .venv/bin/python -m bench markdown [--rounds 9]
"""

from __future__ import annotations

import argparse
import html
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kiroclaw.bot.format import agent_text_to_html

SECTION = """## Step {i}

Some **bold** text, *italic*, `inline code` and a [link](https://example.com/{i}).

- first point
- second point with `code`

```python
def step_{i}(x):
    return x * {i}
```

| key | value |
|-----|------:|
| a   | {i}   |
"""


def main(rounds: int) -> None:
    reply = "".join(SECTION.format(i=i) for i in range(40))[:4000]
    agent_text_to_html(reply)  # import and parser set-up happen once per process
    cases = {
        "html.escape (baseline)": lambda text: html.escape(text, quote=False),
        "agent_text_to_html": agent_text_to_html,
    }
    print(f"reply of {len(reply)} characters; {rounds} rounds; medians (min-max)")
    base = 0.0
    for name, render in cases.items():
        finals, streams = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            render(reply)
            finals.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            for cut in range(100, len(reply) + 1, len(reply) // 40):
                render(reply[:cut])
            streams.append((time.perf_counter() - start) * 1000)
        final = statistics.median(finals)
        base = base or final
        print(
            f"{name:24} final {final:7.3f} ms ({min(finals):.3f}-{max(finals):.3f}) ×{final / base:6.1f}   "
            f"40 drafts {statistics.median(streams):7.2f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    main(parser.parse_args().rounds)
