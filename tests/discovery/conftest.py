"""Fixtures for the discovery tests: the acquisition tests' git base (real bare repositories behind a
``file://`` ``GITHUB_BASE_URL``) and the bot tests' real bot against the fake Bot API."""

from tests.acquire.conftest import GitBase, git_base  # noqa: F401  (fixtures)
from tests.bot.conftest import start_bot  # noqa: F401  (fixture)

__all__ = ["GitBase"]
