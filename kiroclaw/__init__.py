"""KiroClaw: a Telegram bot that gives every user their own kiro-cli agent with add-ons they pick.

This module is the public API for plugin authors; import only from here (built-in plugins do too).
Importing it has no side effects (no plugin loading, no I/O) and imports only the exception tree; every
other name (settings, hook markers, models, the sources' toolbox, the host) is imported on first use.
"""

from typing import TYPE_CHECKING, Any

#: The distribution's version (``pyproject.toml`` reads it from here); ``kiroclaw --version`` prints it.
__version__ = "0.1.0"

from .errors import (
    AddonError,
    AgentError,
    AlreadyInstalledError,
    Confirmation,
    ConfirmationChangedError,
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
    UpdateSkippedError,
    ValidationError,
)

if TYPE_CHECKING:
    from .agent.flavors import AgentFlavor, FlavorCheck, FlavorContext, require_mode, sync_skill_folder
    from .agent.home import provision_home as provision_kiro_home
    from .archives import (
        ExtractResult,
        check_content_type,
        check_member_name,
        extract_archive,
        extract_tar_stream,
        recorded_link_target,
        sniff_format,
    )
    from .config import Settings, load_settings, plugin_settings
    from .downloader import DownloadResult, HostResolver, check_url, download, system_resolver, vet_host
    from .events import AddonEvent
    from .faults import checkpoint
    from .fingerprint import tree_fingerprint
    from .hookspecs import hookimpl, hookspec
    from .host import Host
    from .hub.routes import LocalRegistry, RegistryAnswer
    from .install import InstallRequest, InstallResult
    from .layers import Layer, LayerContext
    from .layout import addon_fingerprint
    from .models import AddonRecord, EffectiveSet, RecipeEntry, ShadowedEntry, SkillEntry
    from .policy import PolicyDecision, allow, block, note, warn
    from .risk import registry_risk
    from .sources import AddonInfo, FetchContext, Fetched, ProgressCallback, Ref, SearchHit, Source
    from .staging import ExtractLimits, StagedFile, new_subdir, remove_tree, sha256_file, verify_sha256
    from .workspaces import Scope

#: Public names imported on first use (``kiroclaw.X``), so ``import kiroclaw`` stays light: the CLI's
#: read-only commands import neither pydantic-settings nor pluggy (``docs/performance.md``).
_LAZY = {
    "AgentFlavor": "agent.flavors",
    "FlavorCheck": "agent.flavors",
    "FlavorContext": "agent.flavors",
    "require_mode": "agent.flavors",
    "sync_skill_folder": "agent.flavors",
    "provision_kiro_home": "agent.home:provision_home",
    "Settings": "config",
    "load_settings": "config",
    "plugin_settings": "config",
    "hookimpl": "hookspecs",
    "hookspec": "hookspecs",
    "Layer": "layers",
    "LayerContext": "layers",
    "AddonRecord": "models",
    "EffectiveSet": "models",
    "RecipeEntry": "models",
    "ShadowedEntry": "models",
    "SkillEntry": "models",
    "PolicyDecision": "policy",
    "allow": "policy",
    "block": "policy",
    "note": "policy",
    "warn": "policy",
    "AddonInfo": "sources",
    "FetchContext": "sources",
    "Fetched": "sources",
    "ProgressCallback": "sources",
    "Ref": "sources",
    "SearchHit": "sources",
    "Source": "sources",
    "Scope": "workspaces",
    "AddonEvent": "events",
    "DownloadResult": "downloader",
    "ExtractLimits": "staging",
    "ExtractResult": "archives",
    "Host": "host",
    "HostResolver": "downloader",
    "InstallRequest": "install",
    "InstallResult": "install",
    "LocalRegistry": "hub.routes",
    "RegistryAnswer": "hub.routes",
    "StagedFile": "staging",
    "addon_fingerprint": "layout",
    "check_content_type": "archives",
    "check_member_name": "archives",
    "recorded_link_target": "archives",
    "check_url": "downloader",
    "system_resolver": "downloader",
    "vet_host": "downloader",
    "checkpoint": "faults",
    "download": "downloader",
    "extract_archive": "archives",
    "extract_tar_stream": "archives",
    "new_subdir": "staging",
    "remove_tree": "staging",
    "sha256_file": "staging",
    "sniff_format": "archives",
    "tree_fingerprint": "fingerprint",
    "registry_risk": "risk",
    "verify_sha256": "staging",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kiroclaw' has no attribute {name!r}")
    import importlib

    module, _, attr = module.partition(":")  # "module:attribute" where the public name is an alias
    value = getattr(importlib.import_module(f".{module}", __name__), attr or name)
    globals()[name] = value
    return value


__all__ = [
    "AddonError",
    "AddonEvent",
    "AddonInfo",
    "AddonRecord",
    "AgentError",
    "AgentFlavor",
    "AlreadyInstalledError",
    "Confirmation",
    "ConfirmationChangedError",
    "ConfirmationRequired",
    "DownloadResult",
    "EffectiveSet",
    "ExtractLimits",
    "ExtractResult",
    "FetchContext",
    "Fetched",
    "FlavorCheck",
    "FlavorContext",
    "Host",
    "HostResolver",
    "InstallRequest",
    "InstallResult",
    "KiroclawError",
    "Layer",
    "LayerContext",
    "LimitExceededError",
    "LocalRegistry",
    "NotFoundError",
    "NotSupportedError",
    "PermissionDeniedError",
    "PluginConfigError",
    "PluginConflictError",
    "PluginError",
    "PluginLoadError",
    "PolicyBlockedError",
    "PolicyDecision",
    "ProgressCallback",
    "QuotaExceededError",
    "RecipeEntry",
    "Ref",
    "RegistryAnswer",
    "Scope",
    "SearchHit",
    "Settings",
    "ShadowedEntry",
    "SkillEntry",
    "Source",
    "SourceError",
    "SourceUnavailableError",
    "SpecError",
    "StagedFile",
    "StorageError",
    "UnsafeContentError",
    "UpdateSkippedError",
    "ValidationError",
    "addon_fingerprint",
    "allow",
    "block",
    "check_content_type",
    "check_member_name",
    "check_url",
    "checkpoint",
    "download",
    "extract_archive",
    "extract_tar_stream",
    "hookimpl",
    "hookspec",
    "load_settings",
    "new_subdir",
    "note",
    "plugin_settings",
    "provision_kiro_home",
    "recorded_link_target",
    "registry_risk",
    "remove_tree",
    "require_mode",
    "sha256_file",
    "sniff_format",
    "sync_skill_folder",
    "system_resolver",
    "tree_fingerprint",
    "verify_sha256",
    "vet_host",
    "warn",
]
