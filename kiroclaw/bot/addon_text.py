"""What the ``/addon`` room says: help, install results, lists, failures and update lines (rendering only;
the handlers are in :mod:`kiroclaw.bot.routers.addons`). Everything returned is Telegram HTML, escaped."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import KiroclawError
from ..models import AddonRecord
from ..workspaces import Scope
from .chat_words import SERVER_NOT_SET_UP, error_html, forced, message_html
from .format import ago, esc, shorten

if TYPE_CHECKING:
    from ..addons import UpdateResult
    from ..host import Host

_COMMIT = re.compile(r"^[0-9a-f]{7,40}\Z")

HELP = (
    "<b>/addon</b>: manage your agent's add-ons (skills and recipes)\n"
    "<code>/addon search weather</code>: find add-ons in the registry\n"
    "<code>/addon install weather-api</code>: from the registry (<code>weather-api@1.2.0</code> pins a version)\n"
    "<code>/addon install org/repo</code>: a GitHub repository (<code>org/repo@v1.2</code>, "
    "<code>org/repo/path</code>); <code>--list</code> shows its skills first, <code>--skill NAME</code> "
    "installs some\n"
    "<code>/addon install https://example.com/skill.zip</code>: an archive URL\n"
    "<code>/addon list</code>: your add-ons and the global ones you inherit\n"
    "<code>/addon info weather-api</code>: details\n"
    "<code>/addon update</code> or <code>/addon update weather-api</code>: update to the latest version\n"
    "<code>/addon disable weather-api</code> / <code>/addon enable weather-api</code>\n"
    "<code>/addon remove weather-api</code>: uninstall (asks first)\n"
    "Or send a .zip/.skill file with the caption <code>/addon install</code>.\n"
    "Admins: add <code>-g</code> to act on the global add-ons every user gets."
)


def version_text(version: str | None) -> str:
    """`` v1.2.0`` for versions, `` @07d4960`` for commit ids (git sources), ``""`` for none."""
    if not version:
        return ""
    if _COMMIT.match(version):
        return f" @{esc(version)}"
    return f" v{esc(version.removeprefix('v'))}"


def risk_line(risk: str | None, reasons: tuple[str, ...] | list[str], *, installed: bool = False) -> str:
    """The line under a flagged add-on: ``⚠️ flagged as suspicious: …`` or ``⛔ blocked: …, it cannot be
    installed``; ``""`` for no risk. ``installed``: the flag kept from install time."""
    from ..risk import BLOCKED, icon

    if risk is None:
        return ""
    why = esc(shorten("; ".join(dict.fromkeys(reasons)), 200))
    if risk == BLOCKED:
        return f"{icon(risk)}blocked as malicious: {why}; it cannot be installed"
    if installed:
        return f"{icon(risk)}installed although {why}"
    return f"{icon(risk)}flagged as suspicious: {why}; installing asks you first"


def record_line(record: AddonRecord) -> str:
    from ..risk import icon, record_risk

    risk, reasons = record_risk(record)
    state = "✅" if record.enabled else "⏸"
    parts = [f"{state} {icon(risk)}<b>{esc(record.name)}</b>{version_text(record.version)}", esc(record.source)]
    if not record.enabled:
        parts.append("disabled")
    parts.append(f"installed {ago(record.installed_at)}")
    line = " · ".join(parts)
    if risk:
        line += f"\n   {risk_line(risk, reasons, installed=True)}"
    if record.kind == "plugin" and record.skills:
        line += f"\n   skills: {esc(', '.join(record.skills))}"
    return line


def _skill_folder(root: Path, record: AddonRecord, skill: str) -> Path:
    base = root / record.path
    return base / "skills" / skill if record.kind == "plugin" else base


def try_asking_hint(root: Path, record: AddonRecord) -> str | None:
    """The "💡 Try asking …" line after an install: the skill's ``metadata.example`` if it has one, else a
    question naming the skill. ``None`` for add-ons without skills."""
    if not record.skills:
        return None
    skill = record.skills[0]
    from ..skills import SKILL_FILE, read_manifest_text, split_frontmatter

    example = None
    try:
        data, _ = split_frontmatter(
            read_manifest_text(_skill_folder(root, record, skill) / SKILL_FILE, what=SKILL_FILE)
        )
        metadata = data.get("metadata")
        if isinstance(metadata, dict):
            for key in ("example", "try", "example-prompt"):
                if isinstance(metadata.get(key), str) and metadata[key].strip():
                    example = metadata[key].strip()
                    break
    except KiroclawError:
        pass
    if example is None:
        example = f"What can you do with the {skill} skill?"
    return f'💡 Try asking: "{esc(shorten(example, 200))}"'


def installed_text(record: AddonRecord, root: Path, *, scope: Scope, warnings: list[str], skipped: list[str]) -> str:
    """The final text of a successful install."""
    where = " for everyone (global)" if scope.kind == "global" else ""
    lines = [f"✅ Installed <b>{esc(record.name)}</b>{version_text(record.version)} from {esc(record.source)}{where}"]
    if record.skills:
        lines.append(f"🧠 Skills added: {esc(', '.join(record.skills))}")
    if record.recipes:
        lines.append(f"📜 Recipes added: {esc(', '.join(record.recipes))} (run with /recipe)")
    for warning in list(dict.fromkeys([*warnings, *record.warnings]))[:3]:
        lines.append(f"⚠️ {esc(shorten(warning, 200))}")
    if skipped:
        lines.append(f"⏭ Skipped {len(skipped)}: {esc(shorten('; '.join(skipped), 300))}")
    hint = try_asking_hint(root, record)
    if hint:
        lines.append("")
        lines.append(hint)
    return "\n".join(lines)


def failure_text(exc: KiroclawError, *, again: str | None = None, user_id: int | None = None) -> str:
    """A failed operation in chat words (:func:`~kiroclaw.bot.chat_words.error_html`); ``again`` is the
    chat command that repeats it with ``--force``."""
    return error_html(exc, again=again, user_id=user_id)


def list_text(host: Host, user_id: int) -> str:
    mine = host.addons.list(Scope.user(user_id))
    inherited = host.addons.list(Scope.global_())
    lines: list[str] = []
    if mine:
        lines.append(f"📦 Your add-ons ({len(mine)}):")
        lines.extend(record_line(r) for r in sorted(mine, key=lambda r: r.name))
    else:
        lines.append("📦 You have no add-ons yet. Find some with <code>/addon search weather</code>.")
    if inherited:
        lines.append("")
        lines.append(f"🌐 Global add-ons you inherit ({len(inherited)}):")
        lines.extend(record_line(r) for r in sorted(inherited, key=lambda r: r.name))
    return "\n".join(lines)


ORIGIN_KEYS = ("registry", "slug", "owner", "url", "repo", "ref", "commit", "sha256")

_UPDATE_ICONS = {
    "updated": "⬆️",
    "current": "✅",
    "pinned": "📌",
    "unsupported": "➖",
    "skipped": "⏭",
    "failed": "❌",
    "confirm": "⚠️",
}


def update_line(result: UpdateResult) -> str:
    """One line (two or more for ``confirm``: its reasons) of the update results."""
    icon = _UPDATE_ICONS.get(result.status, "•")
    line = f"{icon} <b>{esc(result.name)}</b>"
    if result.status == "updated":
        line += f": {esc(result.old or '?')} → {esc(result.new or '?')}"
    elif result.status == "current":
        line += f": up to date{(' (' + esc(result.old) + ')') if result.old else ''}"
    elif result.status == "pinned":
        line += f": pinned{(' at ' + esc(result.old)) if result.old else ''}"
        if result.new:
            line += (
                f"; {esc(result.new)} exists, move to it with "
                f"<code>/addon install {esc(result.name)}@{esc(result.new)} --force</code>"
            )
    elif result.status == "confirm":
        target = f" to {esc(result.new)}" if result.new else ""
        line += f": not updated, the update{target} needs your confirmation"
        # ``reasons`` (one per line) where the core gives them, else the message itself
        reasons = [r for r in getattr(result, "reasons", ()) if r.strip()] or [result.message or ""]
        line += "".join(f"\n   • {esc(shorten(r, 200))}" for r in reasons[:5] if r.strip())
    if result.status == "failed" and result.server:  # the operator's log has it (addon_actions)
        line += f": {esc(SERVER_NOT_SET_UP)}"
    elif result.message and result.status in ("failed", "unsupported", "skipped"):
        message = shorten(result.message.removeprefix(result.name + ": "), 200)
        line += f": {message_html(message, again=forced('update', result.name))}"
    return line
