"""Choosing skills in chat: ``/addon install SPEC --list``, ``--skill NAME``, and the "Install all N /
Choose…" question for add-ons of more than :data:`ASK_ABOVE` skills, with a searchable, paged pick list.

The pick list is one message: a page of :data:`PAGE_SIZE` skills as toggle buttons (✅ chosen,
▫️ not), ◀/▶ to page, "Install K chosen" and "Cancel". ``/addon find WORD`` narrows the list to skills
whose name or description holds the word (``/addon find`` alone shows all again). The state lives in
the bot's :class:`~kiroclaw.bot.app.ActionStore` (per user, expiring); each button carries a token.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from ..discovery import Discovery
from ..errors import ChoiceRequired, SpecError
from ..workspaces import Scope
from .app import ActionStore
from .format import esc, shorten

#: More skills than this ask "Install all N / Choose…" before installing.
ASK_ABOVE = 50
#: Skills per page of the pick list.
PAGE_SIZE = 8
PREFIX = "ad:"
#: The latest pick list of each user (its state token), for ``/addon find``.
_LATEST: dict[int, str] = {}


def parse_install_words(words: list[str]) -> tuple[str, bool, list[str]]:
    """Split ``--list`` and ``--skill NAME`` (repeatable) off the words of ``/addon install``.

    :returns: (the other words joined: the spec, list only, chosen skill names).
    :raises SpecError: ``--skill`` without a name.
    """
    rest: list[str] = []
    chosen: list[str] = []
    list_only = False
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--list":
            list_only = True
        elif word == "--skill":
            if index + 1 >= len(words):
                raise SpecError("--skill needs a skill name, e.g. /addon install org/repo --skill pdf")
            chosen.append(words[index + 1])
            index += 1
        elif word.startswith("--skill="):
            chosen.append(word.split("=", 1)[1])
        else:
            rest.append(word)
        index += 1
    return " ".join(rest).strip(), list_only, chosen


def list_text(spec: str, found: Discovery) -> str:
    """The chat answer to ``--list``: skills, recipes, and what is left out with its reason."""
    lines = [
        f"🔎 <b>{esc(shorten(spec, 100))}</b> offers {len(found.skills)} skill(s) and {len(found.recipes)} "
        "recipe(s); nothing was installed."
    ]
    if found.skills:
        lines.append("\n<b>Skills</b>")
        lines.extend(f"• <code>{esc(s.name)}</code> — {esc(shorten(s.description, 90))}" for s in found.skills)
    if found.recipes:
        lines.append("\n<b>Recipes</b>")
        lines.extend(f"• <code>{esc(r.id)}</code>" for r in found.recipes)
    if found.left_out:
        lines.append("\n<b>Left out</b>")
        lines.extend(f"• {esc(shorten(item.line(), 200))}" for item in found.left_out)
    lines.append(f"\nInstall some: <code>/addon install {esc(spec)} --skill NAME</code>")
    return "\n".join(lines)


def ask_text(spec: str, count: int) -> str:
    return f"📦 <b>{esc(shorten(spec, 100))}</b> offers {count} skills. Install all of them, or choose some?"


def ask_markup(actions: ActionStore, user_id: int, spec: str, skills: list[tuple[str, str]], is_global: bool) -> Any:
    """Buttons "Install all N" and "Choose…"."""
    everything = actions.put(user_id, {"op": "install", "spec": spec, "global": is_global, "only": "all"})
    state = actions.put(
        user_id,
        {"op": "pick-state", "spec": spec, "skills": skills, "chosen": [], "page": 0, "query": "", "global": is_global},
    )
    choose = actions.put(user_id, {"op": "pick", "state": state, "act": "open"})
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=f"Install all {len(skills)}", callback_data=PREFIX + everything),
                InlineKeyboardButton(text="Choose…", callback_data=PREFIX + choose),
            ]
        ]
    )


def _visible(state: dict[str, Any]) -> list[tuple[str, str]]:
    query = str(state.get("query") or "").lower()
    skills: list[tuple[str, str]] = state["skills"]
    return [s for s in skills if not query or query in s[0].lower() or query in s[1].lower()]


def pick_view(actions: ActionStore, user_id: int, state_token: str) -> tuple[str, InlineKeyboardMarkup]:
    """Text and buttons of the pick list's current page."""
    state = actions.get(state_token, user_id)
    if state is None:
        raise SpecError("this choice has expired; run /addon install again")
    _LATEST[user_id] = state_token
    shown = _visible(state)
    pages = max(1, math.ceil(len(shown) / PAGE_SIZE))
    page = min(max(int(state.get("page", 0)), 0), pages - 1)
    state["page"] = page
    chosen: list[str] = state["chosen"]
    rows: list[list[InlineKeyboardButton]] = []
    for name, _description in shown[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]:
        token = actions.put(user_id, {"op": "pick", "state": state_token, "act": "toggle", "name": name})
        mark = "✅" if name in chosen else "▫️"
        rows.append([InlineKeyboardButton(text=f"{mark} {shorten(name, 50)}", callback_data=PREFIX + token)])
    nav: list[InlineKeyboardButton] = []
    if page > 0:
        nav.append(_button(actions, user_id, state_token, "◀", "prev"))
    if page < pages - 1:
        nav.append(_button(actions, user_id, state_token, "▶", "next"))
    if nav:
        rows.append(nav)
    rows.append(
        [
            _button(actions, user_id, state_token, f"Install {len(chosen)} chosen", "install"),
            _button(actions, user_id, state_token, "Cancel", "cancel"),
        ]
    )
    query = state.get("query") or ""
    filtered = f" matching “{esc(query)}”" if query else ""
    text = (
        f"☑️ Choose skills of <b>{esc(shorten(state['spec'], 80))}</b>: {len(shown)}{filtered} of "
        f"{len(state['skills'])}, page {page + 1}/{pages}, {len(chosen)} chosen.\n"
        "Search: <code>/addon find WORD</code> (<code>/addon find</code> alone shows all)."
    )
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


