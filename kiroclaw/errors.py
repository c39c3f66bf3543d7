"""The one exception tree of KiroClaw.

Every expected failure is a :class:`KiroclawError`. Its ``user_message`` is one line that is safe to
show on the CLI: it never holds a token or a traceback. The chat shows it through the bot's renderer
(:mod:`kiroclaw.bot.chat_words`), which speaks to a chat user: a problem of the server's set-up
(``server``) becomes "the admin has been told" and its ``fix`` goes to the operator's log. Anything that
is not a ``KiroclawError`` is a bug: the CLI and the bot log its traceback and show a short apology.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class KiroclawError(Exception):
    """Base class of every expected KiroClaw error.

    :param user_message: one line for the person (chat or terminal), no secrets.
    :param detail: optional extra text for the operator: the source's own words (git's stderr, ``HTTP
        <status> <url>``); shown by ``-v`` and in the log, never in chat.
    :param fix: what the operator does about it (``install kiro-cli …``, ``set KIROHUB_TOKEN``); printed
        by the CLI as a ``fix:`` line and logged by the bot, never shown in chat.
    :param server: the server's set-up is at fault (an agent program missing, a workspace not writable,
        a registry misconfigured), not what the person asked: the chat says the admin has been told and
        the log gets a WARNING with ``fix``. Defaults to the class's :attr:`server`.
    """

    #: short machine-readable code, stable across releases (``--json`` output, audit log).
    code: str = "error"
    #: whether errors of this class are problems of the server's set-up (see ``server`` above).
    server: bool = False

    def __init__(
        self, user_message: str, *, detail: str | None = None, fix: str | None = None, server: bool | None = None
    ) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.detail = detail
        self.fix = fix
        if server is not None:
            self.server = server

    def __str__(self) -> str:
        return self.user_message


# --- plugin host -------------------------------------------------------------------------------


class PluginError(KiroclawError):
    """A plugin could not be loaded, conflicts with another, or has bad configuration."""

    code = "plugin"
    server = True


class PluginLoadError(PluginError):
    """Importing or registering an entry-point plugin failed.

    Always raised ``from`` the original exception, so the plugin author's traceback is kept.

    :param plugin: the entry-point name (``local``, ``github``…).
    :param distribution: the distribution that declares it (``kiroclaw``, ``kiroclaw-source-s3``…).
    """

    code = "plugin_load"

    def __init__(self, plugin: str, distribution: str, reason: str) -> None:
        super().__init__(f"plugin {plugin!r} from distribution {distribution!r} failed to load: {reason}")
        self.plugin = plugin
        self.distribution = distribution


class PluginConflictError(PluginError):
    """Two plugins registered the same plugin, source, layer, precedence or command name."""

    code = "plugin_conflict"


class ConfigError(KiroclawError):
    """The settings (environment / ``.env``) are invalid or incomplete.

    :param problems: one line per invalid setting, named by its environment variable; defaults to
        ``[user_message]``. ``kiroclaw`` prints each on its own line.
    """

    code = "config"
    server = True

    def __init__(
        self,
        user_message: str,
        *,
        detail: str | None = None,
        problems: list[str] | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(user_message, detail=detail, fix=fix)
        self.problems = list(problems or [user_message])


class PluginConfigError(PluginError, ConfigError):
    """A plugin rejected its configuration (its settings model, or its ``startup`` hook).

    A :class:`ConfigError` too: ``kiroclaw`` prints one line per invalid setting and exits with status 2.
    """

    code = "plugin_config"


# --- add-ons -----------------------------------------------------------------------------------


class AddonError(KiroclawError):
    """An add-on operation (install, remove, update, enable, disable…) was refused or failed."""

    code = "addon"


class SpecError(AddonError):
    """The spec the user typed is malformed, or no source claims it."""

    code = "spec"


class SourceUnavailableError(AddonError):
    """The source named by a spec is not loaded (unknown, or disabled with KIROCLAW_DISABLE_PLUGINS)."""

    code = "source_unavailable"


class NotSupportedError(AddonError):
    """The source cannot do this operation (e.g. the local source has no ``search``)."""

    code = "not_supported"


class SourceError(AddonError):
    """A source failed to fetch, search or describe an add-on (network, missing repo, bad response…).

    ``detail`` carries the source's own words: git's stderr, ``HTTP <status> <url>``. Its last line is
    shown to the person as a ``detail`` line under the message (:func:`detail_line`).
    """

    code = "source"


class NotFoundError(AddonError):
    """The add-on (in a registry, or in the user's installed set) does not exist."""

    code = "not_found"


class ValidationError(AddonError):
    """The staged files are not a valid skill or plugin package (Agent Skills spec, layout rules).

    :param problems: every blocking problem found, one human-readable line each.
    """

    code = "invalid"

    def __init__(self, user_message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(user_message)
        self.problems = list(problems or [])


class UnsafeContentError(AddonError):
    """Untrusted input tried to escape its root or uses a forbidden file type (link, device, FIFO…)."""

    code = "unsafe"


class LimitExceededError(AddonError):
    """A size, count, depth, time or rate limit was exceeded."""

    code = "limit"


class QuotaExceededError(LimitExceededError):
    """The user already has ``MAX_ADDONS_PER_USER`` add-ons, or the add-on exceeds ``MAX_ADDON_SIZE_MB``."""

    code = "quota"


class AlreadyInstalledError(AddonError):
    """The add-on is installed already; reinstalling needs ``--force``."""

    code = "exists"


@dataclass(frozen=True)
class Confirmation:
    """What the user was shown when asked to confirm, so a confirmation binds to exactly that.

    Carried out in :attr:`ConfirmationRequired.inspected` and back in ``InstallRequest.confirmed``; the
    install pipeline refuses with :class:`ConfirmationChangedError` when the new fetch differs.

    :ivar resolved: the exact thing fetched (registry version, commit SHA, archive sha256), or ``None``.
    :ivar fingerprint: the staged add-on's content fingerprint (sha256 hex, see
        :mod:`kiroclaw.fingerprint`) when the policy warned, or ``None`` when the question came before
        the download (a registry's moderation flag).
    """

    resolved: str | None = None
    fingerprint: str | None = None


class ConfirmationRequired(AddonError):
    """The operation needs the user's explicit confirmation (CLI ``--yes`` or prompt, a button in the bot).

    :param reasons: why: registry moderation codes, policy warnings… one line each.
    :param inspected: what was inspected (see :class:`Confirmation`); pass it back as
        ``InstallRequest.confirmed`` to confirm exactly this.
    """

    code = "confirm"

    def __init__(
        self, user_message: str, *, reasons: list[str] | None = None, inspected: Confirmation | None = None
    ) -> None:
        super().__init__(user_message)
        self.reasons = list(reasons or [])
        self.inspected = inspected if inspected is not None else Confirmation()


class ConfirmationChangedError(AddonError):
    """A confirmation arrived for an add-on that is no longer what the user saw (the registry's latest
    version, the repository's commit or the files changed in between). Nothing was installed."""

    code = "confirm_changed"

    def __init__(self, user_message: str = "the add-on changed since you confirmed; review it again") -> None:
        super().__init__(user_message)


class UpdateSkippedError(AddonError):
    """``update`` does not apply to this add-on by design (an uploaded file: install a newer file instead).
    Reported as a ``skipped`` update status, never as a failure."""

    code = "skipped"


class ChoiceRequired(AddonError):
    """The add-on offers more skills than may be installed without asking (chat: more than 50): the
    person chooses "all" or a subset first. Nothing was changed.

    :param skills: every skill offered, as (name, description) pairs, sorted by name.
    """

    code = "choose"

    def __init__(self, user_message: str, *, skills: list[tuple[str, str]] | None = None) -> None:
        super().__init__(user_message)
        self.skills = list(skills or [])


class PolicyBlockedError(AddonError):
    """An install policy (``check_addon`` hook) or registry moderation refused the add-on.

    :param reasons: the findings that blocked it, one line each (``file:line: reason [rule]``), when the
        install policy refused; empty for a registry's flag.
    """

    code = "blocked"

    def __init__(self, user_message: str, *, reasons: list[str] | None = None) -> None:
        super().__init__(user_message)
        self.reasons = list(reasons or [])


class PermissionDeniedError(AddonError):
    """The person may not do this (a global install by a non-admin, a folder outside LOCAL_SOURCE_ROOTS…)."""

    code = "forbidden"


class StorageError(AddonError):
    """Disk full, I/O error, or a corrupt state file."""

    code = "storage"


class RegistryCorruptError(StorageError):
    """``addons.json`` could not be read; it was moved aside to ``quarantined_to``."""

    code = "registry_corrupt"

    def __init__(self, user_message: str, *, quarantined_to: str | None = None) -> None:
        super().__init__(user_message)
        self.quarantined_to = quarantined_to


_CONTROL_CHARS = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x1f\x7f]")
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s'\"/]+/)+(?=[^\s'\"/]*)")
#: Longest detail line shown, in characters.
DETAIL_LINE_CHARS = 300


