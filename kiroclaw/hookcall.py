"""One way to call hooks and one way to refuse duplicate names, for every collector and event.

:func:`call_each` calls every implementation of a hook itself (newest registration first, as pluggy
does), so each result and each error is attributed to its plugin; :class:`NameTable` refuses a second
owner for a name (sources, layers, bot commands, CLI commands) naming both owners.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from .errors import KiroclawError, PluginConflictError, PluginError

if TYPE_CHECKING:
    import pluggy

    from .plugins import PluginInfo

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class HookResult:
    """One implementation's answer: the plugin's name, its distribution and the value it returned."""

    plugin: str
    distribution: str
    value: Any


def call_each(
    pm: pluggy.PluginManager,
    hook: str,
    *,
    plugins: Mapping[str, PluginInfo] | None = None,
    errors: Literal["raise", "log"] = "raise",
    what: str | None = None,
    bind: Callable[[str], Mapping[str, Any]] | None = None,
    **kwargs: Any,
) -> Iterator[HookResult]:
    """Call every implementation of ``hook`` with the keyword arguments it accepts.

    :param plugins: the loaded plugins keyed by name (``Host.plugins``), to name distributions in errors.
    :param what: what the hook does, for error messages ("register its bot commands"); default "run <hook>".
    :param bind: extra keyword arguments for one implementation, from its plugin's name (a ``register``
        callback that records who registered what).
    :param errors: ``raise``: an implementation's exception stops the loop — a :class:`KiroclawError` is
        re-raised as it is (it already speaks to the user), anything else becomes a :class:`PluginError`
        naming the plugin and its distribution, chained ``from`` the original; ``log``: the exception is
        logged with its traceback and the other implementations still run (events).
    :returns: one :class:`HookResult` per implementation that returned something other than ``None``.
    """
    hook_caller = getattr(pm.hook, hook)
    infos = plugins or {}
    for impl in reversed(hook_caller.get_hookimpls()):
        name = impl.plugin_name
        info = infos.get(name)
        dist = info.distribution if info is not None else "(inline)"
        available = {**kwargs, **bind(name)} if bind is not None else kwargs
        try:
            value = impl.function(**{k: v for k, v in available.items() if k in impl.argnames})
        except KiroclawError:
            if errors == "log":
                log.exception("plugin %s failed in %s", name, hook)
                continue
            raise
        except Exception as exc:
            if errors == "log":
                log.exception("plugin %s failed in %s", name, hook)
                continue
            raise PluginError(
                f"plugin {name!r} failed to {what or 'run ' + hook}: {type(exc).__name__}: {exc} "
                f"(distribution {dist!r})"
            ) from exc
        if value is not None:
            yield HookResult(name, dist, value)


def call_all(pm: pluggy.PluginManager, hook: str, **options: Any) -> list[HookResult]:
    """:func:`call_each` run to the end (collectors and events): the answers, in call order."""
    return list(call_each(pm, hook, **options))


class NameTable(Generic[T]):
    """Names → values with their owners; a second owner for a name is refused at registration.

    :param kind: what the names are, for messages (``source name``, ``the bot command``…).
    :param show: how a name is written in messages (default: quoted, ``'echo'``; bot commands: ``/echo``).
    """

    def __init__(self, kind: str, show: Callable[[str], str] = repr) -> None:
        self.kind = kind
        self.show = show
        self.values: dict[str, T] = {}
        self.owners: dict[str, str] = {}

    def add(self, name: str, value: T, owner: str) -> None:
        """Record ``name`` for ``owner`` (a plugin's name).

        :raises PluginConflictError: ``name`` already belongs to another registration, naming both owners.
        """
        if name in self.values:
            raise PluginConflictError(
                f"{self.kind} {self.show(name)} is registered by both plugin {self.owners[name]!r} and plugin {owner!r}"
            )
        self.values[name] = value
        self.owners[name] = owner

    def __contains__(self, name: object) -> bool:
        return name in self.values
