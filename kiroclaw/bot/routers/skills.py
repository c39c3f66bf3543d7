"""``/skills`` (the user's effective set, with provenance and what is shadowed) and ``/recipe`` (list
recipes; ``/recipe <name> key=value …`` renders one and sends it to the agent as the user's message)."""

from __future__ import annotations

import asyncio
import difflib
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import BotCommand, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from ...errors import RecipeError
from ...models import EffectiveSet, RecipeEntry, SkillEntry
from ..format import esc, shorten
from ..replies import answer_long
from ..streaming import run_turn

COMMANDS = [
    BotCommand(command="skills", description="Skills your agent has, by add-on; /skills name for one"),
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
    if addon:
        return f"{label} {addon}"
    return "your own skills folder (not installed through an add-on)" if layer == "user" else label


#: most characters of Telegram HTML on one page of ``/skills``; longer lists get ◀ ▶ buttons.
PAGE_CHARS = 1500
#: callback data prefix of the page buttons (``skills:p:<page>``).
PAGE_PREFIX = "skills:p:"
#: the groups of ``/skills``, in order: (layers, heading or "" for the user's own).
_SECTIONS = (
    (("user", "user-plugins"), ""),
    (("global", "global-plugins"), "🌐 <b>Global</b> (every user has these)"),
    (("bundled",), "📚 <b>Bundled</b> with this bot"),
)


def _group_lines(skills: list[SkillEntry]) -> list[str]:
    """One line per add-on that brings several skills (``📦 org/repo (16): a, b, …``), then one line per
    standalone skill (``• name: description``); both sorted by name."""
    packages: dict[str, list[SkillEntry]] = {}
    single: list[SkillEntry] = []
    for skill in skills:
        if skill.addon and (skill.qualified_name != skill.name or skill.addon != skill.name):
            packages.setdefault(skill.addon, []).append(skill)
        else:
            single.append(skill)
    lines = []
    for addon in sorted(packages, key=str.lower):
        names = ", ".join(esc(s.name) for s in sorted(packages[addon], key=lambda s: s.name.lower()))
        lines.append(f"📦 <b>{esc(addon)}</b> ({len(packages[addon])}): {names}")
    for skill in sorted(single, key=lambda s: s.name.lower()):
        line = f"• <b>{esc(skill.name)}</b>"
        if skill.description:
            line += f": {esc(shorten(skill.description, 70))}"
        lines.append(line)
    return lines


def _skill_blocks(es: EffectiveSet) -> list[str]:
    blocks: list[str] = []
    for layers, heading in _SECTIONS:
        lines = _group_lines([s for s in es.skills if s.layer in layers])
        if lines:
            blocks.append("\n".join([heading, *lines]) if heading else "\n".join(lines))
    others = [s for s in es.skills if not any(s.layer in layers for layers, _ in _SECTIONS)]
    if others:
        blocks.append("\n".join(["🧩 <b>Other</b>", *_group_lines(others)]))
    if es.shadowed_skills:
        lines = [f"🙈 <b>Shadowed</b> ({len(es.shadowed_skills)}), hidden by a skill of the same name:"]
        for hidden in sorted(es.shadowed_skills, key=lambda h: (h.name.lower(), h.qualified_name)):
            winner_layer = LAYER_LABELS.get(hidden.shadowed_by_layer, hidden.shadowed_by_layer)
            lines.append(
                f"• {esc(hidden.qualified_name)} ({esc(_provenance(hidden.layer, hidden.addon))}) "
                f"→ hidden by {esc(hidden.shadowed_by)} ({esc(winner_layer)})"
            )
        blocks.append("\n".join(lines))
    return blocks


def skills_pages(es: EffectiveSet, page_chars: int = PAGE_CHARS) -> list[str]:
    """The ``/skills`` reply as pages of at most about ``page_chars`` characters of HTML.

    Grouped by add-on (``📦 anthropics/skills (16): algorithmic-art, …``), then standalone skills, then
    global and bundled ones, shadowed ones last; names sorted case-insensitively in every group. A page
    breaks between lines, never inside one.

    :returns: at least one page; each starts with the heading (and "page i/n" when there are several).
    """
    if not es.skills and not es.shadowed_skills:
        return [
            "🧠 Your agent has no skills yet.\n"
            "Find some with <code>/addon search weather</code> or install a repository with "
            "<code>/addon install org/repo</code>."
        ]
    footer = "Details of one: <code>/skills name</code>"
    pages: list[list[str]] = [[]]
    size = 0
    for block in _skill_blocks(es):
        for line in ["", *block.split("\n")]:
            if line and pages[-1] and size + len(line) + 1 > page_chars:
                pages.append([])
                size = 0
            if line or pages[-1]:  # no blank line at the top of a page
                pages[-1].append(line)
                size += len(line) + 1
    total = len(pages)
    heading = f"🧠 Your agent's skills ({len(es.skills)})"
    return [
        f"{heading}{f', page {i}/{total}' if total > 1 else ''}:\n\n" + "\n".join(lines) + f"\n\n{footer}"
        for i, lines in enumerate(pages, 1)
    ]


def skills_text(es: EffectiveSet) -> str:
    """The whole ``/skills`` reply on one page (for callers that split it themselves)."""
    return skills_pages(es, page_chars=10**9)[0]


def page_keyboard(page: int, total: int) -> InlineKeyboardMarkup | None:
    """◀ / ▶ buttons for page ``page`` (1-based) of ``total``; ``None`` for a single page."""
    if total <= 1:
        return None
    row = []
    if page > 1:
        row.append(InlineKeyboardButton(text="◀ Back", callback_data=f"{PAGE_PREFIX}{page - 1}"))
    row.append(InlineKeyboardButton(text=f"{page}/{total}", callback_data=f"{PAGE_PREFIX}{page}"))
    if page < total:
        row.append(InlineKeyboardButton(text="Next ▶", callback_data=f"{PAGE_PREFIX}{page + 1}"))
    return InlineKeyboardMarkup(inline_keyboard=[row])


def skill_detail(es: EffectiveSet, name: str) -> str:
    """``/skills <name>``: one skill's description, where it comes from and what it hides or is hidden by.

    :raises RecipeError: never; an unknown name gets a reply that says so.
    """
    wanted = name.strip().lower()
    found = [s for s in es.skills if wanted in (s.name.lower(), s.qualified_name.lower())]
    hidden = [h for h in es.shadowed_skills if wanted in (h.name.lower(), h.qualified_name.lower())]
    if not found and not hidden:
        close = difflib.get_close_matches(wanted, sorted({s.name.lower() for s in es.skills}), n=1)
        hint = f" Did you mean <code>/skills {esc(close[0])}</code>?" if close else ""
        return f"🤷 Your agent has no skill called <b>{esc(shorten(name, 60))}</b>.{hint}"
    lines = []
    for skill in found:
        lines.append(f"🧠 <b>{esc(skill.qualified_name)}</b>")
        if skill.description:
            lines.append(esc(skill.description))
        lines.append(f"<i>From: {esc(_provenance(skill.layer, skill.addon))}</i>")
    for entry in hidden:
        winner = LAYER_LABELS.get(entry.shadowed_by_layer, entry.shadowed_by_layer)
        lines.append(
            f"🙈 {esc(entry.qualified_name)} ({esc(_provenance(entry.layer, entry.addon))}) is hidden by "
            f"{esc(entry.shadowed_by)} ({esc(winner)})"
        )
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
    async def skills(message: Message, command: CommandObject, host: Any) -> None:
        assert message.from_user is not None
        es = await asyncio.to_thread(host.effective_set, message.from_user.id)
        if (command.args or "").strip():
            await answer_long(message, skill_detail(es, command.args or ""))
            return
        pages = skills_pages(es)
        await answer_long(message, pages[0], reply_markup=page_keyboard(1, len(pages)))

    @router.callback_query(F.data.startswith(PAGE_PREFIX))
    async def skills_page(query: CallbackQuery, host: Any) -> None:
        """A ◀/▶ press: the pressing user's own list, at that page (clamped when the list shrank)."""
        es = await asyncio.to_thread(host.effective_set, query.from_user.id)
        pages = skills_pages(es)
        try:
            page = min(max(int((query.data or "").removeprefix(PAGE_PREFIX)), 1), len(pages))
        except ValueError:
            page = 1
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text(pages[page - 1], reply_markup=page_keyboard(page, len(pages)))

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
