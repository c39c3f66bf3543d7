"""The ``github`` source's own settings: ``GITHUB_BASE_URL``, ``GITHUB_TOKEN``, ``GIT_TIMEOUT_SECONDS``."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class GitHubSettings(BaseSettings):
    """Read once when the source is registered (``kiroclaw.plugin_settings``).

    :ivar base_url: ``GITHUB_BASE_URL``: where ``org/repo`` is cloned from (``https://github.com``, a GitHub
        Enterprise host or a ``file://`` folder of bare repositories).
    :ivar token: ``GITHUB_TOKEN``: sent as an HTTP header scoped to ``base_url`` only.
    :ivar timeout_seconds: ``GIT_TIMEOUT_SECONDS``: wall-clock budget of one git operation, in seconds.
    """

    model_config = SettingsConfigDict(
        env_prefix="GITHUB_", env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    base_url: str = "https://github.com"
    token: SecretStr | None = None
    timeout_seconds: float = Field(120.0, gt=0, validation_alias="GIT_TIMEOUT_SECONDS")
