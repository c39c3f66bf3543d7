"""Settings of the agent runtime beyond the core's (``AGENT``, ``AGENT_COMMAND``, …): read from the
environment and ``.env`` like :class:`kiroclaw.config.Settings`, by the same names, case-insensitively."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class AgentSettings(BaseSettings):
    """Which ACP agent each user gets and how a turn is bounded. Units are in the names."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False)

    agent: str = Field("kiro", description="agent flavor: kiro, claude, codex, gemini or a plugin's name")
    agent_command: str | None = Field(
        None, description="argv of the agent program, shell-split; overrides the flavor's default command"
    )
    agent_env_passthrough: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="extra environment variable names the agent receives (comma-separated; values are never logged)",
    )
    agent_turn_timeout_seconds: float = Field(
        0.0, ge=0, description="longest turn before it is cancelled and the agent restarted; 0 = no limit"
    )
    permission_timeout_seconds: float = Field(
        300.0, gt=0, description="PERMISSION_POLICY=ask: how long a tool permission waits for the user; then reject"
    )

    @field_validator("agent_env_passthrough", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("agent")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


def load_agent_settings(**overrides: Any) -> AgentSettings:
    """Read :class:`AgentSettings` from the environment and ``.env``; keyword overrides win.

    :raises kiroclaw.errors.ConfigError: with every invalid setting named.
    """
    from pydantic import ValidationError

    from ..errors import ConfigError

    try:
        return AgentSettings(**overrides)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()]
        raise ConfigError("invalid settings: " + "; ".join(lines)) from exc
