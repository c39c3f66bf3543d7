"""Per-user kiro home provisioning: ``workspaces/{user_id}/.kiro/`` is that user's ``KIRO_HOME``.

Before every agent start (and from the add-on event hooks) this module

1. refreshes the admin template's files in the home (``steering/``, ``settings/cli.json``, …), so a
   change to the global template reaches every user at their next start; ``settings/cli.json`` always
   carries ``chat.disableInheritingDefaultResources: true`` (kiro-cli ≥ 2.10: a custom agent then loads
   only the resources its JSON lists, nothing from the default locations);
2. generates ``agents/<KIRO_AGENT_NAME>.json`` from the template's ``agents/agent.json`` and lists every
   skill of the user's effective set as an absolute ``skill://<skill folder>/SKILL.md`` resource.

Together these make the invariant of ARCHITECTURE §5 hold: the agent started for user U discovers exactly
U's effective set. Shadowed and disabled skills are not listed, and because default resources are not
inherited, a disabled standalone skill that still sits in ``skills/`` stays invisible. Rules from
``reference/kiro-cli.md`` §1–§3 (``KIRO_HOME`` replaces ``~/.kiro`` wholesale; relative resource paths
resolve against cwd, so paths are absolute). Files are written atomically (temp file, fsync, replace).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, StorageError
from ..workspaces import Scope

if TYPE_CHECKING:
    from ..config import Settings
    from ..host import Host
    from ..models import EffectiveSet

log = logging.getLogger(__name__)

#: The agent-JSON template inside the template folder; generated as ``agents/<KIRO_AGENT_NAME>.json``.
AGENT_TEMPLATE = "agents/agent.json"
#: Replaced by the absolute path of the user's home in template text files (``.json``, ``.md``).
HOME_PLACEHOLDER = "{{KIRO_HOME}}"
#: The kiro-cli setting (≥ 2.10) that stops custom agents inheriting the default skill locations.
NO_INHERIT_SETTING = "chat.disableInheritingDefaultResources"
#: Files the last provisioning copied from the template (so files dropped from the template are removed).
MANIFEST = ".kiroclaw-template.json"
#: Folders of the home that belong to the add-on manager or to kiro-cli itself; a template never writes there.
RESERVED_DIRS = frozenset({"skills", "plugins", "recipes", "sessions"})

_AGENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_TEXT_SUFFIXES = frozenset({".json", ".md", ".txt", ".yaml", ".yml"})


def packaged_template() -> Path:
    """The template that ships with the package (``kiroclaw/templates/kiro``)."""
    return Path(__file__).resolve().parent.parent / "templates" / "kiro"


def template_root(settings: Settings) -> Path:
    """``KIRO_CONFIG_PATH`` if set, else the packaged template."""
    return settings.kiro_config_path if settings.kiro_config_path is not None else packaged_template()


def agent_name(settings: Settings) -> str:
    """``KIRO_AGENT_NAME``, checked to be a safe file name (it becomes ``agents/<name>.json``).

    :raises ConfigError: not 1–64 characters of letters, digits, ``_``, ``.``, ``-``.
    """
    name = settings.kiro_agent_name
    if not _AGENT_NAME.match(name):
        raise ConfigError(f"KIRO_AGENT_NAME {name!r} is not a valid agent name (letters, digits, _ . -)")
    return name


@dataclass(frozen=True)
class ProvisionedHome:
    """What provisioning wrote for one user.

    :ivar home: the absolute ``KIRO_HOME`` (``…/{user_id}/.kiro``).
    :ivar agent_file: the generated ``agents/<name>.json``.
    :ivar skills: names of the skills listed in the agent file, sorted (the user's effective set).
    :ivar template_files: template files refreshed in the home, relative POSIX paths, sorted.
    """

    user_id: int
    home: Path
    agent_file: Path
    skills: tuple[str, ...]
    template_files: tuple[str, ...]


def atomic_write_text(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` atomically (temp file in the same folder, fsync, ``os.replace``).

    :returns: ``False`` when the file already held exactly ``text`` (nothing written).
    :raises StorageError: the folder is not writable or the disk is full.
    """
    data = text.encode("utf-8")
    try:
        if path.is_file() and not path.is_symlink() and path.read_bytes() == data:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise StorageError(
            "the agent's home folder cannot be written",
            detail=f"{path}: {exc}",
            fix="give the bot's OS user write access to WORKSPACE_BASE_PATH; `kiroclaw doctor` checks it",
            server=True,
        ) from exc
    return True


def provision_home(host: Host, user_id: int, effective: EffectiveSet | None = None) -> ProvisionedHome:
    """Refresh the template files and regenerate the agent file of ``user_id`` (blocking; a few ms).

    :param effective: the user's effective set if the caller already resolved it (else resolved here).
    :raises ConfigError: bad ``KIRO_AGENT_NAME``, missing template or an invalid template agent JSON.
    :raises StorageError: the home cannot be written.
    """
    home = host.paths(Scope.user(user_id)).kiro_home.resolve()
    template = template_root(host.settings)
    files = refresh_template(template, home)
    agent_file, skills = write_agent_file(host, user_id, effective)
    return ProvisionedHome(user_id, home, agent_file, skills, files)


#: The name plugins import (``kiroclaw.provision_kiro_home``): the kiro flavor's provisioning.
provision_kiro_home = provision_home


def refresh_template(template: Path, home: Path) -> tuple[str, ...]:
    """Copy every template file except the agent template into ``home``; drop files the template lost.

    Text files get ``{{KIRO_HOME}}`` replaced by ``home``. ``settings/cli.json`` is merged so that
    ``chat.disableInheritingDefaultResources`` is ``true`` whatever the template says. Symlinks and files
    under reserved folders (``skills/``, ``plugins/``, ``recipes/``, ``sessions/``) are skipped.

    :returns: the refreshed files, relative POSIX paths, sorted.
    :raises ConfigError: the template folder does not exist.
    """
    if not template.is_dir():
        raise ConfigError(
            "the kiro template folder is missing; set KIRO_CONFIG_PATH or reinstall kiroclaw", detail=str(template)
        )
    home.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for src in sorted(template.rglob("*")):
        rel = src.relative_to(template)
        key = rel.as_posix()
        if src.is_symlink() or not src.is_file() or key == AGENT_TEMPLATE or rel.parts[0] in RESERVED_DIRS:
            continue
        if any(part.startswith(".") for part in rel.parts):
            continue
        dest = home / rel
        if src.suffix in _TEXT_SUFFIXES:
            text = src.read_text(encoding="utf-8").replace(HOME_PLACEHOLDER, str(home))
            if key == "settings/cli.json":
                text = _settings_text(text)
            atomic_write_text(dest, text)
        else:
            _copy_bytes(src, dest)
        written.append(key)
    if "settings/cli.json" not in written:
        atomic_write_text(home / "settings" / "cli.json", _settings_text("{}"))
        written.append("settings/cli.json")
    _drop_stale(home, written)
    return tuple(sorted(written))


def _settings_text(text: str) -> str:
    try:
        settings = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ConfigError("the template's settings/cli.json is not valid JSON", detail=str(exc)) from exc
    if not isinstance(settings, dict):
        raise ConfigError("the template's settings/cli.json must be a JSON object")
    if settings.get(NO_INHERIT_SETTING) is False:
        log.warning("template sets %s=false; forcing true so each user sees only their skills", NO_INHERIT_SETTING)
    settings[NO_INHERIT_SETTING] = True
    return json.dumps(settings, indent=2, sort_keys=True) + "\n"


def _copy_bytes(src: Path, dest: Path) -> None:
    data = src.read_bytes()
    if dest.is_file() and not dest.is_symlink() and dest.read_bytes() == data:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, dest)


