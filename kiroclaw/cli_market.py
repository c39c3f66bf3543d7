"""What ``kiroclaw addon search`` and ``addon info`` print for a registry's add-ons: counts, the registry's
risk (⚠️ suspicious, ⛔ blocked) and, for a user, what they already have. Imported by those commands only."""

from __future__ import annotations

from typing import Any

import click

from .risk import BLOCKED, icon


def _installed(hit: Any, mine: dict[str, Any]) -> str | None:
    """``installed``, ``installed X, update to Y`` or ``installed X, pinned`` for a hit the user has."""
    have = mine.get(hit.name)
    if have is None:
        return None
    if not hit.version or not have.version or have.version == hit.version:
        return "installed"
    return f"installed {have.version}, {'pinned' if have.pinned else f'update to {hit.version}'}"


def hit_json(hit: Any, mine: dict[str, Any] | None) -> dict[str, Any]:
    """One ``addon search --json`` hit: the :class:`~kiroclaw.SearchHit` fields, and with ``--user``
    ``installed_version`` (the user's version, or ``null``)."""
    data = dict(hit.__dict__)
    data["risk_reasons"] = list(hit.risk_reasons)
    if mine is not None:
        have = mine.get(hit.name)
        data["installed_version"] = (have.version or "") if have is not None else None
    return data


def echo_hits(hits: list[Any], mine: dict[str, Any] | None, user: str | None) -> None:
    """``name version [source] ⬇ n ★ n — summary`` per hit, then its risk and the user's state."""
    if not hits:
        click.echo("no matches")
    for hit in hits:
        version = f" {hit.version}" if hit.version else ""
        summary = f" — {hit.summary}" if hit.summary else ""
        counts = "".join(
            f" {mark} {n:,}"
            for mark, n in (("⬇", hit.downloads), ("★", hit.stars))
            if n is not None and (n or mark == "⬇")
        )
        state = _installed(hit, mine) if mine is not None else None
        click.echo(f"{icon(hit.risk)}{hit.spec or hit.name}{version} [{hit.source}]{counts}{summary}")
        if hit.risk:
            why = "; ".join(hit.risk_reasons)
            tail = "cannot be installed" if hit.risk == BLOCKED else "installing asks first (--yes to accept)"
            click.echo(f"    {hit.risk}: {why}; {tail}")
        if state:
            move = ""
            if "update to" in state:
                move = f": kiroclaw addon update {hit.name} --user {user}"
            elif "pinned" in state:
                move = f": kiroclaw addon install {hit.name}@{hit.version} --force --user {user}"
            click.echo(f"    {state}{move}")


def echo_info(found: Any) -> None:
    """``addon info`` of a name that is not installed, for people: the version shown (the one asked for,
    else the latest) and what the source says of it, one ``key: value`` line each."""
    shown = found.version or found.latest_version
    latest = f"; latest {found.latest_version}" if found.latest_version and found.latest_version != shown else ""
    click.echo(
        f"{icon(found.risk)}{found.name}{f' {shown}' if shown else ''} (not installed; from {found.source}{latest})"
    )
    fields: dict[str, Any] = {
        "description": found.description,
        "owner": found.owner,
        "downloads": found.downloads,
        "stars": found.stars,
        "published": found.published_at.strftime("%Y-%m-%d %H:%M UTC") if found.published_at else None,
        "security scan": found.security,
        "risk": f"{found.risk}: {'; '.join(found.risk_reasons)}" if found.risk else None,
        "changelog": found.changelog.strip(),
        "files": [f"{f.get('path')} ({f.get('size')} bytes)" for f in found.files],
        "versions": list(found.versions),
        "homepage": found.homepage,
    }
    echo_fields(fields)


def human(value: Any) -> str:
    """One field of ``addon info`` for people: lists joined, mappings as ``key: value`` pairs, booleans as
    yes/no (never a Python repr)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(human(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')}: {human(v)}" for k, v in value.items() if v not in (None, "", [], {}))
    return str(value)


def echo_fields(data: dict[str, Any]) -> None:
    """The ``key: value`` lines of ``addon info`` (name and empty fields left out)."""
    for key, value in data.items():
        if key != "name" and value not in (None, [], {}, ""):
            click.echo(f"  {key.replace('_', ' ')}: {human(value)}")
