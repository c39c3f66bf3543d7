"""Fixtures of the CLI tests: the KiroHub registry served on 127.0.0.1 (``hub``), from the hub tests, and
git repositories behind a local base URL (``git_base``), from the acquisition tests."""

from tests.acquire.conftest import git_base  # noqa: F401  (fixtures re-used from the acquisition tests)
from tests.hub.conftest import catalog, hub  # noqa: F401  (fixtures re-used from the hub tests)
