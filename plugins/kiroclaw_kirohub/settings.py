"""The ``kirohub`` source's own settings, all ``KIROHUB_*`` (ClawHub-v1 registry access)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class KirohubSettings(BaseSettings):
    """Read once when the source is registered (``kiroclaw.plugin_settings``).

    :ivar registry_url: ``KIROHUB_REGISTRY_URL``: the registry's API base (``https://…``) or a catalog
        folder (``file:///…``).
    :ivar site: ``KIROHUB_SITE``: a site whose ``/.well-known/clawhub.json`` names the registry (wins).
    :ivar token: ``KIROHUB_TOKEN``: sent as ``Authorization: Bearer``.
    :ivar timeout_seconds: ``KIROHUB_TIMEOUT_SECONDS``: per request attempt, in seconds.
    :ivar retries: ``KIROHUB_RETRIES``: retries of 408/429/5xx/timeouts.
    :ivar cache_ttl_seconds: ``KIROHUB_CACHE_TTL_SECONDS``: how long search and info answers are reused.
    """

    model_config = SettingsConfigDict(
        env_prefix="KIROHUB_", env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    registry_url: str = "https://clawhub.ai"
    site: str | None = None
    token: SecretStr | None = None
    timeout_seconds: float = Field(20.0, gt=0)
    retries: int = Field(3, ge=0)
    cache_ttl_seconds: float = Field(300.0, ge=0)
