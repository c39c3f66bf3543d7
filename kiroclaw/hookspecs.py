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
    from .events import AddonEvent
    from .host import Host
    from .layers import Layer
    from .models import AddonRecord
    from .policy import PolicyDecision
    from .sources import Source
    from .staging import StagedFile
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


@hookspec
def resolve_source(spec: str, sources: Mapping[str, Source]) -> str | None:
    """State a claim on a shorthand spec (one without an explicit ``name:`` prefix); the core decides.

    Called for every install/info of a shorthand spec (collect-all), together with every registered
    source's :meth:`kiroclaw.Source.claims`. Claim only for your own source, never by asking another:
    when two different sources claim one spec, the core refuses it as ambiguous and names the explicit
    forms (``github:…``, ``url:…``). Explicit ``name:rest`` specs never reach this hook. Built-in claims
    are disjoint: ``./dir``, ``/abs``, ``~/dir`` → ``local``; ``./x.zip`` (a local archive) → ``upload``;
    ``org/repo[...]`` and GitHub URLs → ``github``; other ``https://`` archive URLs → ``url``; bare
    names → ``kirohub``.

    :param spec: the spec text, stripped, control characters already refused.
    :param sources: registered sources keyed by name (read-only).
    :returns: the claiming source's name (a key of ``sources``), or ``None`` for "not mine".
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
    addon: AddonRecord,
    staged_path: Path,
    scope: Scope,
    settings: Settings,
    files: tuple[StagedFile, ...],
    host: Host,
) -> list[PolicyDecision] | PolicyDecision | None:
    """Install policy: inspect a staged add-on before it is moved into place.

    Called once per install and update after validation, before the atomic rename (collect-all).
    Any ``block`` refuses the install (:class:`kiroclaw.PolicyBlockedError`); any ``warn`` requires the
    user's confirmation (:class:`kiroclaw.ConfirmationRequired` unless confirmed; the confirmation is
    bound to the add-on's fingerprint, so a changed add-on is asked about again).

    :param addon: the record that would be written (name, source, spec, kind, skills, recipes, origin,
        ``fingerprint``, ``size_bytes``).
    :param staged_path: root of the staged add-on (read-only; do not modify).
    :param scope: where it would be installed.
    :param settings: the host's settings (read-only; e.g. ``POLICY_RULES``).
    :param files: every regular file of the add-on from the core's one walk over the staged tree,
        sorted by path: :class:`kiroclaw.StagedFile` (``path`` relative to ``staged_path``, ``full``,
        ``size_bytes``, ``sha256``). Links and special files were already refused; scan these instead of
        walking the tree again.
    :param host: the :class:`kiroclaw.Host`.
    :returns: ``None`` (no opinion), one :class:`kiroclaw.PolicyDecision` or a list of them.
    """


# Event hooks: each gets the host and one frozen :class:`kiroclaw.AddonEvent` (``event``); the older
# ``addon``/``previous``/``scope``/``enabled`` arguments stay for implementations that take them. Called
# after the registry write (collect-all); an exception is logged and never undoes the change.


@hookspec
def addon_installed(host: Host, event: AddonEvent, addon: AddonRecord, scope: Scope) -> None:
    """Event: an add-on was installed (or reinstalled with ``--force``) and recorded.

    :param host: the :class:`kiroclaw.Host`.
    :param event: ``action="install"``, ``outcome="ok"``, ``record`` = the new record.
    :param addon: ``event.record``; :param scope: ``event.scope``.
    """


@hookspec
def addon_removed(host: Host, event: AddonEvent, addon: AddonRecord, scope: Scope) -> None:
    """Event: an add-on was removed; ``event.record`` (``addon``) is its last record."""


@hookspec
def addon_updated(host: Host, event: AddonEvent, addon: AddonRecord, previous: AddonRecord, scope: Scope) -> None:
    """Event: an add-on was updated from ``event.previous`` (``previous``) to ``event.record`` (``addon``)."""


@hookspec
def addon_toggled(host: Host, event: AddonEvent, addon: AddonRecord, scope: Scope, enabled: bool) -> None:
    """Event: an add-on was enabled (``event.action == "enable"``, ``enabled=True``) or disabled."""


@hookspec
def addon_event(host: Host, event: AddonEvent, settings: Settings) -> None:
    """Event: any add-on operation, including refusals and policy decisions (for the audit log).

    :param host: the :class:`kiroclaw.Host`.
    :param event: the :class:`kiroclaw.AddonEvent` (``action``, ``outcome``, ``scope``, ``record`` or
        ``spec``/``name``/``source``, ``reason``); ``event.as_dict()`` gives the audit log's flat fields.
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