def _drop_stale(home: Path, written: list[str]) -> None:
    manifest = home / MANIFEST
    previous: list[str] = []
    try:
        loaded = json.loads(manifest.read_text(encoding="utf-8"))
        if isinstance(loaded, list):
            previous = [str(item) for item in loaded]
    except (OSError, json.JSONDecodeError):
        pass
    for key in set(previous) - set(written):
        rel = Path(key)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts or rel.parts[0] in RESERVED_DIRS:
            continue
        target = home / rel
        if target.is_file() or target.is_symlink():
            target.unlink(missing_ok=True)
    atomic_write_text(manifest, json.dumps(sorted(written), indent=1) + "\n")


def skill_resource(skill_dir: Path) -> str:
    """The ``skill://`` resource for one skill folder: absolute, pointing at its ``SKILL.md``."""
    return f"skill://{Path(os.path.abspath(skill_dir)).as_posix()}/SKILL.md"


def render_agent(template_text: str, *, name: str, home: Path, effective: EffectiveSet) -> dict[str, Any]:
    """The agent JSON for one user: the template with ``name`` set and one resource per effective skill.

    Template resources that are ``skill://`` entries are dropped (skills come only from the effective
    set); other resources (``file://`` steering, knowledge bases) are kept in order.

    :raises ConfigError: the template is not a JSON object or its ``resources`` is not a list.
    """
    try:
        agent = json.loads(template_text.replace(HOME_PLACEHOLDER, str(home)))
    except json.JSONDecodeError as exc:
        raise ConfigError("the template's agents/agent.json is not valid JSON", detail=str(exc)) from exc
    if not isinstance(agent, dict):
        raise ConfigError("the template's agents/agent.json must be a JSON object")
    resources = agent.get("resources", [])
    if not isinstance(resources, list):
        raise ConfigError("the template's agents/agent.json: resources must be a list")
    kept = [r for r in resources if not (isinstance(r, str) and r.startswith("skill://"))]
    for skill in sorted(effective.skills, key=lambda s: s.name):
        text = str(skill.path)
        if any(ch in text for ch in "*?["):
            log.warning("skill %s has glob characters in its path and is left out", skill.qualified_name)
            continue
        kept.append(skill_resource(skill.path))
    agent["name"] = name
    agent["resources"] = kept
    return agent


