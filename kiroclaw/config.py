"""KiroClaw's settings: one typed pydantic-settings model, read once from the environment and ``.env``.

Names are the environment variable names (case-insensitive), as in the seeds where they exist
(``WORKSPACE_BASE_PATH``, ``MAX_ADDONS_PER_USER``, ``MAX_ADDON_SIZE_MB``, ``KIROHUB_REGISTRY_URL``…).
List settings take comma-separated values (``ALLOWED_TELEGRAM_IDS=1,2,3``).
The host reads settings once and passes the object on. Each plugin reads its own pydantic-settings model
with its own prefix (:func:`plugin_settings`), once, when the host registers it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .storage_paths import absolute_path

CommaList = Annotated[list[str], NoDecode]
IdList = Annotated[list[int], NoDecode]
PathList = Annotated[list[Path], NoDecode]


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def absolute_paths(model: BaseModel) -> None:
    """Make every path setting of ``model`` absolute, in place: ``~`` expanded, then joined to the current
    folder *at load time* and normalised (``./workspaces`` → ``/srv/bot/workspaces``).

    Settings are read once, so a later ``chdir`` (git runs in another folder, a test changes folder) can
    never change what a relative setting means. Covers fields holding a ``Path``, ``Path | None`` or a
    list of paths; plugins' own settings models call it from their own ``model_validator``.
    """
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Path):
            object.__setattr__(model, name, _absolute(value))
        elif isinstance(value, list) and value and all(isinstance(item, Path) for item in value):
            object.__setattr__(model, name, [_absolute(item) for item in value])


def _absolute(path: Path) -> Path:
    return absolute_path(path)


class Settings(BaseSettings):
    """The core's settings (and the sources' toolbox's). Units are in the names (``_mb``, ``_seconds``,
    ``_bytes``). A plugin's settings live in the plugin's own model (:func:`plugin_settings`); values for
    them given here by their environment variable's name (``Settings(github_base_url=…)``) are kept as
    extras and passed on to that model."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="allow", case_sensitive=False)

    # --- storage and quotas (core) ---
    workspace_base_path: Path = Field(Path("workspaces"), description="root of all per-user state")
    global_addons_path: Path | None = Field(
        None, description="where global add-ons live; default WORKSPACE_BASE_PATH/_global"
    )
    bundled_skills_path: Path | None = Field(None, description="optional admin folder of bundled skills")
    max_addons_per_user: int = Field(20, ge=0, description="add-ons one scope may hold")
    # the largest real skill collection studied (865 skills) installs 74 MiB in 5,371 files (docs/sources.md)
    max_addon_size_mb: int = Field(100, ge=1, description="largest add-on, download and unpacked, in MiB")
    max_addon_files: int = Field(10000, ge=1, description="most files (archive members) in one add-on")
    max_path_depth: int = Field(32, ge=1, description="deepest path inside an add-on, in segments")
    max_path_length: int = Field(512, ge=16, description="longest relative path inside an add-on, in chars")
    lock_timeout_seconds: float = Field(120.0, gt=0, description="wait for another process's user lock")

    # --- plugins ---
    kiroclaw_disable_plugins: CommaList = Field(default_factory=list, description="entry-point names to skip")
    local_source_roots: PathList = Field(
        default_factory=list, description="folders the bot may install local add-ons from (CLI: any)"
    )

    # --- the sources' toolbox: the downloader's address guard and timeouts (every source) ---
    url_allow_private_hosts: CommaList = Field(
        default_factory=list, description="hosts allowed although they resolve to private/loopback addresses"
    )
    url_allow_http_hosts: CommaList = Field(
        default_factory=list, description="hosts allowed over plain http:// (https:// is always allowed)"
    )
    download_connect_timeout_seconds: float = Field(10.0, gt=0, description="wait for an archive's server to accept")
    download_read_timeout_seconds: float = Field(30.0, gt=0, description="longest silence while downloading")
    download_total_timeout_seconds: float = Field(300.0, gt=0, description="longest one archive download may take")

    # --- agent runtime ---
    kiro_cli_path: str = Field("kiro-cli", description="the kiro-cli program (a name on PATH or a path)")
    kiro_config_path: Path | None = Field(None, description="admin template for each user's .kiro home")
    kiro_agent_name: str = Field("kiroclaw", description="name of the agent file written into each user's home")
    kiro_api_key: SecretStr | None = Field(None, description="passed to every agent as KIRO_API_KEY")
    max_processes: int = Field(10, ge=1, description="agent processes running at once, all users together")
    max_processes_per_user: int = Field(1, ge=1, description="agent processes one user may run at once")
    idle_timeout_seconds: float = Field(600.0, gt=0, description="an agent idle this long is stopped")
    agent_start_timeout_seconds: float = Field(60.0, gt=0, description="longest an agent may take to start")
    permission_policy: Literal["ask", "allow", "deny"] = Field(
        "ask", description="tool permissions: ask the user in chat, allow every tool, or deny every tool"
    )
    session_db_path: Path | None = Field(
        None, description="one SQLite session map for all users; default: per user, WORKSPACE/{user}/sessions.json"
    )

    # --- Telegram bot ---
    bot_token: SecretStr | None = Field(None, description="the bot's token from @BotFather (/newbot)")
    allowed_telegram_ids: IdList = Field(
        default_factory=list, description="Telegram user ids who may use the bot; empty = nobody"
    )
    admin_telegram_ids: IdList = Field(default_factory=list, description="user ids who may change global add-ons")
    telegram_api_base: str | None = Field(None, description="a local Bot API server instead of Telegram's")
    install_rate_limit: str = Field("10/hour", description="installs per user, as N/second|minute|hour|day")
    webhook_url: str | None = Field(None, description="run --webhook: the public https:// URL Telegram posts to")
    webhook_host: str = Field("127.0.0.1", description="run --webhook: the address this process listens on")
    webhook_port: int = Field(8080, description="run --webhook: the port this process listens on")
    webhook_secret: SecretStr | None = Field(None, description="run --webhook: secret Telegram sends with updates")

    # --- reliability and audit ---
    audit_log_path: Path | None = Field(
        None, description="one JSON-lines audit log for all users; default: per user, WORKSPACE/.kiroclaw-audit/"
    )
    audit_log_max_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="audit log size that starts a new file")
    audit_log_backups: int = Field(5, ge=0, description="rotated audit logs kept")
    policy_rules: CommaList = Field(
        default_factory=list,
        description="install-policy overrides rule=block|warn|note|off, e.g. native-binary=block (docs/security.md)",
    )

    @field_validator(
        "kiroclaw_disable_plugins",
        "local_source_roots",
        "url_allow_private_hosts",
        "url_allow_http_hosts",
        "allowed_telegram_ids",
        "admin_telegram_ids",
        "policy_rules",
        mode="before",
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return _split(value)

    @model_validator(mode="after")
    def _absolute_paths(self) -> Settings:
        absolute_paths(self)
        return self

    @property
    def max_addon_size_bytes(self) -> int:
        """``MAX_ADDON_SIZE_MB`` in bytes (MiB × 1024²)."""
        return self.max_addon_size_mb * 1024 * 1024

    @property
    def global_root(self) -> Path:
        """Folder of the global scope (``GLOBAL_ADDONS_PATH`` or ``WORKSPACE_BASE_PATH/_global``)."""
        return self.global_addons_path or (self.workspace_base_path / "_global")


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment and ``.env``; keyword overrides win (tests, CLI flags).

    :raises kiroclaw.errors.ConfigError: with every invalid setting named, one per line.
    """
    from pydantic import ValidationError

    from .errors import ConfigError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        from .settings_text import secret_fields, setting_problems

        lines = setting_problems(exc.errors(), secret_fields(Settings))
        raise ConfigError("invalid settings: " + "; ".join(lines), problems=lines) from exc


S = TypeVar("S", bound=BaseSettings)


def plugin_settings(model: type[S], settings: Settings) -> S:
    """A plugin's own settings: ``model`` (a pydantic-settings class with the plugin's ``env_prefix``) read
    from the environment and ``.env``, with values given to the core :class:`Settings` under the same
    environment variable names (``Settings(kirohub_registry_url=…)``, tests and embedding) taking
    precedence.

    A field's variable is ``env_prefix + name``, or its ``validation_alias`` when that is a string.

    :raises kiroclaw.errors.PluginConfigError: with every invalid variable named, one per clause.
    """
    from pydantic import ValidationError

    from .errors import PluginConfigError

    prefix = str(model.model_config.get("env_prefix") or "")
    extras = {key.lower(): value for key, value in (settings.model_extra or {}).items()}
    overrides: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else None
        variable = (alias or prefix + name).lower()
        if variable in extras:
            overrides[alias or name] = extras[variable]
    try:
        return model(**overrides)
    except ValidationError as exc:
        from .settings_text import secret_fields, setting_problems

        lines = setting_problems(exc.errors(), secret_fields(model), prefix=prefix)
        raise PluginConfigError("invalid settings: " + "; ".join(lines), problems=lines) from exc
