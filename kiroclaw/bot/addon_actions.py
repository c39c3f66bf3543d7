"""What ``/addon`` does in chat, apart from reading the command: installs with progress and confirmation
buttons (:class:`InstallRunner`), search, info, update and enable/disable, and the buttons' payloads.
The router (:mod:`kiroclaw.bot.routers.addons`) dispatches to these; the texts are
:mod:`kiroclaw.bot.addon_text`'s."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiogram import Bot
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from ..config import Settings
from ..errors import (
    ChoiceRequired,
    Confirmation,
    ConfirmationRequired,
    KiroclawError,
    LimitExceededError,
    PermissionDeniedError,
    QuotaExceededError,
    SpecError,
)
from ..install import InstallRequest, InstallResult
from ..models import AddonRecord
from ..policy import is_policy_refusal
from ..risk import BLOCKED, record_risk
from ..risk import icon as risk_icon
from ..shared.bot import ButtonStore
from ..sources import AddonInfo
from ..workspaces import Scope
from . import choose
from .addon_text import (
    ORIGIN_KEYS,
    failure_text,
    installed_text,
    risk_line,
    update_line,
    version_text,
)
from .app import BotOptions
from .chat_words import error_html, forced, report_text
from .format import ago, esc, shorten
from .middlewares import APOLOGY, REFUNDED_ERRORS, InstallGuard
from .progress import ProgressMessage
from .replies import answer_long
from .streaming import thread_of

if TYPE_CHECKING:
    from ..host import Host

log = logging.getLogger(__name__)

#: Said with a refusal or question of the install policy in chat: who can change it.
POLICY_ADMIN = "The install policy is set by this bot's admin, who can change what it blocks or asks about."


def _admin_line(exc: KiroclawError) -> str:
    """The ``POLICY_ADMIN`` line for a block or question of the install policy, else nothing."""
    return f"\n<i>{POLICY_ADMIN}</i>" if is_policy_refusal(exc.code, exc.user_message) else ""


#: callback_data prefix of the ``/addon`` buttons.
PREFIX = "ad:"
#: files accepted by "send a file with caption /addon install".
UPLOAD_SUFFIXES = (".zip", ".skill", ".tar.gz", ".tgz")
_FLAGS_GLOBAL = {"-g", "--global"}
_FLAGS_FORCE = {"-f", "--force"}


def keyboard(*rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data) for text, data in row] for row in rows]
    )


def split_flags(words: list[str]) -> tuple[list[str], bool, bool]:
    """(remaining words, global flag, force flag)."""
    rest = [w for w in words if w not in _FLAGS_GLOBAL | _FLAGS_FORCE]
    return rest, any(w in _FLAGS_GLOBAL for w in words), any(w in _FLAGS_FORCE for w in words)


def resolve_scope(user_id: int, is_global: bool, settings: Settings) -> Scope:
    """The user's own scope, or the global one for admins.

    :raises PermissionDeniedError: ``-g`` from someone not in ``ADMIN_TELEGRAM_IDS``.
    """
    if is_global:
        if user_id not in settings.admin_telegram_ids:
            raise PermissionDeniedError("only admins can manage global add-ons (-g)")
        return Scope.global_()
    return Scope.user(user_id)


class InstallRunner:
    """Runs one install from chat with progress, confirmation buttons and one-line errors."""

    def __init__(
        self, host: Host, settings: Settings, guard: InstallGuard, actions: ButtonStore, options: BotOptions
    ) -> None:
        self.host = host
        self.settings = settings
        self.guard = guard
        self.actions = actions
        self.options = options

    async def install(
        self,
        bot: Bot,
        chat_id: int,
        api_thread_id: int | None,
        user_id: int,
        spec: str,
        scope: Scope,
        *,
        confirmed: Confirmation | bool = False,
        force: bool = False,
        edit_message_id: int | None = None,
        only: list[str] | str | None = None,
    ) -> None:
        """Install ``spec`` into ``scope``, showing progress in one message (sent, or ``edit_message_id``).

        :param confirmed: the :class:`Confirmation` the user gave with a button (bound to what they saw).
        :param only: just these skills (``--skill``, the pick list), or ``"all"``; ``None`` asks "Install
            all N / Choose…" first when the add-on offers more than :data:`~kiroclaw.bot.choose.ASK_ABOVE`.
        """
        async with self.guard.slot(user_id):
            progress = ProgressMessage(
                bot,
                chat_id,
                api_thread_id,
                f"📦 Installing <b>{esc(shorten(spec, 100))}</b>…",
                message_id=edit_message_id,
            )
            await progress.start("resolving")

            request = InstallRequest(
                scope=scope,
                force=force,
                local_roots=local_roots(self.settings),
                progress=progress.callback,
                confirmed=confirmed,
                only=tuple(only) if isinstance(only, list) else None,
                ask_above=None if only else choose.ASK_ABOVE,
            )

            async def call() -> InstallResult:
                result: InstallResult = await self.host.addons.install(spec, request)
                return result

            retry = {"spec": spec, "force": force, "only": only}
            await self._finish(progress, call, user_id=user_id, scope=scope, retry=retry)

    async def install_upload(
        self,
        bot: Bot,
        message: Message,
        user_id: int,
        scope: Scope,
    ) -> None:
        """Install the .zip/.skill document of ``message``: downloaded into a folder of its own, then
        installed through the ``upload`` source (the same one ``kiroclaw addon install ./x.zip`` uses),
        with ``local_roots`` limited to that folder."""
        document = message.document
        assert document is not None
        name = Path(document.file_name or "upload.zip").name
        if not name.lower().endswith(UPLOAD_SUFFIXES):
            raise SpecError("send the add-on as a .zip, .skill or .tar.gz file")
        size = document.file_size or 0
        if size > self.options.download_limit_bytes:
            raise LimitExceededError(
                f"the file is {size / 1048576:.1f} MB; bots can download at most "
                f"{self.options.download_limit_bytes // 1048576} MB from Telegram"
            )
        if size > self.settings.max_addon_size_bytes:
            raise QuotaExceededError(f"the file is larger than the {self.settings.max_addon_size_mb} MB add-on limit")
        _, api_thread_id = thread_of(message)
        async with self.guard.slot(user_id):
            progress = ProgressMessage(bot, message.chat.id, api_thread_id, f"📦 Installing <b>{esc(name)}</b>…")
            await progress.start("downloading")
            folder = Path(tempfile.mkdtemp(prefix="kiroclaw-upload-"))
            try:
                # the format is sniffed from the bytes; the name only names the package
                safe = re.sub(r"[^A-Za-z0-9._+-]+", "-", name).lstrip(".-") or "upload.zip"
                archive = folder / safe
                await bot.download(document, destination=archive)
                request = InstallRequest(scope=scope, local_roots=(folder,), progress=progress.callback)

                async def call() -> InstallResult:
                    result: InstallResult = await self.host.addons.install(f"upload:{archive}", request)
                    return result

                await self._finish(progress, call, user_id=user_id, scope=scope, retry=None)
            finally:
                await asyncio.to_thread(shutil.rmtree, folder, True)

    async def _finish(
        self,
        progress: ProgressMessage,
        call: Callable[[], Awaitable[InstallResult]],
        *,
        user_id: int,
        scope: Scope,
        retry: dict[str, Any] | None,
    ) -> None:
        try:
            result = await call()
        except ChoiceRequired as exc:
            self.guard.refund(user_id)
            await choose.ask(progress, self.actions.local, user_id, (retry or {}).get("spec", ""), exc, scope)
            return
        except ConfirmationRequired as exc:
            text = error_html(exc, icon="⚠️") + _admin_line(exc)
            if retry is None:
                await progress.done(text + "\n\nNot installed.")
                return
            seen = exc.inspected
            yes = await self.actions.put(
                user_id,
                {
                    "op": "install",
                    "yes": True,
                    "global": scope.kind == "global",
                    "resolved": seen.resolved,
                    "fingerprint": seen.fingerprint,
                    **retry,
                },
            )
            no = await self.actions.put(user_id, {"op": "dismiss", "text": "👍 Not installed."})
            await progress.done(
                text + "\n\nInstall anyway?", keyboard([("⚠️ Install anyway", PREFIX + yes), ("Cancel", PREFIX + no)])
            )
            return
        except KiroclawError as exc:
            log.info("install refused for user %s: %s", user_id, exc.user_message)
            if isinstance(exc, REFUNDED_ERRORS):
                self.guard.refund(user_id)
            again = forced("install", retry["spec"], scope.kind == "global") if retry else None
            await progress.done(failure_text(exc, again=again, user_id=user_id) + _admin_line(exc))
            return
        except Exception:
            log.exception("install failed unexpectedly for user %s", user_id)
            await progress.done(APOLOGY)
            return
        root = self.host.paths(scope).root
        text = await asyncio.to_thread(
            installed_text,
            result.record,
            root,
            scope=scope,
            warnings=list(result.warnings),
            skipped=list(result.skipped),
        )
        await progress.done(text)


async def search(message: Message, host: Host, actions: ButtonStore, user_id: int, query: str) -> None:
    hits = await host.addons.search(query, limit=8)
    if not hits:
        await message.answer(
            f"🔎 No add-ons found for “{esc(shorten(query, 60))}”. Try another word, or install straight from "
            "GitHub: <code>/addon install org/repo</code>"
        )
        return
    lines = [f"🔎 Found {len(hits)} add-on{'s' if len(hits) != 1 else ''} for “{esc(shorten(query, 60))}”:", ""]
    rows: list[list[tuple[str, str]]] = []
    mine = {r.name: r for r in await asyncio.to_thread(host.addons.list, Scope.user(user_id))}
    for index, hit in enumerate(hits, 1):
        meta = [f"{risk_icon(hit.risk)}<b>{esc(hit.name)}</b>{version_text(hit.version)}"]
        if hit.owner:
            meta.append(f"by {esc(hit.owner)}")
        if hit.downloads is not None:
            meta.append(f"⬇ {hit.downloads:,}")
        if hit.stars:
            meta.append(f"★ {hit.stars:,}")
        if hit.source and hit.source != "kirohub":
            meta.append(esc(hit.source))
        lines.append(f"{index}. " + " · ".join(meta))
        if hit.summary:
            lines.append(f"   {esc(shorten(hit.summary, 160))}")
        if hit.risk:
            lines.append(f"   {risk_line(hit.risk, hit.risk_reasons)}")
        have = mine.get(hit.name)
        if have is not None:  # what the user has already: its state instead of an Install button
            lines.append(f"   {installed_state(have, hit.version, hit.name)}")
            continue
        if hit.risk == BLOCKED:  # the registry refuses it: no Install button
            continue
        spec = hit.spec or hit.name
        token = await actions.put(user_id, {"op": "install", "spec": spec, "global": False}, one_shot=False)
        rows.append([(f"📦 Install {shorten(hit.name, 40)}", PREFIX + token)])
    await answer_long(message, "\n".join(lines), reply_markup=keyboard(*rows))


def installed_state(have: AddonRecord, offered: str | None, name: str) -> str:
    """A search result the user has: ``✅ installed``, or the newer version and the command that gets it."""
    if not offered or not have.version or offered == have.version:
        return "✅ installed"
    if have.pinned:
        return (
            f"📌 you have {esc(have.version)}, pinned; move to {esc(offered)} with "
            f"<code>/addon install {esc(name)}@{esc(offered)} --force</code>"
        )
    return f"⬆ you have {esc(have.version)}; update to {esc(offered)} with <code>/addon update {esc(name)}</code>"


async def info(message: Message, host: Host, actions: ButtonStore, user_id: int, name: str, scope: Scope) -> None:
    found = await host.addons.info(name, scope)
    if isinstance(found, AddonRecord):
        r = found
        where = " globally" if scope.kind == "global" else ""
        lines = [f"📦 <b>{esc(r.name)}</b>{version_text(r.version)} (installed{where})"]
        if r.description:
            lines.append(esc(shorten(r.description, 300)))
        lines.append(f"Source: {esc(r.source)} · spec <code>{esc(shorten(r.spec, 120))}</code>")
        lines.append(
            f"Status: {'enabled' if r.enabled else 'disabled'}{' · pinned' if r.pinned else ''} · "
            f"installed {ago(r.installed_at)}" + (f" · updated {ago(r.updated_at)}" if r.updated_at else "")
        )
        if r.skills:
            lines.append(f"Skills: {esc(', '.join(r.skills))}")
        if r.recipes:
            lines.append(f"Recipes: {esc(', '.join(r.recipes))}")
        origin = [f"{k} {esc(shorten(str(r.origin[k]), 80))}" for k in ORIGIN_KEYS if r.origin.get(k)]
        if origin:
            lines.append("Origin: " + " · ".join(origin))
        if r.size_bytes:
            lines.append(f"Size: {r.size_bytes / 1024:.1f} KiB")
        risk, reasons = record_risk(r)
        if risk:
            lines.append(risk_line(risk, reasons, installed=True))
        await answer_long(message, "\n".join(lines))
        return
    info: AddonInfo = found
    lines = info_lines(info)
    if info.risk == BLOCKED:  # the registry refuses it: no Install button
        await answer_long(message, "\n".join(lines))
        return
    token = await actions.put(
        user_id, {"op": "install", "spec": name, "global": scope.kind == "global"}, one_shot=False
    )
    await answer_long(
        message, "\n".join(lines), reply_markup=keyboard([(f"📦 Install {shorten(info.name, 40)}", PREFIX + token)])
    )


def info_lines(info: AddonInfo) -> list[str]:
    """``/addon info`` of a name that is not installed: the version shown (asked for, else the latest), the
    registry's counts, the risk, that version's changelog and file count, the versions that exist."""
    shown = info.version or info.latest_version
    latest = f", latest {esc(info.latest_version)}" if info.latest_version and shown != info.latest_version else ""
    lines = [
        f"📦 {risk_icon(info.risk)}<b>{esc(info.name)}</b>{version_text(shown)} "
        f"({esc(info.source)}{latest}, not installed)"
    ]
    if info.owner:
        lines.append(f"By {esc(info.owner)}")
    if info.description:
        lines.append(esc(shorten(info.description, 400)))
    counts = []
    if info.downloads is not None:
        counts.append(f"⬇ {info.downloads:,}")
    if info.stars:
        counts.append(f"★ {info.stars:,}")
    if counts:
        lines.append(" · ".join(counts))
    if info.risk:
        lines.append(risk_line(info.risk, info.risk_reasons))
    if info.changelog.strip():
        lines.append(f"Changes in {esc(shown or '?')}: {esc(shorten(info.changelog.strip(), 300))}")
    if info.files:
        lines.append(f"Files: {len(info.files)}")
    if info.versions:
        lines.append("Versions: " + esc(", ".join(info.versions[:6])) + (" …" if len(info.versions) > 6 else ""))
    if info.homepage:
        lines.append(f"Home: {esc(shorten(info.homepage, 120))}")
    return lines


async def update(
    message: Message,
    host: Host,
    guard: InstallGuard,
    actions: ButtonStore,
    user_id: int,
    name: str | None,
    scope: Scope,
    *,
    force: bool = False,
    confirmed: Confirmation | bool = False,
) -> None:
    """Update ``name`` (or every add-on of ``scope`` for ``None``) and show the results.

    Confirmation is always per add-on and bound to what the user saw: an "Update <name> anyway" button
    carries that one add-on's name, scope, ``force`` and the :class:`Confirmation` it showed; it is only
    ever passed with a ``name``, never for a bulk update, so no other add-on's warnings are confirmed
    unseen. Local add-ons are re-read only inside ``LOCAL_SOURCE_ROOTS``, as for installs.
    """
    if name is None:
        confirmed = False
    glob = scope.kind == "global"
    async with guard.slot(user_id, count=False):
        what = f"<b>{esc(name)}</b>" if name else "your add-ons" if scope.kind == "user" else "the global add-ons"
        progress = ProgressMessage(message.bot, message.chat.id, thread_of(message)[1], f"🔄 Updating {what}…")  # type: ignore[arg-type]
        await progress.start("resolving")
        try:
            request = InstallRequest(
                scope=scope,
                force=force,
                local_roots=local_roots(host.settings),
                progress=progress.callback,
                confirmed=confirmed,
            )
            results = await host.addons.update(name, request)
        except ConfirmationRequired as exc:
            asked = error_html(exc, icon="⚠️")
            if name is None:
                # a bulk update that stopped at one add-on: no button, it could not say which one to confirm
                await progress.done(f"{asked}\n\nUpdate it by name to confirm: <code>/addon update NAME</code>")
                return
            yes = await actions.put(user_id, _update_payload(name, glob, force, exc.inspected))
            no = await actions.put(user_id, {"op": "dismiss", "text": "👍 Not updated."})
            await progress.done(
                f"{asked}\n\nUpdate anyway?",
                keyboard([("⚠️ Update anyway", PREFIX + yes), ("Cancel", PREFIX + no)]),
            )
            return
        except KiroclawError as exc:
            text = failure_text(exc, again=forced("update", name, glob), user_id=user_id)
            await progress.done(text + _admin_line(exc))
            return
        if not results:
            await progress.done("Nothing to update: no add-ons installed.")
            return
        for result in results:
            if result.status == "failed" and result.server:
                report_text(result.message, detail=result.detail, fix=result.fix, user_id=user_id)
        lines = ["🔄 Update results:", *(update_line(r) for r in results)]
        rows: list[list[tuple[str, str]]] = []
        for result in results:
            if result.status == "confirm":
                token = await actions.put(user_id, _update_payload(result.name, glob, force, result.inspected))
                rows.append([(f"⚠️ Update {shorten(result.name, 40)} anyway", PREFIX + token)])
        if rows:
            lines.append("")
            lines.append("Update anyway? Each button confirms that one add-on only.")
        await progress.done("\n".join(lines), keyboard(*rows) if rows else None)


def _update_payload(name: str, glob: bool, force: bool, seen: Confirmation | None) -> dict[str, Any]:
    """The "Update anyway" button's payload: one add-on, and what the user was shown."""
    seen = seen or Confirmation()
    return {
        "op": "update",
        "name": name,
        "global": glob,
        "force": force,
        "resolved": seen.resolved,
        "fingerprint": seen.fingerprint,
    }


def confirmation(payload: dict[str, Any]) -> Confirmation:
    """The :class:`Confirmation` a confirm button carries (what the user was shown)."""
    return Confirmation(resolved=payload.get("resolved"), fingerprint=payload.get("fingerprint"))


def local_roots(settings: Settings) -> tuple[Path, ...]:
    """The folders chat installs and updates may read: ``LOCAL_SOURCE_ROOTS`` (none when empty)."""
    return tuple(settings.local_source_roots)


async def toggle(host: Host, name: str, scope: Scope, *, enable: bool) -> str:
    record, changed = await host.addons.set_enabled(name, scope, enable)
    if not changed:
        return f"<b>{esc(record.name)}</b> is already {'enabled' if enable else 'disabled'}; nothing changed."
    if enable:
        return f"✅ Enabled <b>{esc(record.name)}</b>; your agent can use its skills again."
    return f"⏸ Disabled <b>{esc(record.name)}</b>; its skills are hidden from your agent until /addon enable."
