"""Agent flavors: which ACP agent program a user gets (kiro-cli, Claude, Codex, Gemini, a plugin's own).

A flavor is registered by a plugin through the ``register_agents(register)`` hook (built-ins:
``kiroclaw_agent_kiro``, ``…_claude``, ``…_codex``, ``…_gemini``) and chosen with ``AGENT``. It says

* its default command (``AGENT_COMMAND``, shell-split, overrides it);
* the per-user state it needs (a folder under the user's workspace root that becomes the agent's
  ``HOME`` and holds ``CLAUDE_CONFIG_DIR``/``CODEX_HOME``/… ) and how the user's effective skills reach
  the agent (:meth:`AgentFlavor.prepare`, from the same effective set for every flavor);
* which environment variables it may receive, by name (:attr:`AgentFlavor.env_names`, plus
  ``AGENT_ENV_PASSTHROUGH``) — never the bot's whole environment;
* which session mode makes ``PERMISSION_POLICY`` hold (:meth:`AgentFlavor.permission_mode`);
* what ``kiroclaw doctor`` checks and what an operator must set when the agent answers ``auth_required``.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import AgentError, ConfigError
from .protocol import install_fix

if TYPE_CHECKING:
    import pluggy

    from ..config import Settings
    from ..host import Host
    from ..models import EffectiveSet

#: Variables every flavor's agent receives when the bot has them (locale, terminal, temp folder, PATH).
BASE_ENV = ("PATH", "USER", "LOGNAME", "SHELL", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TMPDIR", "TZ", "NO_COLOR")


@dataclass(frozen=True)
class FlavorContext:
    """What :meth:`AgentFlavor.prepare` gets for one user's agent start.

    :ivar user_id: the Telegram user id.
    :ivar user_root: the user's workspace folder (absolute; ``WORKSPACE_BASE_PATH/<user_id>``).
    :ivar state_dir: the flavor's per-user state folder (absolute; created; the agent's ``HOME`` unless
        the flavor keeps the bot's).
    :ivar effective: the user's effective set (skills and recipes after precedence and enable flags).
    :ivar settings: the host's settings (read-only).
    :ivar env: the variables the agent will receive from the bot's environment (read-only), e.g. an
        endpoint a flavor writes into its config file.
    :ivar host: the host (for flavors that provision more, like kiro's agent file).
    """

    user_id: int
    user_root: Path
    state_dir: Path
    effective: EffectiveSet
    settings: Settings
    env: Mapping[str, str]
    host: Host


@dataclass(frozen=True)
class FlavorCheck:
    """One line of ``kiroclaw doctor``: ``ok`` or a problem with its fix."""

    ok: bool
    message: str
    fix: str = ""


@dataclass(frozen=True)
class Launch:
    """Everything to start one agent process: argv, complete environment, cwd and the skills it got."""

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: Path
    state_dir: Path
    skills: tuple[str, ...] = ()
    flavor: str = "kiro"


class AgentFlavor:
    """Base class of an agent flavor; subclass it in a plugin and register an instance.

    Class attributes a subclass sets: ``name`` (the ``AGENT`` value), ``title``, ``command`` (default
    argv), ``env_names`` (variables passed through by name), ``fixed_env`` (switches such as telemetry
    off), ``auth_hint`` (what the operator must set when the agent asks for authentication),
    ``own_home`` (``HOME`` is the per-user state folder; ``False`` keeps the bot's ``HOME``),
    ``reopen_sessions`` (``False``: never reopen a stored session).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    command: ClassVar[tuple[str, ...]] = ()
    env_names: ClassVar[tuple[str, ...]] = ()
    fixed_env: ClassVar[Mapping[str, str]] = {}
    auth_hint: ClassVar[str] = "the agent's API key"
    own_home: ClassVar[bool] = True
    #: reopen stored sessions after a restart (``session/resume``/``load`` as advertised); ``False`` for an
    #: agent whose reopening is unreliable (a new conversation starts instead).
    reopen_sessions: ClassVar[bool] = True

    def default_command(self, settings: Settings) -> list[str]:
        """The argv used when ``AGENT_COMMAND`` is not set."""
        return list(self.command)

    def state_dir(self, user_root: Path) -> Path:
        """The per-user state folder (default ``<user_root>/.agents/<name>``)."""
        return user_root / ".agents" / self.name

    def prepare(self, ctx: FlavorContext) -> dict[str, str]:
        """Write the user's agent state (config files, skills) before a start. Blocking; runs off the loop.

        :returns: variables to add to the agent's environment (state folders, config paths).
        """
        return {}

    def permission_mode(self, policy: str, modes: Sequence[str]) -> str | None:
        """The session mode that makes ``policy`` (``ask``/``deny``/``allow``) hold, among the agent's
        ``modes``; ``None`` = leave the mode alone (the agent asks for every tool by itself).

        :raises AgentError: the agent offers no mode in which the policy holds (the agent is not used).
        """
        return None

    def doctor(self, argv: Sequence[str], settings: Settings) -> list[FlavorCheck]:
        """Checks for ``kiroclaw doctor`` beyond "the command exists" (versions, keys)."""
        return []


def require_mode(flavor: str, policy: str, wanted: str, modes: Sequence[str]) -> str:
    """``wanted`` if the agent offers it, else :class:`AgentError` (a policy that cannot hold stops the start)."""
    if wanted in modes:
        return wanted
    raise AgentError(
        "the agent is not set up on this server correctly",
        detail=f"AGENT={flavor}: PERMISSION_POLICY={policy} needs the session mode {wanted!r}, "
        f"which the agent does not offer (modes: {', '.join(modes) or 'none'}); refusing to start it",
        fix=f"choose another PERMISSION_POLICY, or an agent version that offers the mode {wanted!r}",
        server=True,
    )


def sync_skill_folder(target: Path, effective: EffectiveSet) -> tuple[str, ...]:
    """Make ``target`` hold exactly one entry per skill of ``effective``: a symlink ``<name>`` to the skill's
    folder. Entries starting with ``.`` (an agent's own bundled skills) are left alone; everything else is
    removed. :returns: the skill names, sorted."""
    target.mkdir(parents=True, exist_ok=True)
    wanted = {skill.name: Path(os.path.abspath(skill.path)) for skill in effective.skills}
    for entry in target.iterdir():
        if entry.name.startswith("."):
            continue
        link = wanted.get(entry.name)
        if link is not None and entry.is_symlink() and Path(os.readlink(entry)) == link:
            continue
        if entry.is_symlink() or entry.is_file():
            entry.unlink()
        else:
            shutil.rmtree(entry)
    for name, path in wanted.items():
        entry = target / name
        if not entry.is_symlink():
            entry.symlink_to(path, target_is_directory=True)
    return tuple(sorted(wanted))


def collect_flavors(pm: pluggy.PluginManager, plugins: Mapping[str, Any] | None = None) -> dict[str, AgentFlavor]:
    """Every flavor the plugins register (``register_agents``), by name.

    :param plugins: the loaded plugins (``Host.plugins``), to name distributions in errors.
    :raises PluginConflictError: two plugins register the same name (both are named), or a flavor has none.
    """
    from ..errors import PluginConflictError
    from ..hookcall import NameTable, call_all

    table: NameTable[AgentFlavor] = NameTable("the agent flavor")

    def bind(plugin: str) -> dict[str, Any]:
        def register(flavor: AgentFlavor) -> None:
            if not flavor.name:
                raise PluginConflictError(f"plugin {plugin!r} registered an agent flavor without a name")
            table.add(flavor.name, flavor, plugin)

        return {"register": register}

    call_all(pm, "register_agents", plugins=plugins, what="register its agent flavors", bind=bind)
    return dict(table.values)


def choose_flavor(pm: pluggy.PluginManager, name: str, plugins: Mapping[str, Any] | None = None) -> AgentFlavor:
    """The flavor ``AGENT`` names. :raises ConfigError: unknown (the message lists the registered ones)."""
    flavors = collect_flavors(pm, plugins)
    if name not in flavors:
        raise ConfigError(
            f"AGENT={name!r} is not a registered agent flavor; choose one of: {', '.join(sorted(flavors)) or 'none'}"
        )
    return flavors[name]


def resolve_command(argv: Sequence[str], *, what: str, program_name: str = "kiro-cli") -> list[str]:
    """``argv`` with its program found on ``PATH`` (a bare name) or checked (a path).

    :raises AgentError: not found or not executable (the detail names ``what`` to set).
    """
    if not argv:
        raise AgentError(
            "the agent isn't set up on this server yet",
            detail=f"{what} is empty",
            fix=install_fix(program_name, what.split()[0]),
            server=True,
        )
    program = argv[0]
    if os.sep in program:
        candidate = Path(program).expanduser()
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate.absolute()), *argv[1:]]
    else:
        found = shutil.which(program)
        if found:
            return [found, *argv[1:]]
    raise AgentError(
        f"the agent program ({program_name}) is not installed on this server",
        detail=f"{what}={program!r} not found or not executable",
        fix=install_fix(program_name, what.split()[0]),
        server=True,
    )



