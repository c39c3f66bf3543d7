"""Settings of the scale-out part: shared state on Redis, routed workers and the agent launcher.

Read from the environment and ``.env`` like :class:`kiroclaw.config.Settings` (same names, case-insensitive),
but kept in their own model so the embedded default (no ``REDIS_URL``) needs none of them.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PathList = Annotated[list[Path], NoDecode]


def _default_worker() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class ScaleSettings(BaseSettings):
    """Shared state, routing and sandbox settings. Units are in the names (``_seconds``, ``_mb``)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False)

    redis_url: str | None = Field(
        None, description="redis://host:port/db; set → shared state on Redis (buttons, rate limit, turns, routing)"
    )
    redis_pool_size: int = Field(32, ge=2, description="connections per process (a blocking pool: callers wait)")
    redis_timeout_seconds: float = Field(2.0, gt=0, description="socket and pool-wait timeout of one Redis call")
    worker_name: str = Field(
        default_factory=_default_worker,
        description="this process's name in the worker set (default: the host name and process id, host-1234)",
        json_schema_extra={"computed_default": "host-pid"},
    )
    heartbeat_interval_seconds: float = Field(5.0, gt=0, description="how often a worker renews its heartbeat")
    heartbeat_ttl_seconds: float = Field(15.0, gt=0, description="a worker whose heartbeat is older is dead")
    install_lease_seconds: float = Field(10.0, gt=0, description="lease of a user's install slot (renewed)")
    update_dedup_seconds: int = Field(86_400, ge=60, description="how long an update_id is remembered")
    stream_max_len: int = Field(100_000, ge=100, description="approximate cap of one worker's update stream")
    reclaim_idle_seconds: float = Field(20.0, gt=0, description="a pending update this old is taken over")

    agent_sandbox: str = Field(
        "local",
        description="agent launcher: local (no sandbox) or bwrap; where the policy keeps its compiled rules "
        "between runs: beside the staging areas with bwrap, else beside its own bytecode (docs/security.md)",
    )
    agent_sandbox_ro_paths: PathList = Field(
        default_factory=list, description="extra folders the sandboxed agent may read (e.g. a node_modules tree)"
    )
    agent_uid_base: int | None = Field(
        None, ge=1000, le=4_000_000_000, description="run user U's agent as uid BASE+U%50000 (bwrap, a root bot)"
    )
    agent_memory_max_mb: int | None = Field(None, ge=16, description="memory cap per agent (cgroup v2)")
    agent_pids_max: int | None = Field(
        None, ge=8, description="process cap per agent (cgroup v2); with AGENT_UID_BASE also the uid's RLIMIT_NPROC"
    )

    @field_validator("agent_sandbox_ro_paths", mode="before")
    @classmethod
    def _split_paths(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [Path(part.strip()) for part in value.replace(":", ",").split(",") if part.strip()]
        return value

    @field_validator("redis_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


def load_scale_settings(**overrides: Any) -> ScaleSettings:
    """The scale settings from the environment, ``.env`` and ``overrides``."""
    return ScaleSettings(**overrides)
