"""The settings reference, generated from the settings models: ``.env.example`` and ``docs/settings.md``.

Every pydantic-settings model of KiroClaw and of its built-in plugins (each plugin's own model, found in
the modules of the ``kiroclaw`` entry-point group that KiroClaw's own distribution declares) contributes
its fields: environment variable name (the model's ``env_prefix`` + field name, upper case), default,
unit, description and owner. ``tests/core/test_settings_doc.py`` fails when either file drifts from the
models; regenerate both with::

    python -m kiroclaw.settings_doc
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
import typing
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

#: settings whose value decides who may do what on the server; the README's Telegram section warns
#: about them and the reference marks them.
SAFETY_SETTINGS = (
    "ALLOWED_TELEGRAM_IDS",
    "ADMIN_TELEGRAM_IDS",
    "PERMISSION_POLICY",
    "LOCAL_SOURCE_ROOTS",
    "URL_ALLOW_PRIVATE_HOSTS",
    "URL_ALLOW_HTTP_HOSTS",
    "POLICY_RULES",
    "INSTALL_RATE_LIMIT",
    "WEBHOOK_SECRET",
    "AGENT_SANDBOX",
)

#: fields that a built-in plugin reads while they still live in the core model, by name prefix → plugin.
#: A field in a plugin's own settings model is owned by that plugin without this table.
_PLUGIN_PREFIXES = (
    ("policy_", "policy"),
    ("local_source_", "local"),
)

_UNITS = (("_seconds", "seconds"), ("_mb", "MiB"), ("_bytes", "bytes"))

#: order of the owners in both files; plugins not listed follow in name order.
_OWNER_ORDER = ("core", "bot", "agent", "scale", "local", "github", "url", "kirohub", "policy")
_OWNER_TITLES = {
    "core": "Storage, quotas and plugins (core)",
    "bot": "Telegram bot (`kiroclaw run`)",
    "agent": "Agent runtime (kiro-cli)",
    "scale": "Shared state, workers and the agent sandbox (`REDIS_URL`, `kiroclaw ingress`)",
}
_CORE_SECTIONS = (
    (("bot_", "allowed_telegram", "admin_telegram", "telegram_", "install_rate", "webhook_"), "bot"),
    (("kiro_", "max_processes", "idle_timeout", "agent_", "permission_", "session_db"), "agent"),
)


@dataclass(frozen=True)
class SettingDoc:
    """One setting as an operator reads it.

    :param name: the environment variable (``MAX_ADDON_SIZE_MB``).
    :param owner: ``core``, ``bot``, ``agent`` or the entry-point name of the plugin that reads it.
    :param default: the default as ``.env`` text, or ``None`` when the setting has none (unset).
    :param kind: what the value is: ``number``, ``whole number``, ``text``, ``path``, ``secret``,
        ``comma-separated list``, ``one of: a, b``, ``true/false``.
    :param unit: ``seconds``, ``MiB``, ``bytes`` or ``""``.
    """

    name: str
    owner: str
    default: str | None
    kind: str
    unit: str
    description: str

    @property
    def safety(self) -> bool:
        """Whether the setting decides who may do what (:data:`SAFETY_SETTINGS`)."""
        return self.name in SAFETY_SETTINGS


def _kind(annotation: Any) -> str:
    if annotation is SecretStr:
        return "secret"
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _kind(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return "one of: " + ", ".join(str(a) for a in typing.get_args(annotation))
    if origin is list:
        return "comma-separated list"
    if origin in (typing.Union, types.UnionType):
        return _kind(next(a for a in typing.get_args(annotation) if a is not type(None)))
    return {int: "whole number", float: "number", bool: "true/false", Path: "path"}.get(annotation, "text")


def _default_text(field: Any) -> str | None:
    """The default as an operator writes it, or ``None`` when there is none to write down (unset, a secret,
    or one computed on each machine: a field whose ``json_schema_extra`` has ``computed_default``)."""
    if isinstance(field.json_schema_extra, dict) and "computed_default" in field.json_schema_extra:
        return None
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return None
    else:
        value = field.default
    if value is None or value == [] or isinstance(value, SecretStr):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _owner(model_owner: str, field_name: str) -> str:
    if model_owner != "core":
        return model_owner
    for prefix, plugin in _PLUGIN_PREFIXES:
        if field_name.startswith(prefix):
            return plugin
    for prefixes, section in _CORE_SECTIONS:
        if field_name.startswith(prefixes):
            return section
    return "core"


def _defines_settings(module_name: str) -> bool:
    spec = importlib.util.find_spec(module_name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return False
    return "BaseSettings" in Path(spec.origin).read_text(encoding="utf-8")


def _module_names(package: str, paths: list[str]) -> list[str]:
    """Dotted names of every module under ``paths`` (sub-packages included), found on disk without
    importing anything: ``kiroclaw.shared.settings`` for ``kiroclaw/shared/settings.py``."""
    names: list[str] = []
    for root in map(Path, paths):
        for file in sorted(root.rglob("*.py")):
            parts = file.relative_to(root).with_suffix("").parts
            if "__pycache__" in parts or not all(part.isidentifier() for part in parts):
                continue
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            if parts:
                names.append(".".join((package, *parts)))
    return names


def settings_models() -> list[tuple[str, type[BaseSettings]]]:
    """(owner, model) for every settings model of KiroClaw and its built-in plugins, in a stable order.

    Owner is ``core`` for models under ``kiroclaw`` except ``kiroclaw.agent``/``kiroclaw.bot`` (``agent``,
    ``bot``), and the entry-point name for a plugin's modules.
    """
    import kiroclaw

    packages: list[tuple[str, str, list[str]]] = [("core", "kiroclaw", list(kiroclaw.__path__))]
    for ep in sorted(entry_points(group="kiroclaw"), key=lambda e: e.name):
        if ep.dist is None or ep.dist.name != "kiroclaw":
            continue  # third-party plugins document their own settings
        spec = importlib.util.find_spec(ep.module)
        paths = list(spec.submodule_search_locations or []) if spec else []
        packages.append((ep.name, ep.module, paths))
    found: list[tuple[str, type[BaseSettings]]] = []
    for owner, package, paths in packages:
        names = [package, *_module_names(package, paths)]
        for name in names:
            if not _defines_settings(name):
                continue
            module = importlib.import_module(name)
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and issubclass(value, BaseSettings)
                    and value is not BaseSettings
                    and value.__module__ == name
                ):
                    part = name.split(".")[1] if name.startswith("kiroclaw.") and "." in name else ""
                    part = "scale" if part == "shared" else part
                    found.append((part if owner == "core" and part in ("agent", "bot", "scale") else owner, value))
    return found


_IVAR = re.compile(r":ivar (\w+):\s*(.*?)(?=\n\s*:ivar |\n\s*\n|\Z)", re.S)


def _ivar_descriptions(model: type[Any]) -> dict[str, str]:
    """``:ivar name: ``VAR``: what it does`` lines of a settings model's docstring, by field name."""
    found: dict[str, str] = {}
    for name, text in _IVAR.findall(model.__doc__ or ""):
        text = " ".join(text.split())
        text = re.sub(r"^``[A-Z0-9_]+``:\s*", "", text)
        found[name] = text.replace("``", "`")
    return found


