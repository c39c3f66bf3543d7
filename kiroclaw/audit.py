"""The audit log: one JSON line per add-on operation and policy decision, rotated by size; ``kiroclaw audit``.

Every ``addon_event`` (install, update, remove, enable, disable, policy; outcome ok/refused/failed) is
appended as one JSON object to its user's log, ``WORKSPACE_BASE_PATH/.kiroclaw-audit/{user}.log`` (events
of the global scope: ``global.log``), or to the one file ``AUDIT_LOG_PATH`` names when that is set::

    {"time": "2026-01-29T10:00:00.123456Z", "user": 42, "scope": "user 42", "action": "install",
     "outcome": "ok", "spec": "weather-api", "name": "weather-api", "source": "kirohub",
     "version": "1.2.0", "commit": null, "fingerprint": "ab12…", "reason": null}

Per user, so a user's log goes where the user goes: every worker that serves the user (after the user
moved to another worker) appends to the same file, and a migration to another host copies it with the
user's folder (``docs/scaling.md``). The folder sits beside the users' folders, not inside one, so an agent
confined to its user's folder cannot rewrite its log. ``kiroclaw audit`` merges every log by time,
including the single ``WORKSPACE_BASE_PATH/audit.log`` that earlier releases wrote.

Appends and rotations happen under an inter-process file lock (``<log>.lock``), so two bot processes (two
workers during a move, a restart overlap) or the bot and a CLI call never interleave lines or rotate twice.
When a file would grow past ``AUDIT_LOG_MAX_BYTES`` it is rotated like
:class:`logging.handlers.RotatingFileHandler`: ``42.log`` → ``42.log.1`` → … → ``42.log.<AUDIT_LOG_BACKUPS>``
(the oldest is dropped).

Registered as a core default plugin (cannot be disabled); imports nothing heavy at module level.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .config import Settings
    from .events import AddonEvent

log = logging.getLogger(__name__)

#: Fields of every line, in this order (``time`` is added here; the rest come from the event).
FIELDS = (
    "time",
    "user",
    "scope",
    "action",
    "outcome",
    "spec",
    "name",
    "source",
    "version",
    "commit",
    "fingerprint",
    "reason",
)
#: Longest text kept per field, in characters (a hostile spec or reason cannot bloat the log).
MAX_FIELD_CHARS = 2000


#: Folder beside the user folders (``WORKSPACE_BASE_PATH``) holding the per-user audit logs.
AUDIT_FOLDER = ".kiroclaw-audit"


def log_path(settings: Settings) -> Path:
    """``AUDIT_LOG_PATH``, or ``WORKSPACE_BASE_PATH/audit.log`` (one file for every user: earlier releases'
    default, still read by :func:`read_all`)."""
    return settings.audit_log_path or (settings.workspace_base_path / "audit.log")


def event_log_path(settings: Settings, user: int | None) -> Path:
    """Where an event of ``user`` (``None``: the global scope) is appended: ``AUDIT_LOG_PATH`` when set,
    else ``WORKSPACE_BASE_PATH/.kiroclaw-audit/{user}.log`` or ``…/global.log``."""
    if settings.audit_log_path is not None:
        return settings.audit_log_path
    name = "global" if user is None else str(int(user))
    return settings.workspace_base_path / AUDIT_FOLDER / f"{name}.log"


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
        return value[: MAX_FIELD_CHARS - 1] + "…"
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return _clip(str(value))


def format_line(event: Mapping[str, Any], *, now: datetime | None = None) -> bytes:
    """The log line of one event: JSON (non-ASCII escaped, so control characters cannot forge lines)."""
    moment = now or datetime.now(UTC)
    record: dict[str, Any] = {"time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    for key in FIELDS[1:]:
        record[key] = _clip(event.get(key))
    return (json.dumps(record, ensure_ascii=True, separators=(",", ":")) + "\n").encode("ascii")


def append(path: Path, line: bytes, *, max_bytes: int, backups: int) -> None:
    """Append ``line`` to ``path`` under the file lock, rotating first when it would exceed ``max_bytes``.

    :raises OSError: the log cannot be written (the caller logs it; an audit failure never undoes an
        operation that already happened).
    """
    import filelock

    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(path) + ".lock", timeout=30):
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size and size + len(line) > max_bytes:
            _rotate(path, backups)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def _rotate(path: Path, backups: int) -> None:
    if backups <= 0:
        path.unlink(missing_ok=True)
        return
    oldest = path.with_name(f"{path.name}.{backups}")
    oldest.unlink(missing_ok=True)
    for index in range(backups - 1, 0, -1):
        source = path.with_name(f"{path.name}.{index}")
        if source.exists():
            os.replace(source, path.with_name(f"{path.name}.{index + 1}"))
    os.replace(path, path.with_name(f"{path.name}.1"))


@hookimpl
def addon_event(event: AddonEvent, settings: Settings) -> None:
    """Append the event to the audit log (see module docstring); failures are logged, never raised."""
    try:
        record = event.as_dict()
        user = record.get("user")
        append(
            event_log_path(settings, user if isinstance(user, int) else None),
            format_line(record),
            max_bytes=settings.audit_log_max_bytes,
            backups=settings.audit_log_backups,
        )
    except OSError as exc:
        log.error("could not write the audit log: %s", exc)


# --- reading ---------------------------------------------------------------------------------------

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """A point in time from ``2h``/``30m``/``3d``/``1w`` (ago) or an ISO 8601 date/time (UTC if naive).

    :raises click.BadParameter: neither form.
    """
    value = text.strip()
    match = _RELATIVE.match(value.lower())
    if match:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{text!r}: use 2h, 30m, 3d, 1w or an ISO date like 2026-01-29T10:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def log_files(path: Path, backups: int) -> list[Path]:
    """The log and its rotated copies that exist, oldest first."""
    rotated = [path.with_name(f"{path.name}.{index}") for index in range(max(backups, 0), 0, -1)]
    return [p for p in [*rotated, path] if p.is_file()]


def read_events(
    path: Path, backups: int, *, user: int | None = None, since: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Events from the log and its rotated copies, oldest first, filtered by user and time.

    Lines that are not JSON objects (a torn line after a crash, hand edits) are skipped and logged.
    """
    for file in log_files(path, backups):
        with file.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                try:
                    event = json.loads(raw)
                    if not isinstance(event, dict):
                        raise ValueError("not an object")
                except ValueError:
                    log.warning("%s:%d is not an audit record; skipped", file.name, number)
                    continue
                if user is not None and event.get("user") != user:
                    continue
                if since is not None:
                    try:
                        moment = datetime.fromisoformat(str(event.get("time", "")).replace("Z", "+00:00"))
                    except ValueError:
                        continue
                    if moment < since:
                        continue
                yield event


