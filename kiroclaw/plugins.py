"""The plugin manager: builds a fresh pluggy manager per host and loads the ``kiroclaw`` entry points.

Built-in sources are entry points of the ``kiroclaw`` distribution and are discovered by the same code as
third-party ones (flake8/setuptools style). Only core defaults (``kiroclaw.default_plugins``) are
registered directly and cannot be disabled. Nothing here runs at import time.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginConflictError, PluginError, PluginLoadError

log = logging.getLogger(__name__)

#: Core behaviour registered directly (like pytest's essential plugins): cannot be disabled.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "kiroclaw.default_plugins.layers",
    "kiroclaw.bot.plugin",
    "kiroclaw.agent.hooks",
    "kiroclaw.audit",
    "kiroclaw.fsck",
    "kiroclaw.shared.launch",
)

ENTRY_POINT_GROUP = hookspecs.PROJECT_NAME


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin, as ``kiroclaw plugins`` reports it.

    :ivar name: entry-point name (or the module name for core defaults).
    :ivar distribution: the declaring distribution's name (``kiroclaw`` for built-ins).
    :ivar version: that distribution's version.
    :ivar hooks: names of the hooks the plugin implements, sorted.
    :ivar builtin: declared by the ``kiroclaw`` distribution itself.
    :ivar module: the plugin object's module name.
    """

    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...] = field(default_factory=tuple)
    builtin: bool = False
    module: str = ""


@dataclass(frozen=True)
class EntryPointSpec:
    """An entry point in group ``kiroclaw``, reduced to what loading needs (sortable, testable)."""

    name: str
    value: str
    distribution: str
    version: str
    entry_point: Any = None  # the importlib.metadata EntryPoint, loaded with .load()

    def load(self) -> Any:
        if self.entry_point is not None:
            return self.entry_point.load()
        module, _, attr = self.value.partition(":")
        obj: Any = importlib.import_module(module)
        for part in filter(None, attr.split(".")):
            obj = getattr(obj, part)
        return obj


def discover_entry_points(group: str = ENTRY_POINT_GROUP) -> list[EntryPointSpec]:
    """Every entry point in ``group`` from the installed distributions, sorted by (distribution, name).

    Sorting makes loading order independent of ``sys.path`` order (pluggy calls impls LIFO). Uses the
    standard library's :mod:`importlib.metadata` (pydantic imports it anyway, so it costs nothing more) and
    reads each distribution's metadata once, not once per entry point: parsing ``METADATA`` is most of the
    cost of discovery (``docs/performance.md``).
    """
    import importlib.metadata

    found: list[EntryPointSpec] = []
    identities: dict[int, tuple[str, str]] = {}
    for ep in importlib.metadata.entry_points(group=group):
        dist = ep.dist
        if dist is None:
            name, version = "?", "?"
        elif id(dist) in identities:
            name, version = identities[id(dist)]
        else:
            metadata = dist.metadata  # one parse of METADATA; dist.name and dist.version each parse it again
            name, version = metadata["Name"] or "?", metadata["Version"] or "?"
            identities[id(dist)] = name, version
        found.append(EntryPointSpec(name=ep.name, value=ep.value, distribution=name, version=version, entry_point=ep))
    # One distribution installed twice on sys.path shows up twice with identical values: keep one.
    unique = {(s.distribution, s.name, s.value): s for s in found}
    return sorted(unique.values(), key=lambda s: (s.distribution.lower(), s.name))


def new_plugin_manager() -> pluggy.PluginManager:
    """A fresh manager with KiroClaw's hookspecs and nothing registered."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def build_plugin_manager(
    *,
    disabled: Iterable[str] = (),
    entry_points: Sequence[EntryPointSpec] | None = None,
    extra_plugins: Iterable[tuple[str, object]] = (),
) -> tuple[pluggy.PluginManager, dict[str, PluginInfo]]:
    """Build a plugin manager: core defaults, then entry points in sorted order, then ``extra_plugins``.

    :param disabled: entry-point names to skip (``KIROCLAW_DISABLE_PLUGINS``); they are blocked in pluggy.
    :param entry_points: entry points to load instead of discovering the installed ones (tests).
    :param extra_plugins: ``(name, plugin object)`` pairs registered last (tests, embedding).
    :returns: the manager and the loaded plugins keyed by name.
    :raises PluginLoadError: a plugin failed to import or register (chained to the original error).
    :raises PluginConflictError: two entry points share a name.
    :raises PluginError: a plugin implements a hook that does not exist (``check_pending``).
    """
    pm = new_plugin_manager()
    infos: dict[str, PluginInfo] = {}
    blocked = {name.strip() for name in disabled if name.strip()}

    specs = list(discover_entry_points() if entry_points is None else entry_points)
    own_version = _own_version(specs) if DEFAULT_PLUGINS else ""
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        pm.register(module, name=module_name)
        infos[module_name] = _info(pm, module_name, module, "kiroclaw", own_version, builtin=True)

    seen: dict[str, EntryPointSpec] = {}
    for spec in specs:
        if spec.name in seen:
            other = seen[spec.name]
            raise PluginConflictError(
                f"two plugins are named {spec.name!r}: from distribution {other.distribution!r} "
                f"and from {spec.distribution!r}; uninstall one or disable it with KIROCLAW_DISABLE_PLUGINS"
            )
        seen[spec.name] = spec

    for spec in specs:
        if spec.name in blocked:
            pm.set_blocked(spec.name)
            log.info("plugin %s (%s) disabled by KIROCLAW_DISABLE_PLUGINS", spec.name, spec.distribution)
            continue
        try:
            plugin = spec.load()
            pm.register(plugin, name=spec.name)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginLoadError(spec.name, spec.distribution, f"{type(exc).__name__}: {exc}") from exc
        infos[spec.name] = _info(
            pm, spec.name, plugin, spec.distribution, spec.version, builtin=spec.distribution == "kiroclaw"
        )

    for name, plugin in extra_plugins:
        if name in infos or pm.is_blocked(name):
            raise PluginConflictError(f"a plugin named {name!r} is already registered")
        pm.register(plugin, name=name)
        infos[name] = _info(pm, name, plugin, "(inline)", "", builtin=False)

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        plugin_name = pm.get_name(exc.plugin) or "?"
        raise PluginError(f"plugin {plugin_name!r} implements an unknown hook: {exc}") from exc
    return pm, infos


def _own_version(specs: Sequence[EntryPointSpec] = ()) -> str:
    """The ``kiroclaw`` distribution's version: from its discovered entry points, else looked up."""
    for spec in specs:
        if spec.distribution == "kiroclaw" and spec.entry_point is not None:
            return spec.version
    import importlib.metadata

    try:
        return importlib.metadata.version("kiroclaw")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _info(pm: pluggy.PluginManager, name: str, plugin: object, dist: str, version: str, *, builtin: bool) -> PluginInfo:
    callers = pm.get_hookcallers(plugin) or []
    module = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
    return PluginInfo(
        name=name,
        distribution=dist,
        version=version,
        hooks=tuple(sorted(c.name for c in callers)),
        builtin=builtin,
        module=module,
    )