def collect() -> list[SettingDoc]:
    """Every setting, grouped by owner (:data:`_OWNER_ORDER`), in each model's field order."""
    docs: list[SettingDoc] = []
    seen: set[str] = set()
    for model_owner, model in settings_models():
        prefix = str(model.model_config.get("env_prefix") or "")
        documented = _ivar_descriptions(model)
        for field_name, field in model.model_fields.items():
            alias = field.validation_alias if isinstance(field.validation_alias, str) else None
            name = (alias or prefix + (field.alias or field_name)).upper()
            if name in seen:
                continue
            seen.add(name)
            unit = next((u for suffix, u in _UNITS if field_name.endswith(suffix)), "")
            docs.append(
                SettingDoc(
                    name=name,
                    owner=_owner(model_owner, field_name),
                    default=_default_text(field),
                    kind=_kind(field.annotation),
                    unit=unit,
                    description=field.description or documented.get(field_name, ""),
                )
            )
    order = {owner: i for i, owner in enumerate(_OWNER_ORDER)}
    return sorted(docs, key=lambda d: (order.get(d.owner, len(order)), d.owner))


def _title(owner: str) -> str:
    return _OWNER_TITLES.get(owner, f"Plugin `{owner}`")


def render_env_example(settings: list[SettingDoc]) -> str:
    """``.env.example``: a comment above each setting, ``NAME=default`` or ``# NAME=`` without a default."""
    lines = [
        "# KiroClaw settings: copy to .env and fill in. Generated by `python -m kiroclaw.settings_doc`",
        "# from the settings models; docs/settings.md explains each one. (!) marks the settings that decide",
        "# who may do what on this server: read docs/settings.md before changing them.",
    ]
    owner = None
    for doc in settings:
        if doc.owner != owner:
            owner = doc.owner
            lines += ["", f"# === {_title(owner).replace('`', '')} ==="]
        unit = f" [{doc.unit}]" if doc.unit else ""
        flag = "(!) " if doc.safety else ""
        lines.append(f"# {flag}{doc.description}{unit} ({doc.kind})")
        lines.append(f"{doc.name}={doc.default}" if doc.default is not None else f"# {doc.name}=")
    return "\n".join(lines) + "\n"


def render_markdown(settings: list[SettingDoc]) -> str:
    """``docs/settings.md``: one table per owner, and the list of settings that decide safety."""
    out = [
        "# Settings reference",
        "",
        "Every setting is an environment variable (or a line in `.env` in the folder where `kiroclaw` runs;",
        "the environment wins). Names are case-insensitive; lists are comma-separated (`ALLOWED_TELEGRAM_IDS=1,2`).",
        "This page and the repository's `.env.example` are generated from the settings models by",
        "`python -m kiroclaw.settings_doc`; a test fails when they drift. `kiroclaw run` checks every setting",
        "before it starts and names each invalid one on its own line.",
        "",
        "## Settings that decide safety",
        "",
    ]
    by_name = {d.name: d for d in settings}
    for name in SAFETY_SETTINGS:
        if name in by_name:
            out.append(f"- `{name}` ({by_name[name].default or 'unset'}): {by_name[name].description}")
    owner = None
    for doc in settings:
        if doc.owner != owner:
            owner = doc.owner
            out += [
                "",
                f"## {_title(owner)}",
                "",
                "| Setting | Default | Unit | Value | What it does |",
                "|---|---|---|---|---|",
            ]
        default = f"`{doc.default}`" if doc.default is not None else "unset"
        name = f"`{doc.name}` ⚠️" if doc.safety else f"`{doc.name}`"
        description = doc.description.replace("|", "\\|")
        out.append(f"| {name} | {default} | {doc.unit or '–'} | {doc.kind} | {description} |")
    return "\n".join(out) + "\n"


def targets(root: Path) -> dict[Path, str]:
    """The generated files under repository ``root`` and their expected text."""
    settings = collect()
    return {
        root / ".env.example": render_env_example(settings),
        root / "docs" / "settings.md": render_markdown(settings),
    }


def main(argv: list[str] | None = None) -> int:
    """Write ``.env.example`` and ``docs/settings.md`` under the repository root (or ``argv[0]``)."""
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path(__file__).resolve().parents[1]
    for path, text in targets(root).items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
