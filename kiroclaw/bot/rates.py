"""``INSTALL_RATE_LIMIT`` text → (count, window): standard library only, so ``kiroclaw run`` can check the
setting before it imports aiogram."""

from __future__ import annotations

import re

from ..errors import ConfigError

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+\s*)?(s|sec|second|m|min|minute|h|hour|d|day)s?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
_UNIT_SECONDS |= {"d": 86400, "day": 86400}


def parse_rate(text: str) -> tuple[int, float]:
    """Parse ``INSTALL_RATE_LIMIT`` text (``10/hour``, ``3/min``, ``5/30s``…) into (count, window seconds).

    ``0/hour`` disables installs from chat.

    :raises ConfigError: the text is not ``N/unit`` with unit second|minute|hour|day.
    """
    match = _RATE.match(text or "")
    if not match:
        raise ConfigError(f"INSTALL_RATE_LIMIT {text!r} is not N/second|minute|hour|day (e.g. 10/hour)")
    count = int(match.group(1))
    multiplier = int(match.group(2)) if match.group(2) else 1
    return count, float(multiplier * _UNIT_SECONDS[match.group(3).lower()])
