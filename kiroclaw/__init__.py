"""KiroClaw: a Telegram bot that gives every user their own kiro-cli agent with add-ons they pick.

This module is the public API for plugin authors; import only from here. Importing it has no side
effects (no plugin loading, no I/O).
"""

from .agent.flavors import AgentFlavor, FlavorCheck, FlavorContext, require_mode, sync_skill_folder
from .agent.home import provision_home as provision_kiro_home
from .config import Settings, load_settings
from .errors import (
    AddonError,
    AgentError,
    AlreadyInstalledError,
    ConfirmationRequired,
    KiroclawError,
    LimitExceededError,
    NotFoundError,
    NotSupportedError,
    PermissionDeniedError,
    PluginConfigError,
    PluginConflictError,
    PluginError,
    PluginLoadError,
    PolicyBlockedError,
    QuotaExceededError,
    SourceError,
    SourceUnavailableError,
    SpecError,
    StorageError,
    UnsafeContentError,
    ValidationError,
)
from .hookspecs import hookimpl, hookspec
from .layers import Layer, LayerContext
from .models import AddonRecord, EffectiveSet, RecipeEntry, ShadowedEntry, SkillEntry
from .policy import PolicyDecision, allow, block, warn
from .sources import AddonInfo, FetchContext, Fetched, Ref, SearchHit, Source
from .workspaces import Scope

__all__ = [
    "AddonError",
    "AddonInfo",
    "AddonRecord",
    "AgentError",
    "AgentFlavor",
    "AlreadyInstalledError",
    "ConfirmationRequired",
    "EffectiveSet",
    "FetchContext",
    "Fetched",
    "FlavorCheck",
    "FlavorContext",
    "KiroclawError",
    "Layer",
    "LayerContext",
    "LimitExceededError",
    "NotFoundError",
    "NotSupportedError",
    "PermissionDeniedError",
    "PluginConfigError",
    "PluginConflictError",
    "PluginError",
    "PluginLoadError",
    "PolicyBlockedError",
    "PolicyDecision",
    "QuotaExceededError",
    "RecipeEntry",
    "Ref",
    "Scope",
    "SearchHit",
    "Settings",
    "ShadowedEntry",
    "SkillEntry",
    "Source",
    "SourceError",
    "SourceUnavailableError",
    "SpecError",
    "StorageError",
    "UnsafeContentError",
    "ValidationError",
    "allow",
    "block",
    "hookimpl",
    "hookspec",
    "load_settings",
    "provision_kiro_home",
    "require_mode",
    "sync_skill_folder",
    "warn",
]