def read_all(settings: Settings, *, user: int | None = None, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Every log's events merged by time, oldest first: the per-user logs (only ``user``'s when given),
    the global scope's, and the single file of ``AUDIT_LOG_PATH`` or of earlier releases."""
    import heapq

    backups = settings.audit_log_backups
    single = log_path(settings)
    streams = [read_events(single, backups, user=user, since=since)]
    folder = settings.workspace_base_path / AUDIT_FOLDER
    if settings.audit_log_path is None and folder.is_dir():
        names = [f"{int(user)}.log"] if user is not None else sorted(p.name for p in folder.glob("*.log"))
        streams += [read_events(folder / name, backups, user=user, since=since) for name in names]
    return heapq.merge(*streams, key=lambda event: str(event.get("time", "")))


def format_event(event: Mapping[str, Any]) -> str:
    """One human-readable line: time, scope, action, outcome, name/spec, source, version, reason."""
    what = event.get("name") or event.get("spec") or "-"
    version = event.get("version") or (str(event.get("commit"))[:12] if event.get("commit") else "")
    parts = [
        str(event.get("time", ""))[:19].replace("T", " "),
        str(event.get("scope") or "-"),
        str(event.get("action") or "-"),
        str(event.get("outcome") or "-"),
        str(what),
        str(event.get("source") or ""),
        version,
    ]
    line = "  ".join(p for p in parts if p)
    if event.get("reason"):
        line += f"  ({event['reason']})"
    return "".join(c if c.isprintable() else " " for c in line)


@click.command("audit")
@click.option("--user", "user_id", type=int, default=None, help="Only this Telegram user's events.")
@click.option("--since", default=None, help="Only events after this: 2h, 30m, 3d, 1w or an ISO date/time.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored JSON records, one per line.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the last N events.")
def audit(user_id: int | None, since: str | None, as_json: bool, limit: int | None) -> None:
    """Read the audit log of add-on operations and policy decisions, oldest first."""
    from collections import deque

    from .config import load_settings

    settings = load_settings()
    moment = parse_since(since) if since else None
    events: Iterator[dict[str, Any]] | deque[dict[str, Any]] = read_all(settings, user=user_id, since=moment)
    if limit is not None:
        events = deque(events, maxlen=limit)
    count = 0
    for event in events:
        count += 1
        click.echo(json.dumps(event, ensure_ascii=False) if as_json else format_event(event))
    if count == 0 and not as_json:
        folder = settings.workspace_base_path / AUDIT_FOLDER
        where = settings.audit_log_path or folder
        click.echo("no audit records" + ("" if where.exists() else f" (no log at {where})"), err=True)
