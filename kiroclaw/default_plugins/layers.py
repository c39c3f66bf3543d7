"""The core's skill layers (ARCHITECTURE §5): user > user plugins > global > global plugins > bundled."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..hookspecs import hookimpl
from ..layers import Layer, LayerContext


def _user(ctx: LayerContext) -> Path:
    return ctx.user_root


def _global(ctx: LayerContext) -> Path:
    return ctx.global_root


@hookimpl
def register_skill_layers(register: Callable[[Layer], None]) -> None:
    register(Layer("user", 500, lambda c: c.user_root / ".kiro", "standalone", _user))
    register(Layer("user-plugins", 400, lambda c: c.user_root / ".kiro" / "plugins", "plugins", _user))
    register(Layer("global", 300, lambda c: c.global_root / ".kiro", "standalone", _global))
    register(Layer("global-plugins", 200, lambda c: c.global_root / ".kiro" / "plugins", "plugins", _global))
    register(Layer("bundled", 100, lambda c: c.bundled_root, "standalone", None))
