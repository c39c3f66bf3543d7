"""What the policy reads of how agents are started: ``AGENT_SANDBOX`` (the launcher's own setting)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LauncherView(BaseSettings):
    """Read through ``kiroclaw.plugin_settings`` when the signatures are first needed in a process.

    :ivar agent_sandbox: ``AGENT_SANDBOX``: the agent launcher (``local``, ``bwrap`` or a plugin's).
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False)

    agent_sandbox: str = Field(
        "local",
        description="agent launcher: local (no sandbox) or bwrap; where the policy keeps its compiled rules "
        "between runs: beside the staging areas with bwrap, else beside its own bytecode (docs/security.md)",
    )

    @property
    def agents_confined(self) -> bool:
        """Whether no agent can write outside its user's folder: only the built-in ``bwrap`` launcher
        binds nothing of ``WORKSPACE_BASE_PATH`` but the user's folder. ``local`` (the default) runs agents
        as the bot's user, and ``AGENT_UID_BASE`` switches the uid only inside bwrap; another launcher's
        confinement is unknown here, so it counts as not confined."""
        return self.agent_sandbox.strip().lower() == "bwrap"
