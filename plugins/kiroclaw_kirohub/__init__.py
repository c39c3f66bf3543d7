"""Built-in plugin ``kirohub``: the registry source for ClawHub-v1-compatible registries.

Registers :class:`~kiroclaw_kirohub.source.KirohubSource` and claims bare registry names
(``weather-api``, ``weather-api@2.1.0``, ``@owner/weather-api``). Importing this module does not import
aiohttp; the source imports it when it first talks to a registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from kiroclaw import hookimpl

if TYPE_CHECKING:
    from kiroclaw.config import Settings
    from kiroclaw.sources import Source


@hookimpl
def register_sources(register: Callable[[Source], None], settings: Settings) -> None:
    from .source import KirohubSource

    register(KirohubSource(settings))


@hookimpl
def resolve_source(spec: str, sources: Mapping[str, Source]) -> str | None:
    from .source import SOURCE_NAME, claims

    if SOURCE_NAME in sources and claims(spec):
        return SOURCE_NAME
    return None
