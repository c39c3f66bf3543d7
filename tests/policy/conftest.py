"""Fixtures of the policy tests: the in-process registry of tests/hub (the same fixtures, shared)."""

from tests.hub.conftest import catalog, hub, make_host

__all__ = ["catalog", "hub", "make_host"]