def _button(actions: ActionStore, user_id: int, state: str, text: str, act: str) -> InlineKeyboardButton:
    token = actions.put(user_id, {"op": "pick", "state": state, "act": act})
    return InlineKeyboardButton(text=text, callback_data=PREFIX + token)


def apply_pick(actions: ActionStore, user_id: int, payload: dict[str, Any]) -> tuple[str, list[str]] | None:
    """Apply one pick-list button to its state.

    :returns: ``("install", chosen names)`` when "Install K chosen" was pressed with K > 0,
        ``("cancel", [])`` for Cancel, else ``None`` (the caller redraws the page).
    :raises SpecError: the state expired, or "Install" with nothing chosen.
    """
    state = actions.get(payload["state"], user_id)
    if state is None:
        raise SpecError("this choice has expired; run /addon install again")
    act = payload["act"]
    if act == "toggle":
        chosen: list[str] = state["chosen"]
        name = payload["name"]
        if name in chosen:
            chosen.remove(name)
        else:
            chosen.append(name)
    elif act == "next":
        state["page"] = int(state.get("page", 0)) + 1
    elif act == "prev":
        state["page"] = int(state.get("page", 0)) - 1
    elif act == "install":
        if not state["chosen"]:
            raise SpecError("choose at least one skill first")
        return "install", sorted(state["chosen"])
    elif act == "cancel":
        _LATEST.pop(user_id, None)
        return "cancel", []
    return None


def set_query(actions: ActionStore, user_id: int, query: str) -> str:
    """``/addon find WORD``: filter the user's latest pick list; returns its state token.

    :raises SpecError: no pick list is open.
    """
    token = _LATEST.get(user_id)
    state = actions.get(token, user_id) if token else None
    if token is None or state is None:
        raise SpecError("no skill choice is open; /addon install org/repo first")
    state["query"] = query.strip()
    state["page"] = 0
    return token


def pick_state(actions: ActionStore, user_id: int, token: str) -> dict[str, Any] | None:
    """The state behind a pick list (spec, chosen, global…), or ``None`` when expired."""
    return actions.get(token, user_id)


async def apply_pick_button(
    query: Any, message: Any, actions: ActionStore, user_id: int, payload: dict[str, Any]
) -> dict[str, Any] | None:
    """Handle a pick-list button: redraw the page, cancel, or return ``{spec, global, names}`` to install."""
    outcome = apply_pick(actions, user_id, payload)
    if outcome is None:
        await query.answer()
        text, markup = pick_view(actions, user_id, payload["state"])
        await message.edit_text(text, reply_markup=markup)
        return None
    if outcome[0] == "cancel":
        await query.answer()
        await message.edit_text("👍 Nothing installed.", reply_markup=None)
        return None
    await query.answer("Installing…")
    state = pick_state(actions, user_id, payload["state"]) or {}
    return {"spec": state.get("spec", ""), "global": state.get("global"), "names": outcome[1]}


async def pick(query: Any, message: Any, actions: ActionStore, runner: Any, payload: dict[str, Any]) -> None:
    """A pick-list button: redraw, cancel, or install the chosen skills in the same message. The scope was
    checked (``-g`` for admins only) when the question was asked; the choice belongs to that user."""
    from .streaming import thread_of

    user_id = query.from_user.id
    picked = await apply_pick_button(query, message, actions, user_id, payload)
    if picked is not None:
        scope = Scope.global_() if picked["global"] else Scope.user(user_id)
        await runner.install(
            message.bot, message.chat.id, thread_of(message)[1], user_id, picked["spec"], scope,
            only=picked["names"], edit_message_id=message.message_id,
        )  # fmt: skip


async def ask(progress: Any, actions: ActionStore, user_id: int, spec: str, exc: ChoiceRequired, scope: Scope) -> None:
    """Turn an install's :class:`~kiroclaw.errors.ChoiceRequired` into the "Install all N / Choose…" question."""
    markup = ask_markup(actions, user_id, spec, exc.skills, scope.kind == "global")
    await progress.done(ask_text(spec, len(exc.skills)), markup)


async def answer_list(message: Any, host: Any, spec: str, scope: Scope, local_roots: tuple[Path, ...]) -> None:
    """``/addon install SPEC --list``: what would be installed, nothing changed."""
    from .replies import answer_long

    found = await host.addons.inspect(spec, scope, local_roots=local_roots)
    await answer_long(message, list_text(spec, found))


async def answer_find(message: Any, actions: ActionStore, user_id: int, query: str) -> None:
    """``/addon find WORD``: the user's open pick list, narrowed to WORD, as a new message."""
    text, markup = pick_view(actions, user_id, set_query(actions, user_id, query))
    await message.answer(text, reply_markup=markup)
