"""KiroClaw's hook specifications (project name and entry-point group: ``kiroclaw``). Specs only, no logic.

Collectors use the ``register_*(register)`` idiom: the host passes a callback, the plugin calls it.
Hooks are synchronous and cheap; I/O lives in ``async`` methods of the objects they register.
Call hooks with keyword arguments only; implementations may accept a subset of the arguments.
Reference with examples: ``docs/plugins.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from .agent.flavors import AgentFlavor
    from .config import Settings
    from .host import Host
    from .layers import Layer
    from .models import AddonRecord
    from .policy import PolicyDecision
    from .sources import Source
    from .workspaces import Scope

PROJECT_NAME = "kiroclaw"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_sources(register: Callable[[Source], None], settings: Settings) -> None:
    """Register installer sources.

    Called once per host at start-up, for every plugin (collect-all; return values are ignored).

    :param register: call ``register(source)`` with one :class:`kiroclaw.Source` instance per source the
        plugin provides. ``source.name`` must be unique across all plugins.
    :param settings: the host's :class:`kiroclaw.Settings` (read-only), so the source can keep what it
        needs (base URLs, timeouts, tokens).
    :raises kiroclaw.PluginConflictError: (from the host) when two sources share a name; start-up fails.
    """


@hookspec(firstresult=True)
def resolve_source(spec: str, sources: Mapping[str, Source]) -> str | None:
    """Decide which source owns a shorthand spec (one without an explicit ``name:`` prefix).

    Called for every install/info of a shorthand spec. Stops at the first non-``None`` result
    (``firstresult``). Explicit ``name:rest`` specs never reach this hook. Built-in sources make
    disjoint claims: ``./dir``, ``/abs``, ``~/dir`` → ``local``; ``org/repo[...]`` and GitHub URLs →
    ``github``; other ``https://`` archive URLs → ``url``; bare names → ``kirohub``.

    :param spec: the spec text, stripped, control characters already refused.
    :param sources: registered sources keyed by name (read-only).
    :returns: the owning source's name (a key of ``sources``), or ``None`` for "not mine".
    """


@hookspec
def register_skill_layers(register: Callable[[Layer], None]) -> None:
    """Register skill/recipe discovery layers.

    Called once per host at start-up (collect-all). The core registers ``user`` (500) >
    ``user-plugins`` (400) > ``global`` (300) > ``global-plugins`` (200) > ``bundled`` (100).

    :param register: call ``register(layer)`` with a :class:`kiroclaw.Layer`. ``layer.name`` and
        ``layer.precedence`` must be unique; a duplicate fails start-up with
        :class:`kiroclaw.PluginConflictError`.
    """


@hookspec
def register_bot_commands(register: Callable[..., None]) -> None:
    """Register Telegram bot routers and their slash commands.

    Called each time a bot dispatcher is built (collect-all). Build a **new** aiogram ``Router`` per
    call: aiogram forbids attaching one router to two dispatchers.

    :param register: call ``register(router, commands)`` where ``router`` is an ``aiogram.Router`` and
        ``commands`` a sequence of ``aiogram.types.BotCommand`` for the menu (may be empty). Routers are
        included sorted by plugin name, the core's first; a command name registered twice fails
        with :class:`kiroclaw.PluginConflictError`. The menu holds at most 100 commands (Telegram's limit).
    """


@hookspec
def register_agents(register: Callable[[AgentFlavor], None]) -> None:
    """Register agent flavors (which ACP agent program each user gets; chosen with ``AGENT``).

    Called when an agent runtime or ``kiroclaw doctor`` starts (collect-all).

    :param register: call ``register(flavor)`` with a :class:`kiroclaw.AgentFlavor` instance; its
        ``name`` must be unique across plugins (:class:`kiroclaw.PluginConflictError` otherwise).
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add ``kiroclaw <subcommand>`` commands.

    Called once when the ``kiroclaw`` CLI is built (collect-all).

    :param cli: the root ``click.Group``; call ``cli.add_command(cmd)``. A name already taken fails
        with :class:`kiroclaw.PluginConflictError`.
    """


@hookspec
def check_addon(
    addon: AddonRecord, staged_path: Path, scope: Scope, settings: Settings
) -> list[PolicyDecision] | PolicyDecision | None:
    """Install policy: inspect a staged add-on before it is moved into place.

    Called for every install and update after validation, before the atomic rename (collect-all).
    Any ``block`` refuses the install (:class:`kiroclaw.PolicyBlockedError`); any ``warn`` requires the
    user's confirmation (:class:`kiroclaw.ConfirmationRequired` unless confirmed).

    :param addon: the record that would be written (name, source, spec, kind, skills, recipes, origin).
    :param staged_path: root of the staged tree (read-only; do not modify).
    :param scope: where it would be installed.
    :param settings: the host's settings (read-only; e.g. ``POLICY_RULES``).
    :returns: ``None`` (no opinion), one :class:`kiroclaw.PolicyDecision` or a list of them.
    """


@hookspec
def addon_installed(addon: AddonRecord, scope: Scope) -> None:
    """Event: an add-on was installed (or reinstalled with ``--force``) and recorded.

    Called after the registry write (collect-all). Exceptions are logged, never undo the install.
    """


@hookspec
def addon_removed(addon: AddonRecord, scope: Scope) -> None:
    """Event: an add-on was removed; ``addon`` is its last record. Called after the registry write."""


@hookspec
def addon_updated(addon: AddonRecord, previous: AddonRecord, scope: Scope) -> None:
    """Event: an add-on was updated from ``previous`` to ``addon``. Called after the registry write."""


@hookspec
def addon_toggled(addon: AddonRecord, scope: Scope, enabled: bool) -> None:
    """Event: an add-on was enabled (``enabled=True``) or disabled. Called after the registry write."""


@hookspec
def addon_event(event: Mapping[str, Any], settings: Settings) -> None:
    """Event: any add-on operation, including refusals and policy decisions (for the audit log).

    :param event: ``{"action": "install"|"update"|"remove"|"enable"|"disable"|"policy",
        "outcome": "ok"|"refused"|"failed", "scope": "user 42"|"global", "user": int|None,
        "spec": str|None, "name": str|None, "source": str|None, "version": str|None,
        "commit": str|None, "fingerprint": str|None, "reason": str|None}``.
    :param settings: the host's settings (read-only; e.g. ``AUDIT_LOG_PATH``).
    """


@hookspec
def startup(host: Host) -> Any:
    """Validate plugin configuration and warm caches, once per host after all plugins registered.

    Collect-all. May return an awaitable, which the host awaits.

    :param host: the :class:`kiroclaw.Host` (settings, sources, layers).
    :raises kiroclaw.PluginConfigError: to stop start-up with a clear message.
    """


@hookspec(firstresult=True)
def agent_launcher(settings: Settings) -> Any:
    """The launcher that starts, stops and recovers the locks of users' agent processes
    (:class:`kiroclaw.shared.launch.Launcher`: ``prepare(spec, user_id=, thread_id=)`` → the spec to run).

    ``firstresult``: the first non-``None`` answer wins. The built-in implementation runs last and answers
    ``AGENT_SANDBOX=local`` (default) and ``bwrap``; a plugin answers its own value (``podman``,
    ``kubernetes``…) and returns ``None`` for the rest.
    """
