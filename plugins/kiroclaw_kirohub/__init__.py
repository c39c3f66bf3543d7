"""Built-in plugin ``kirohub``: the registry source for ClawHub-v1-compatible registries.

Registers :class:`~kiroclaw_kirohub.source.KirohubSource`, which claims bare registry names
(``weather-api``, ``weather-api@2.1.0``, ``@owner/weather-api``). Importing this module does not import
aiohttp; the source imports it when it first talks to a registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kiroclaw import hookimpl

if TYPE_CHECKING:
    from kiroclaw import Settings, Source


@hookimpl
def register_sources(register: Callable[[Source], None], settings: Settings) -> None:
    from .source import KirohubSource

    register(KirohubSource(settings))
