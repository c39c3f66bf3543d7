"""Fixtures for the discovery tests: the acquisition tests' git base (real bare repositories behind a
``file://`` ``GITHUB_BASE_URL``)."""

from tests.acquire.conftest import GitBase, git_base  # noqa: F401  (fixtures)

__all__ = ["GitBase"]
