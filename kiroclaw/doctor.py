"""``kiroclaw doctor``: every check of the server's set-up, each with the operator's fix.

In order: the settings (one line per invalid one, in the project's words), the bot's settings (the same
checks ``kiroclaw run`` makes before it starts: ``BOT_TOKEN`` present and well-formed, the allowlist,
``TELEGRAM_API_BASE``, the webhook), the Bot API (``getMe`` against ``TELEGRAM_API_BASE``, short
timeout), the agent (its program, version, key, template and an ACP handshake:
:mod:`kiroclaw.agent.doctor`), the workspace (absolute, writable, free space), git (present, its version,
a fetch into the workspace), every source's own checks (the KiroHub registry answers its API:
:meth:`kiroclaw.sources.Source.doctor`) and the launcher, caps and Redis (:mod:`kiroclaw.shared.launch`).

Checks import what they need when they run; a failed check is a line, never a traceback.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from .errors import ConfigError, KiroclawError

if TYPE_CHECKING:
    from .config import Settings

#: Seconds each network check (Bot API, registry) may take.
DOCTOR_TIMEOUT_SECONDS = 5.0

Level = Literal["ok", "problem", "note"]


@dataclass(frozen=True)
class Check:
    """One line of ``kiroclaw doctor``.

    :ivar area: ``settings``, ``bot``, ``bot_api``, ``agent``, ``workspace``, ``git``, ``registry`` (a
        source's checks: ``source:<name>``) or ``sandbox``.
    :ivar level: ``ok``; ``problem`` (counted, exit status 1); ``note`` (worth knowing, not counted).
    :ivar message: what was checked and what was found.
    :ivar fix: what the operator does about it (``""`` when nothing is to be done).
    """

    area: str
    level: Level
    message: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.level != "problem"


def ok(area: str, message: str) -> Check:
    return Check(area, "ok", message)


def problem(area: str, message: str, fix: str) -> Check:
    return Check(area, "problem", message, fix)


def note(area: str, message: str, fix: str = "") -> Check:
    return Check(area, "note", message, fix)


def _split(line: str, fallback_fix: str) -> tuple[str, str]:
    """A start-up check's ``"<what is wrong>: <how to fix it>"`` line as (what, fix)."""
    what, sep, fix = line.partition(": ")
    return (what, fix) if sep and fix else (line, fallback_fix)


def settings_problems(exc: ConfigError) -> list[Check]:
    """Invalid settings, one line each (the same words ``kiroclaw run`` prints)."""
    return [problem("settings", line, "correct it in the environment or .env") for line in exc.problems]


def bot_checks(settings: Settings, *, timeout_seconds: float = DOCTOR_TIMEOUT_SECONDS) -> list[Check]:
    """The bot's settings as ``kiroclaw run`` checks them before it starts, then ``getMe``.

    The agent program and the workspace are left to their own checks (:func:`workspace_checks`, the
    agent's); the webhook settings are checked when ``WEBHOOK_URL`` is set.
    """
    from .bot.cli import check_config
    from .bot.preflight import DEFAULT_API_BASE, check_bot_api

    problems, warnings = check_config(settings, webhook=bool(settings.webhook_url), agent_and_workspace=False)
    checks = [problem("bot", *_split(line, "correct it in the environment or .env")) for line in problems]
    checks += [note("bot", *_split(line, "")) for line in warnings]
    if not problems:
        ids = len(settings.allowed_telegram_ids)
        checks.append(ok("bot", f"bot settings (BOT_TOKEN well-formed, {ids} allowed Telegram user(s))"))
    token = settings.bot_token.get_secret_value().strip() if settings.bot_token else ""
    base = settings.telegram_api_base or DEFAULT_API_BASE
    if any(line.startswith(("BOT_TOKEN", "TELEGRAM_API_BASE")) for line in problems):
        checks.append(note("bot_api", f"the Bot API at {base} was not asked (fix the bot settings first)"))
        return checks
    try:
        username = check_bot_api(token, settings.telegram_api_base, timeout=timeout_seconds)
    except ConfigError as exc:
        what, fix = _split(exc.user_message, "check the network or TELEGRAM_API_BASE")
        detail = f" ({exc.detail})" if exc.detail else ""
        checks.append(problem("bot_api", what + detail, fix))
    else:
        checks.append(ok("bot_api", f"the Bot API at {base} knows the bot: @{username}"))
    return checks


def workspace_checks(settings: Settings) -> list[Check]:
    """The workspace root: given as an absolute path (a relative one names where it resolves to),
    writable (a temporary file is made and removed; the folder is created when missing), free space;
    then git: present, its version, and a fetch into the workspace (:func:`kiroclaw.gitcheck.check_git_fetch`)."""
    root = settings.workspace_base_path
    checks: list[Check] = []
    given = _raw_setting("WORKSPACE_BASE_PATH")
    if given is None or not os.path.isabs(os.path.expanduser(given)):
        shown = repr(given) if given is not None else "'workspaces' (the default)"
        checks.append(
            note(
                "workspace",
                f"WORKSPACE_BASE_PATH {shown} is relative: from this folder it is {root}",
                "set WORKSPACE_BASE_PATH to an absolute path, so the bot and the CLI started from any folder "
                "use the same add-ons",
            )
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".doctor-"):
            pass
        free_mb = shutil.disk_usage(root).free // (1024 * 1024)
    except OSError as exc:
        checks.append(
            problem(
                "workspace",
                f"a writable workspace root ({root}: {exc.strerror})",
                "create the folder and give the bot's user write access, or set WORKSPACE_BASE_PATH",
            )
        )
        return checks
    checks.append(ok("workspace", f"workspace root {root} is writable ({free_mb} MiB free)"))
    # the GitHub source fetches into the workspace with git run from another folder
    from .gitcheck import check_git_fetch

    try:
        checks.append(ok("git", f"git fetch into the workspace works ({check_git_fetch(root)})"))
    except KiroclawError as exc:
        checks.append(
            problem(
                "git",
                f"a working git fetch ({exc.user_message}: {exc.detail})",
                "install git (apt-get install git) and check the workspace root is writable",
            )
        )
    return checks


def source_checks(settings: Settings, *, timeout_seconds: float = DOCTOR_TIMEOUT_SECONDS) -> list[Check]:
    """Each loaded source's own checks (:meth:`~kiroclaw.sources.Source.doctor`), e.g. the registry."""
    import asyncio

    from .host import Host

    try:
        host = Host(settings)
    except KiroclawError as exc:
        return [problem("plugins", f"the plugins load ({exc.user_message})", exc.fix or "see kiroclaw plugins")]

    async def run() -> list[Check]:
        found: list[Check] = []
        try:
            for name, source in sorted(host.sources.items()):
                for passed, message, fix in await source.doctor(timeout_seconds=timeout_seconds):
                    area = "registry" if name == "kirohub" else f"source:{name}"
                    found.append(ok(area, message) if passed else problem(area, message, fix))
        finally:
            await host.aclose()
        return found

    return asyncio.run(run())


def _raw_setting(name: str) -> str | None:
    """A setting's text as given (environment first, then ``./.env``), or ``None`` when unset."""
    from .storage_paths import setting_text

    return setting_text(name)


def render(checks: list[Check]) -> list[str]:
    """The human lines: ``ok    …``, ``MISSING …`` (with ``fix:``), ``note  …``; then the verdict."""
    lines: list[str] = []
    for check in checks:
        label = {"ok": "ok   ", "problem": "MISSING", "note": "note "}[check.level]
        lines.append(f"{label} {check.message}")
        if check.fix and check.level != "ok":
            lines.append(f"      fix: {check.fix}")
    problems = sum(1 for c in checks if c.level == "problem")
    lines.append(f"{problems} problem(s) found" if problems else "everything needed is in place")
    return lines


def as_json(checks: list[Check]) -> dict[str, Any]:
    """``kiroclaw doctor --json``: ``{"ok", "problems", "checks": [{"area", "level", "ok", "message",
    "fix"}]}``."""
    problems = sum(1 for c in checks if c.level == "problem")
    return {"ok": not problems, "problems": problems, "checks": [{**asdict(c), "ok": c.ok} for c in checks]}
