"""What a chat user reads when something fails: the project's errors in a chat user's words.

The CLI's reader is the operator; the chat's is a Telegram user, who cannot see or change the server. So
every error that reaches a chat goes through :func:`error_html`:

* a problem of the server's set-up (:attr:`KiroclawError.server <kiroclaw.errors.KiroclawError>`, and every
  ``ConfigError``/``PluginError``: an agent program missing, a workspace not writable, a registry
  misconfigured) is logged at ERROR with the operator's ``fix`` and ``detail`` (:func:`report`); the user
  reads :data:`AGENT_NOT_SET_UP` (or :data:`SERVER_NOT_SET_UP` for the rest of the server);
* anything else is one headline plus its reasons (a policy's findings, a package's problems), each
  reason once, never repeated in the headline;
* no CLI flag (``use --force``: the chat command that does it instead), backtick, ``kiroclaw`` command,
  setting name, server path, raw git or HTTP output (``detail``, ``(HTTP 503)``), or scope label
  (``user 42``: the chat speaks to that user) reaches the chat (:func:`plain`).
"""

from __future__ import annotations

import logging
import re

from ..errors import AgentError, ConfigError, KiroclawError, PluginError, hide_server_paths
from .format import esc, shorten

log = logging.getLogger(__name__)

#: What a chat user reads when the agent is not set up on the server (the operator's log has the fix).
AGENT_NOT_SET_UP = "The agent isn't set up on this server yet; the admin has been told."
#: What a chat user reads for any other problem of the server's set-up.
SERVER_NOT_SET_UP = "This isn't set up on this server yet; the admin has been told."

#: Longest reason shown, and how many at most.
REASON_CHARS = 200
MAX_REASONS = 5

_FORCE = re.compile(r"[;,]?\s*\(?use --force to ([^;()]+?)\)?(?=$|;)")
_YES = re.compile(r"\s*\(use --yes[^)]*\)")
_HTTP_STATUS = re.compile(r"\s*\(HTTP \d{3}\)")
#: How the core names a user's scope ("user 42"), and what the chat says to that user instead.
_SCOPE_WORDS = (
    (re.compile(r"\bthe add-ons of user \d+"), "your add-ons"),
    (re.compile(r"\badd-on folder of user \d+"), "your add-on folder"),
    (re.compile(r"^user \d+ already has\b"), "you already have"),
    (re.compile(r" (?:in|of|for) user \d+\b"), ""),
    (re.compile(r"\bkiroclaw\b(?=\))"), "this bot"),
)


def is_server_problem(exc: KiroclawError) -> bool:
    """Whether ``exc`` is the server's set-up at fault (the user can do nothing about it)."""
    return bool(exc.server) or isinstance(exc, ConfigError | PluginError)


def report(exc: KiroclawError, *, user_id: int | None = None) -> None:
    """Log a problem of the server's set-up for the operator: what failed, the source's detail and the fix.

    ERROR level, once per occurrence; the user id says whose request met it.
    """
    report_text(exc.user_message, detail=exc.detail, fix=exc.fix, user_id=user_id)


def report_text(message: str, *, detail: str | None, fix: str | None, user_id: int | None = None) -> None:
    """:func:`report` for a problem already turned into words (a failed update result's fields)."""
    who = f" (met by Telegram user {user_id})" if user_id is not None else ""
    detail = f"; detail: {detail.strip()}" if detail and detail.strip() else ""
    fix = fix or "run `kiroclaw doctor` on the server"
    log.error("server set-up problem%s: %s%s; fix: %s", who, message, detail, fix)


def plain(text: str) -> tuple[str, str | None]:
    """A core message in chat words, and what ``--force`` would have done (``"reinstall"``) or ``None``.

    The scope label becomes "you"/"your", ``(use --yes …)`` goes (the chat asks with a button), a raw
    ``(HTTP 503)`` goes, server paths keep their last segment, backticks go.
    """
    forced = _FORCE.search(text)
    text = _FORCE.sub("", text) if forced else text
    text = _YES.sub("", text)
    text = _HTTP_STATUS.sub("", text)
    for pattern, words in _SCOPE_WORDS:
        text = pattern.sub(words, text)
    text = hide_server_paths(text).replace("`", "")
    return text.strip(), forced.group(1).strip() if forced else None


def headline_and_reasons(exc: KiroclawError) -> tuple[str, list[str]]:
    """The error's headline and its reasons, each reason once and never repeated in the headline.

    Reasons are a policy's findings (``reasons``) or a package's ``problems``; a message that lists them
    after a colon ("x was blocked by the install policy: a; b") keeps only the part before.
    """
    reasons = [r for r in (getattr(exc, "reasons", None) or getattr(exc, "problems", None) or []) if r.strip()]
    message = exc.user_message
    cut = min((i for i in (message.find(r) for r in reasons) if i > 0), default=-1)
    if cut > 0:
        message = message[:cut].rstrip(" :;,(")
    unique = [r for r in dict.fromkeys(reasons) if r.strip() != message.strip()]
    return message, unique


def headline_text(exc: KiroclawError) -> str:
    """The error's headline alone, as plain text in chat words (a button's short answer)."""
    if is_server_problem(exc):
        return AGENT_NOT_SET_UP if isinstance(exc, AgentError) else SERVER_NOT_SET_UP
    return plain(headline_and_reasons(exc)[0])[0]


def error_html(exc: KiroclawError, *, icon: str = "❌", again: str | None = None, user_id: int | None = None) -> str:
    """The chat text (Telegram HTML) of an expected error: one headline plus reasons, in a user's words.

    :param again: the chat command that repeats the operation with ``--force`` (``/addon install x
        --force``), named when the core's message says "use --force to …".
    :param user_id: who met it, for the operator's log of a server problem.
    """
    if is_server_problem(exc):
        report(exc, user_id=user_id)
        return f"⚠️ {esc(headline_text(exc))}"
    headline, reasons = headline_and_reasons(exc)
    headline, forced = plain(headline)
    lines = [f"{icon} {esc(headline)}"]
    for reason in reasons[:MAX_REASONS]:
        lines.append(f"• {esc(shorten(plain(reason)[0], REASON_CHARS))}")
    if len(reasons) > MAX_REASONS:
        lines.append(f"• … and {len(reasons) - MAX_REASONS} more")
    if forced and again:
        lines.append(f"To {esc(forced)}, send <code>{esc(again)}</code>")
    return "\n".join(lines)


def forced(sub: str, target: str | None, is_global: bool = False) -> str:
    """The chat command that repeats ``/addon <sub> [target]`` with ``--force`` (``-g`` for the global scope)."""
    return " ".join(w for w in ("/addon", sub, target, "--force", "-g" if is_global else None) if w)


def message_html(text: str, *, again: str | None = None) -> str:
    """A core status line (an update result's message) in chat words, as escaped HTML."""
    words, forced = plain(text)
    html = esc(words)
    if forced and again:
        html += f"; to {esc(forced)}, send <code>{esc(again)}</code>"
    return html