def write_agent_file(host: Host, user_id: int, effective: EffectiveSet | None = None) -> tuple[Path, tuple[str, ...]]:
    """Regenerate ``agents/<KIRO_AGENT_NAME>.json`` of one user from their effective set (atomic write).

    :returns: the agent file and the skill names it lists (sorted).
    :raises ConfigError: bad agent name or template.
    :raises StorageError: the home cannot be written.
    """
    name = agent_name(host.settings)
    home = host.paths(Scope.user(user_id)).kiro_home.resolve()
    template_file = template_root(host.settings) / AGENT_TEMPLATE
    try:
        template_text = template_file.read_text(encoding="utf-8")
    except OSError:
        template_text = json.dumps({"description": "KiroClaw agent", "tools": ["*"], "resources": []})
    if effective is None:
        effective = host.effective_set(user_id)
    agent = render_agent(template_text, name=name, home=home, effective=effective)
    path = home / "agents" / f"{name}.json"
    atomic_write_text(path, json.dumps(agent, indent=2) + "\n")
    return path, tuple(sorted(s.name for s in effective.skills))


def input_stamp(host: Host, user_id: int) -> tuple[tuple[str, int, int], ...]:
    """A cheap fingerprint of everything provisioning reads (stat calls only, no hashing).

    The runtime compares it with the stamp taken when a process started: when the user's or the global
    registry, a skills folder, the bundled folder or the template changed, the process is restarted so the
    agent sees the new set. Entries are ``(path, mtime_ns, size_bytes)``; a missing path is ``(path, 0, -1)``.
    """
    settings = host.settings
    user = host.paths(Scope.user(user_id))
    glob_ = host.paths(Scope.global_())
    candidates: list[Path] = [
        user.registry_file,
        user.skills_dir,
        user.plugins_dir,
        glob_.registry_file,
        glob_.skills_dir,
        glob_.plugins_dir,
    ]
    if settings.bundled_skills_path is not None:
        candidates.append(settings.bundled_skills_path)
        candidates.append(settings.bundled_skills_path / "skills")
    template = template_root(settings)
    candidates.append(template)
    if template.is_dir():
        candidates.extend(sorted(p for p in template.rglob("*") if p.is_file()))
    stamp: list[tuple[str, int, int]] = []
    for path in candidates:
        try:
            st = path.stat()
            stamp.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            stamp.append((str(path), 0, -1))
    return tuple(stamp)
