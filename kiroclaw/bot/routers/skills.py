"""``/skills`` (the user's effective set, with provenance and what is shadowed) and ``/recipe`` (list
recipes; ``/recipe <name> key=value …`` renders one and sends it to the agent as the user's message)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BotCommand, Message

from ...errors import RecipeError
from ...models import EffectiveSet, RecipeEntry
from ..format import esc, shorten
from ..replies import answer_long
from ..streaming import run_turn

COMMANDS = [
    BotCommand(command="skills", description="Skills your agent has, and where they come from"),
    BotCommand(command="recipe", description="List recipes, or run one: /recipe name key=value"),
]

#: how each layer is named in chat.
LAYER_LABELS = {
    "user": "your add-on",
    "user-plugins": "your add-on",
    "global": "global",
    "global-plugins": "global",
    "bundled": "bundled",
}


def _provenance(layer: str, addon: str | None) -> str:
    label = LAYER_LABELS.get(layer, layer)
    return f"{label} {addon}" if addon else label


def skills_text(es: EffectiveSet) -> str:
    """The ``/skills`` reply for one effective set."""
    if not es.skills and not es.shadowed_skills:
        return (
            "🧠 Your agent has no skills yet.\n"
            "Find some with <code>/addon search weather</code> or install a repository with "
            "<code>/addon install org/repo</code>."
        )
    lines = [f"🧠 Your agent's skills ({len(es.skills)}):"]
    for skill in es.skills:
        shown = skill.qualified_name if skill.qualified_name != skill.name else skill.name
        line = f"• <b>{esc(shown)}</b>"
        if skill.description:
            line += f": {esc(shorten(skill.description, 90))}"
        line += f"\n   <i>{esc(_provenance(skill.layer, skill.addon))}</i>"
        lines.append(line)
    if es.shadowed_skills:
        lines.append("")
        lines.append(f"🙈 Shadowed ({len(es.shadowed_skills)}), hidden by a skill of the same name:")
        for hidden in es.shadowed_skills:
            winner_layer = LAYER_LABELS.get(hidden.shadowed_by_layer, hidden.shadowed_by_layer)
            lines.append(
                f"• {esc(hidden.qualified_name)} ({esc(_provenance(hidden.layer, hidden.addon))}) "
                f"→ hidden by {esc(hidden.shadowed_by)} ({esc(winner_layer)})"
            )
    if es.recipes:
        lines.append("")
        lines.append(f"📜 {len(es.recipes)} recipe{'s' if len(es.recipes) != 1 else ''}: see /recipe")
    return "\n".join(lines)


def recipes_text(es: EffectiveSet) -> str:
    """The ``/recipe`` reply (no arguments): every visible recipe with its arguments."""
    if not es.recipes:
        return "📜 You have no recipes. Plugin packages often bring some: <code>/addon install org/repo</code>."
    from ...skills import load_recipe

    lines = [f"📜 Your recipes ({len(es.recipes)}):"]
    for entry in es.recipes:
        line = f"• <code>{esc(entry.name)}</code>"
        title = entry.title if entry.title and entry.title != entry.name else ""
        if title:
            line += f" {esc(shorten(title, 60))}"
        if entry.description:
            line += f": {esc(shorten(entry.description, 100))}"
        try:
            manifest = load_recipe(entry.path, _recipes_root(entry))
            if manifest.arguments:
                args = [
                    f"{esc(name)}={esc(shorten(arg.default, 20))}" if arg.default is not None else f"{esc(name)}=…"
                    for name, arg in manifest.arguments.items()
                ]
                line += f"\n   args: <code>{' '.join(args)}</code>"
        except Exception:  # a broken recipe still shows in the list; running it reports the problem
            line += "\n   <i>(cannot be read)</i>"
        if entry.addon:
            line += f"\n   <i>{esc(_provenance(entry.layer, entry.addon))}</i>"
        lines.append(line)
    lines.append("")
    lines.append('Run one: <code>/recipe name key=value key2="two words"</code> or <code>/recipe name value</code>')
    return "\n".join(lines)


def _recipes_root(entry: RecipeEntry) -> Any:
    """The recipes folder an entry's id is relative to (``ralph/init`` at ``root/ralph/init.md``)."""
    return entry.path.parents[entry.name.count("/")]


def find_recipe(es: EffectiveSet, name: str) -> RecipeEntry:
    """The visible recipe called ``name`` (its id or qualified name).

    :raises RecipeError: no such recipe.
    """
    name = name.strip().removesuffix(".md")
    for entry in es.recipes:
        if name in (entry.name, entry.qualified_name):
            return entry
    raise RecipeError(f"you have no recipe called {shorten(name, 60)!r}; send /recipe to list them")


def render_for_chat(es: EffectiveSet, name: str, arg_text: str) -> tuple[RecipeEntry, str]:
    """Find, parse and render a recipe from chat text; returns (entry, prompt text).

    :raises RecipeError: unknown recipe, bad arguments, unsupported template syntax.
    :raises kiroclaw.errors.ValidationError: the recipe file itself is malformed.
    """
    from ...recipes import parse_recipe_args, render_recipe
    from ...skills import load_recipe

    entry = find_recipe(es, name)
    manifest = load_recipe(entry.path, _recipes_root(entry))
    return entry, render_recipe(manifest, parse_recipe_args(arg_text), raw=arg_text.strip())


def build_router() -> tuple[Router, list[BotCommand]]:
    """A new router for ``/skills`` and ``/recipe``, and its menu commands."""
    router = Router(name="skills")

    @router.message(Command("skills"))
    async def skills(message: Message, host: Any) -> None:
        assert message.from_user is not None
        es = await asyncio.to_thread(host.effective_set, message.from_user.id)
        await answer_long(message, skills_text(es))

    @router.message(Command("recipe", "recipes"))
    async def recipe(
        message: Message, command: CommandObject, host: Any, runtime: Any, options: Any, live_drafts: Any
    ) -> None:
        assert message.from_user is not None
        es = await asyncio.to_thread(host.effective_set, message.from_user.id)
        args = (command.args or "").strip()
        if not args:
            await answer_long(message, await asyncio.to_thread(recipes_text, es))
            return
        name, _, rest = args.partition(" ")
        entry, prompt = await asyncio.to_thread(render_for_chat, es, name, rest)
        await message.answer(f"📜 Running recipe <code>{esc(entry.name)}</code>…")
        await run_turn(message, prompt, runtime=runtime, options=options, live_drafts=live_drafts)

    return router, COMMANDS
