"""The Host: owns one plugin manager, the settings and the registered sources and layers.

Everything that was global in older pluggy hosts lives on a Host object instead; tests build a fresh one.
Creating a Host loads plugins and runs the registration hooks, so duplicate names fail at start, not at
first use.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

from .config import Settings, load_settings
from .errors import PluginConflictError, SourceUnavailableError, SpecError
from .hookcall import NameTable, call_all, call_each
from .layers import Layer
from .plugins import EntryPointSpec, PluginInfo, build_plugin_manager
from .sources import Source, require_no_explicit_prefix, split_explicit
from .workspaces import Scope, ScopePaths, scope_root, staging_root

if TYPE_CHECKING:
    from .addons import AddonManager
    from .models import EffectiveSet

log = logging.getLogger(__name__)

#: Sources the ``kiroclaw`` distribution declares; a missing one (not deliberately disabled) means the
#: package is not installed, so its entry points are not visible.
BUILTIN_SOURCES = ("local",)


class Host:
    """One KiroClaw host: settings + plugin manager + registered sources and layers.

    :ivar settings: the :class:`~kiroclaw.config.Settings` read once at start.
    :ivar pm: the pluggy manager (hooks: :mod:`kiroclaw.hookspecs`).
    :ivar plugins: loaded plugins keyed by name.
    :ivar sources: registered sources keyed by source name.
    :ivar layers: registered layers, highest precedence first.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        entry_points: Sequence[EntryPointSpec] | None = None,
        extra_plugins: Iterable[tuple[str, object]] = (),
    ) -> None:
        self.settings = settings if settings is not None else load_settings()
        self.pm: pluggy.PluginManager
        self.pm, self.plugins = build_plugin_manager(
            disabled=self.settings.kiroclaw_disable_plugins,
            entry_points=entry_points,
            extra_plugins=extra_plugins,
        )
        self.sources: Mapping[str, Source] = self._collect_sources()
        self.layers: tuple[Layer, ...] = self._collect_layers()
        self._started = False

    @classmethod
    def for_cli(cls) -> Host:
        """A host with settings read from the environment and ``.env`` (one per CLI invocation)."""
        return cls(load_settings())

    @classmethod
    def for_reading(cls) -> Host:
        """A host for read-only commands (``skills``, ``recipes``): the core's defaults and third-party
        plugins (which may add skill layers), without KiroClaw's own built-in plugins, whose sources and
        policy a read never needs — so their code is not loaded."""
        from .plugins import discover_entry_points

        third_party = [ep for ep in discover_entry_points() if ep.distribution != "kiroclaw"]
        return cls(load_settings(), entry_points=third_party)

    # --- registration -----------------------------------------------------------------------

    def _collect_sources(self) -> dict[str, Source]:
        table: NameTable[Source] = NameTable("source name")

        def bind(plugin: str) -> dict[str, object]:
            def register(source: Source) -> None:
                if not isinstance(source, Source) or not source.name:
                    raise PluginConflictError(f"plugin {plugin!r} registered a source without a name")
                table.add(source.name, source, plugin)

            return {"register": register}

        call_all(
            self.pm,
            "register_sources",
            plugins=self.plugins,
            what="register its sources",
            bind=bind,
            settings=self.settings,
        )
        self.source_owners: dict[str, str] = table.owners
        return dict(sorted(table.values.items()))

    def _collect_layers(self) -> tuple[Layer, ...]:
        names: NameTable[Layer] = NameTable("skill layer")
        by_precedence: dict[int, str] = {}

        def bind(plugin: str) -> dict[str, object]:
            def register(layer: Layer) -> None:
                if layer.precedence in by_precedence:
                    raise PluginConflictError(
                        f"skill layers {by_precedence[layer.precedence]!r} and {layer.name!r} "
                        f"have the same precedence {layer.precedence}"
                    )
                names.add(layer.name, layer, plugin)
                by_precedence[layer.precedence] = layer.name

            return {"register": register}

        call_all(self.pm, "register_skill_layers", plugins=self.plugins, what="register its skill layers", bind=bind)
        return tuple(sorted(names.values.values(), key=lambda layer: -layer.precedence))

    async def start(self) -> None:
        """Run the ``startup`` hooks once (awaiting any awaitables they return).

        :raises kiroclaw.PluginConfigError: a plugin rejected its configuration.
        """
        if self._started:
            return
        for result in call_each(self.pm, "startup", plugins=self.plugins, what="start", host=self):
            if inspect.isawaitable(result.value):
                await result.value
        self._started = True

    async def aclose(self) -> None:
        """Release resources held by sources (HTTP sessions, caches)."""
        for source in self.sources.values():
            try:
                await source.aclose()
            except Exception:  # a plugin's shutdown bug must not stop the others
                log.exception("source %s failed to close", source.name)

    # --- lookups ----------------------------------------------------------------------------

    def source_for(self, spec: str) -> tuple[Source, str]:
        """Pick the source for a spec: explicit ``name:rest`` first; else every source's claim
        (:meth:`Source.claims` and the ``resolve_source`` hooks), and exactly one may claim it.

        :returns: the source and the spec text it should parse (without the ``name:`` prefix).
        :raises SpecError: empty/unsafe spec, no source claims it, or two do (the message names the
            explicit forms, ``github:…``/``url:…``).
        :raises SourceUnavailableError: the named source is not loaded (unknown or disabled).
        """
        text = require_no_explicit_prefix(spec)
        explicit = split_explicit(text)
        if explicit is not None:
            name, rest = explicit
            return self.source(name), rest
        claims = {source.name for source in self.sources.values() if source.claims(text)}
        for result in call_each(self.pm, "resolve_source", plugins=self.plugins, spec=text, sources=self.sources):
            if isinstance(result.value, str) and result.value in self.sources:
                claims.add(result.value)
        if len(claims) > 1:
            forms = " or ".join(f"{name}:{text}" for name in sorted(claims))
            owners = ", ".join(sorted(claims))
            raise SpecError(f"{text!r} is ambiguous: the sources {owners} all claim it; write {forms}")
        if not claims:
            disabled = ", ".join(self.settings.kiroclaw_disable_plugins)
            raise SpecError(
                f"no source understands {text!r}; try a registry name (weather-api), org/repo, "
                "an https:// archive URL or ./folder" + (f" (disabled on this server: {disabled})" if disabled else "")
            )
        (name,) = claims
        return self.source(name), text

    def source(self, name: str) -> Source:
        """The source registered as ``name``.

        :raises SourceUnavailableError: unknown, or disabled via ``KIROCLAW_DISABLE_PLUGINS``.
        """
        try:
            return self.sources[name]
        except KeyError:
            if name in self.settings.kiroclaw_disable_plugins:
                raise SourceUnavailableError(
                    f"the {name!r} source is disabled on this server (KIROCLAW_DISABLE_PLUGINS)"
                ) from None
            if name in BUILTIN_SOURCES:
                raise SourceUnavailableError(
                    f"the built-in {name!r} source is not installed; install kiroclaw (pip install -e .)"
                ) from None
            known = ", ".join(self.sources) or "none"
            raise SourceUnavailableError(f"unknown source {name!r} (loaded sources: {known})") from None

    def paths(self, scope: Scope) -> ScopePaths:
        """The on-disk paths of ``scope``."""
        base, global_root = self.settings.workspace_base_path, self.settings.global_root
        return ScopePaths(scope_root(base, global_root, scope), staging_root(base, global_root, scope))

    @property
    def workspace_root(self) -> Path:
        return self.settings.workspace_base_path

    @cached_property
    def addons(self) -> AddonManager:
        """The host's :class:`~kiroclaw.addons.AddonManager` (created on first use)."""
        from .addons import AddonManager

        return AddonManager(self)

    def effective_set(self, user_id: int) -> EffectiveSet:
        """The effective skill and recipe set of one user (see :mod:`kiroclaw.resolver`)."""
        from .resolver import resolve

        return resolve(self, user_id)

    def plugin_list(self) -> list[PluginInfo]:
        """Loaded plugins sorted by name."""
        return sorted(self.plugins.values(), key=lambda info: info.name)
