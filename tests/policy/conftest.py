"""Fixtures of the policy tests: the in-process registry of tests/hub and the git base of tests/acquire
(the same fixtures, shared)."""

from tests.acquire.conftest import acq_host, acq_settings, git_base
from tests.hub.conftest import catalog, hub, make_host

__all__ = ["acq_host", "acq_settings", "catalog", "git_base", "hub", "make_host"]
