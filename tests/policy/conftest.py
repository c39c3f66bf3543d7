"""Fixtures of the policy tests: the in-process registry of tests/hub, the git base of tests/acquire and
the bot harness of tests/bot (the same fixtures, shared)."""

import pytest
from kiroclaw_policy import memo

from tests.acquire.conftest import acq_host, acq_settings, git_base
from tests.bot.conftest import start_bot
from tests.hub.conftest import catalog, hub, make_host

__all__ = ["acq_host", "acq_settings", "catalog", "git_base", "hub", "make_host", "start_bot"]


@pytest.fixture(autouse=True)
def _fresh_memo() -> None:
    """Each test scans for itself: findings kept by an earlier test (memo.py) are dropped."""
    memo.forget()
