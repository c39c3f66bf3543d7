"""Test-only crash points: ``checkpoint("staged")`` kills the process with SIGKILL when asked to.

The install flow calls :func:`checkpoint` at the moments a crash is most harmful (after download,
mid-extract, staged, after the rename, mid registry write). It does nothing unless the environment
variable ``KIROCLAW_FAULT_KILL_AT`` names that point, so production behaviour is unchanged; the
reliability tests run real ``kiroclaw`` subprocesses with it set and check that ``fsck`` recovers
(security-catalogue §9, "Kill tests").

``KIROCLAW_FAULT_KILL_AT=<point>`` kills at the first hit, ``<point>@<n>`` at the n-th hit in the process
(``mid-extract@2``: after the second file was written).
"""

from __future__ import annotations

import os
import signal

ENV_VAR = "KIROCLAW_FAULT_KILL_AT"
#: The points the install flow marks, in the order they happen.
POINTS = ("after-download", "mid-extract", "staged", "after-rename", "mid-registry-write")

_hits: dict[str, int] = {}


def checkpoint(name: str) -> None:
    """Kill this process with SIGKILL if ``KIROCLAW_FAULT_KILL_AT`` selects ``name``; otherwise return.

    Costs one environment lookup when unset.
    """
    wanted = os.environ.get(ENV_VAR)
    if not wanted:
        return
    point, _, count = wanted.partition("@")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= (int(count) if count.isdigit() else 1):
        os.kill(os.getpid(), signal.SIGKILL)
