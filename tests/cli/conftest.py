"""Fixtures of the CLI tests: the KiroHub registry served on 127.0.0.1 (``hub``), from the hub tests."""

from tests.hub.conftest import catalog, hub  # noqa: F401  (fixtures re-used from the hub tests)
