"""Skill-discovery layers: what ``register_skill_layers`` hook implementations register.

Order is data: a higher ``precedence`` wins; equal precedences are a start-up error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

LayerKind = Literal["standalone", "plugins"]


@dataclass(frozen=True)
class LayerContext:
    """What a layer's ``root`` callable gets to find its folder for one user.

    :ivar user_id: the Telegram user the effective set is resolved for.
    :ivar user_root: that user's scope root (``WORKSPACE_BASE_PATH/{user_id}``).
    :ivar global_root: the global scope's root.
    :ivar bundled_root: ``BUNDLED_SKILLS_PATH`` or ``None``.
    """

    user_id: int
    user_root: Path
    global_root: Path
    bundled_root: Path | None


@dataclass(frozen=True)
class Layer:
    """One precedence level of skill and recipe discovery.

    :ivar name: unique layer name (``user``, ``user-plugins``, ``global``, ``global-plugins``, ``bundled``).
    :ivar precedence: higher wins on a name clash; must be unique across all layers.
    :ivar root: ``LayerContext -> Path | None``: the layer's folder for that user, or ``None`` (absent).
        For ``standalone`` layers the folder holds ``skills/<name>/SKILL.md`` and ``recipes/**.md``
        (a ``.kiro`` folder); for ``plugins`` layers it holds one plugin package per sub-folder.
    :ivar kind: ``standalone`` or ``plugins``.
    :ivar registry: the scope root whose ``addons.json`` names the add-ons of this layer (to attribute
        entries to add-ons and drop disabled ones), or ``None`` when the layer has no registry.
    """

    name: str
    precedence: int
    root: Callable[[LayerContext], Path | None]
    kind: LayerKind = "standalone"
    registry: Callable[[LayerContext], Path | None] | None = None