def command_for(flavor: AgentFlavor, settings: Settings, agent_command: str | None) -> list[str]:
    """The argv to start: ``AGENT_COMMAND`` shell-split when set, else the flavor's default; resolved.

    :raises AgentError: the program is missing. :raises ConfigError: ``AGENT_COMMAND`` does not parse.
    """
    if agent_command:
        try:
            argv = shlex.split(agent_command)
        except ValueError as exc:
            raise ConfigError(f"AGENT_COMMAND does not parse as a command line: {exc}") from exc
        return resolve_command(argv, what="AGENT_COMMAND", program_name=_program(flavor))
    what = "KIRO_CLI_PATH" if flavor.name == "kiro" else "AGENT_COMMAND (unset; default)"
    return resolve_command(flavor.default_command(settings), what=what, program_name=_program(flavor))


def _program(flavor: AgentFlavor) -> str:
    return "kiro-cli" if flavor.name == "kiro" else (flavor.command[0] if flavor.command else flavor.name)


def pick_env(names: Sequence[str], source: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables among ``names`` that ``source`` (default ``os.environ``) has; a name ending in ``*``
    is a prefix (``XDG_*``)."""
    src = os.environ if source is None else source
    out: dict[str, str] = {}
    for name in names:
        if name.endswith("*"):
            out.update({k: v for k, v in src.items() if k.startswith(name[:-1])})
        elif name in src:
            out[name] = src[name]
    return out


@dataclass
class FlavorEnv:
    """The pieces of an agent's environment, in the order they are applied (later wins)."""

    passed: dict[str, str] = field(default_factory=dict)
    fixed: dict[str, str] = field(default_factory=dict)
    prepared: dict[str, str] = field(default_factory=dict)
    marker: dict[str, str] = field(default_factory=dict)

    def build(self) -> dict[str, str]:
        env: dict[str, Any] = {}
        for part in (self.passed, self.fixed, self.prepared, self.marker):
            env.update(part)
        return env
