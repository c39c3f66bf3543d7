"""Recipes as chat users run them: the demo package's recipes, every recipe example the README and /help
show, and the placeholder forms authors use (Kodelet ``{{.x}}``, ``{{ x }}``, Claude Code ``$ARGUMENTS``/``$1``).

The real aiogram bot against the fake Bot API; the stand-in agent answers ``I got: <prompt>``.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from kiroclaw.workspaces import Scope
from tests.bot.conftest import ALICE
from tests.conftest import DEMO_PACKAGE, FIXTURES, run_kiroclaw

ROOT = Path(__file__).resolve().parents[2]
FORMS = FIXTURES / "recipe-forms"


def readme_recipe_examples() -> list[str]:
    """Every ``/recipe …`` example in the README's bot command table (inside backticks)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [
        m for line in text.splitlines() if line.startswith("| `/recipe") for m in re.findall(r"`(/recipe[^`]*)`", line)
    ]


async def test_readme_and_help_recipe_examples_run(start_bot) -> None:
    h = await start_bot()
    await h.host.addons.install(str(DEMO_PACKAGE), Scope.user(ALICE.id))
    await h.say(ALICE, "/help")
    help_text = html.unescape(h.last(ALICE))
    help_examples = [
        example.strip()
        for line in help_text.splitlines()
        if "/recipe" in line and "e.g." in line
        for example in line.split("e.g.", 1)[1].split("·")
    ]
    examples = sorted(set(readme_recipe_examples()) | set(help_examples))
    assert len(examples) >= 5, examples
    assert any(e.startswith("/recipe ") for e in help_examples), help_text
    for example in examples:
        await h.say(ALICE, example)
        reply = h.last(ALICE)
        if example in ("/recipe", "/recipe <name> key=value …"):
            continue
        assert reply.startswith("I got: "), f"{example!r} → {reply!r}"
    await h.say(ALICE, "/recipe")
    listing = h.last(ALICE)
    for rid in ("review/pr", "ralph/init", "ralph/iterate"):
        assert rid in listing


async def test_demo_package_recipes_render(start_bot) -> None:
    h = await start_bot()
    await h.host.addons.install(str(DEMO_PACKAGE), Scope.user(ALICE.id))
    await h.say(ALICE, "/recipe review/pr")
    assert h.last(ALICE) == (
        "I got: Compare this branch with main (git diff main...HEAD) and review it with the code-review skill."
    )
    await h.say(ALICE, "/recipe review/pr develop")  # a value without a name fills `base`
    assert "with develop (git diff develop...HEAD)" in h.last(ALICE)
    await h.say(ALICE, "/recipe review/pr base=release")
    assert "with release (git diff release...HEAD)" in h.last(ALICE)
    await h.say(ALICE, '/recipe ralph/init feature="dark mode"')
    assert h.last(ALICE).startswith("I got: Write a short product requirements document for dark mode into PRD.md")
    await h.say(ALICE, "/recipe ralph/iterate prd_file=SPEC.md")
    assert h.last(ALICE).startswith("I got: Open SPEC.md, pick the first unchecked acceptance criterion")
    await h.say(ALICE, "/recipe review/pr one two")
    assert h.last(ALICE) == "⚠️ recipe review/pr takes 1 value(s) without a name (base), got 2: one two"
    h.assert_clean(ALICE.id)


async def test_placeholder_forms_authors_use(start_bot) -> None:
    h = await start_bot()
    result = await h.host.addons.install(str(FORMS), Scope.user(ALICE.id))
    assert [s.split(":", 1)[0] for s in result.skipped] == ["recipes/broken.md"]
    await h.say(ALICE, "/recipe deploy api")
    assert h.last(ALICE) == "I got: Plan a deployment of api to staging, with a rollback procedure."
    await h.say(ALICE, "/recipe deploy service=web env=prod")
    assert h.last(ALICE) == "I got: Plan a deployment of web to prod, with a rollback procedure."
    await h.say(ALICE, "/recipe git/fix-issue 123 high")
    assert h.last(ALICE) == "I got: Fix issue #123 with priority high. Everything I typed: 123 high"
    await h.say(ALICE, "/recipe git/fix-issue 123")
    assert h.last(ALICE) == "⚠️ recipe git/fix-issue needs 2 value(s) after its name (it uses $1, $2), got 1"
    await h.say(ALICE, '/recipe explain "{{.x}} and $1" please')  # values are never re-parsed
    assert h.last(ALICE) == 'I got: Explain "{{.x}} and $1" please in simple words.'
    h.assert_clean(ALICE.id)


def test_a_broken_template_is_reported_at_install_with_the_files_line(tmp_path: Path) -> None:
    env = {"WORKSPACE_BASE_PATH": str(tmp_path / "ws"), "PATH": "/usr/bin:/bin"}
    done = run_kiroclaw("addon", "install", str(FORMS), "--user", "7", env=env)
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert "recipes/broken.md: recipe broken line 7:" in out, out
    assert '\'{{bash "git" "status"}}\' is not supported' in out