def hide_server_paths(text: str) -> str:
    """``text`` with absolute server paths shortened to their last segment (``/srv/git/org/r.git`` → ``…/r.git``)."""
    return _ABSOLUTE_PATH.sub("…/", text)


def detail_line(exc: BaseException, *, hide_paths: bool = False) -> str | None:
    """The one line of a source's own reason to show under an error message, or ``None``.

    Only :class:`SourceError` has one: the first ``fatal:``/``error:`` line of its ``detail`` (git's
    cause; later ones are generic, "Could not read from remote repository"), else its last non-empty
    line (git's last stderr line, ``HTTP 404 https://host/path``), with terminal escapes and control
    characters removed, at most :data:`DETAIL_LINE_CHARS` characters. ``hide_paths`` (chat) shortens
    absolute server paths to their last segment (``/srv/git/org/repo.git`` → ``…/repo.git``).
    """
    if not isinstance(exc, SourceError) or not exc.detail:
        return None
    lines = [line.strip() for line in _CONTROL_CHARS.sub("\n", exc.detail).splitlines() if line.strip()]
    if not lines:
        return None
    reasons = [line for line in lines if line.lower().startswith(("fatal:", "error:"))]
    line = reasons[0] if reasons else lines[-1]
    if hide_paths:
        line = hide_server_paths(line)
    if len(line) > DETAIL_LINE_CHARS:
        line = line[: DETAIL_LINE_CHARS - 1] + "…"
    return line


# --- agent runtime -----------------------------------------------------------------------------


class AgentError(KiroclawError):
    """The user's agent (kiro-cli over ACP) failed to start, crashed, or answered badly."""

    code = "agent"


class RecipeError(KiroclawError):
    """A recipe is unknown, has a bad template, or was given bad arguments."""

    code = "recipe"
