"""CLI commands for add-ons and what they give each user: ``addon …``, ``skills``, ``recipes``, ``plugins``.

The same operations as the bot's ``/addon`` commands, over the same :class:`~kiroclaw.addons.AddonManager`.
Every add-on command takes ``--user ID`` or ``--global``; ``--json`` prints machine output on stdout.
Expected errors print one line on stderr and exit 1 (see :func:`kiroclaw.cli.main`). This module imports
only the core: never aiogram, the ACP SDK or aiohttp (a test checks ``sys.modules``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Coroutine
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from .errors import ConfirmationRequired, KiroclawError, SpecError, ValidationError, detail_line
from .workspaces import Scope

T = TypeVar("T")


def _host() -> Any:
    from .host import Host

    return Host.for_cli()


def _list_records(scope: Scope) -> tuple[Path, list[Any]]:
    """The scope's root and its registry records sorted by name, read without a host: ``addon list`` loads
    no plugin code (the same read as :meth:`AddonManager.list`). A plain registry is read with the standard
    library (:mod:`kiroclaw.registry_read`); anything it does not vouch for goes through the models, which
    report or repair a corrupt file."""
    from .registry_read import read_listing
    from .storage_paths import storage_roots
    from .workspaces import ScopePaths, scope_root

    workspace, global_root = storage_roots()  # not load_settings(): pydantic-settings is slow to import
    paths = ScopePaths(scope_root(workspace, global_root, scope))
    records: list[Any] | None = read_listing(paths.registry_file)
    if records is None:
        from .registry import load_registry

        records = list(load_registry(paths).addons)
    return paths.root, sorted(records, key=lambda r: r.name)


def _folder_missing(root: Path, record: Any) -> bool:
    """``True`` when a listed add-on's folder (or standalone recipe file) is gone from disk."""
    target = root / record.path
    return not (target.exists() or target.is_symlink())


def _run(factory: Callable[[], Coroutine[Any, Any, T]], host: Any) -> T:
    import asyncio  # here, not at the top: ``addon list`` needs no event loop

    async def main() -> T:
        try:
            return await factory()
        finally:
            await host.aclose()

    return asyncio.run(main())


def _scope(user: str | None, global_: bool) -> Scope:
    if global_ and user is not None:
        raise click.UsageError("give either --user ID or --global, not both")
    if global_:
        return Scope.global_()
    if user is None:
        raise click.UsageError("say whose add-ons: --user ID or --global")
    return Scope.user(user)


def _dump(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value).__name__)


def scope_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--user ID`` / ``--global`` options."""
    func = click.option("--global", "global_", is_flag=True, help="The global scope (every user inherits it).")(func)
    func = click.option("--user", "user", metavar="ID", help="A Telegram user id.")(func)
    return func


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")(func)


def record_json(record: Any) -> dict[str, Any]:
    """The ``addon list`` shape of one record (plus ``path``, ``origin`` and ``skipped``); ``risk`` is
    ``"suspicious"`` or ``null``, the flag kept from install time (:func:`kiroclaw.risk.record_risk`)."""
    from .risk import record_risk

    risk, reasons = record_risk(record)
    return {
        "name": record.name,
        "version": record.version,
        "source": record.source,
        "spec": record.spec,
        "kind": record.kind,
        "enabled": record.enabled,
        "skills": list(record.skills),
        "recipes": list(record.recipes),
        "installed_at": record.installed_at.isoformat(),
        "updated_at": record.updated_at.isoformat() if record.updated_at else None,
        "path": record.path,
        "origin": dict(record.origin),
        "pinned": record.pinned,
        "fingerprint": record.fingerprint,
        "size_bytes": record.size_bytes,
        "skipped": list(record.skipped),
        "warnings": list(record.warnings),
        "risk": risk,
        "risk_reasons": list(reasons),
    }


#: Shown with a refusal or question of the install policy: what changes it.
POLICY_HINT = "the install policy's verdicts are set per rule by the POLICY_RULES setting (rule=block|warn|note|off)"


def _from_policy(exc: KiroclawError) -> bool:
    from .policy import is_policy_refusal

    return is_policy_refusal(exc.code, exc.user_message)


def _error_json(spec: str, exc: KiroclawError) -> dict[str, Any]:
    data: dict[str, Any] = {
        "spec": spec,
        "ok": False,
        "error": exc.code,
        "message": exc.user_message,
    }
    detail = detail_line(exc)
    if detail:
        data["detail"] = detail
    if exc.fix:
        data["fix"] = exc.fix
    if _from_policy(exc):
        data["hint"] = POLICY_HINT
    if isinstance(exc, ValidationError) and exc.problems:
        data["problems"] = exc.problems
    if isinstance(exc, ConfirmationRequired):
        data["reasons"] = exc.reasons
        data["inspected"] = asdict(exc.inspected)
    return data


def _spec_failed(spec: str, exc: KiroclawError, as_json: bool) -> dict[str, Any]:
    """Print one spec's failure (headline, the source's detail — all of it and the policy's findings with
    ``-v``, the operator's fix, the traceback with ``--debug`` — and the policy hint) and return its JSON entry."""
    if not as_json:
        from .cli import explain

        click.echo(f"error: {spec}: {exc.user_message}", err=True)
        explain(exc)
        if _from_policy(exc):
            click.echo(f"  {POLICY_HINT}", err=True)
    return _error_json(spec, exc)


def _finish(outcomes: list[dict[str, Any]], as_json: bool) -> None:
    """End a multi-spec command: the ``results`` JSON, and exit 1 when any spec failed."""
    if as_json:
        _dump({"results": outcomes})
    if any(not o["ok"] for o in outcomes):
        sys.exit(1)


def _describe(record: Any) -> str:
    version = f" {record.version}" if record.version else ""
    contents = []
    if record.skills:
        contents.append(f"{len(record.skills)} skill{'s' if len(record.skills) != 1 else ''}")
    if record.recipes:
        contents.append(f"{len(record.recipes)} recipe{'s' if len(record.recipes) != 1 else ''}")
    state = "" if record.enabled else " [disabled]"
    from .risk import icon, record_risk

    risk, reasons = record_risk(record)
    flag = f" {icon(risk)}installed although: {'; '.join(reasons)}" if risk else ""
    return (
        f"{record.name}{version} ({record.kind}, {', '.join(contents) or 'empty'}, from {record.source}){state}{flag}"
    )


# --- addon group ---------------------------------------------------------------------------------


@click.group()
def addon() -> None:
    """Install, list, update, enable, disable and remove add-ons of a user or the global scope."""


@addon.command()
@click.argument("specs", nargs=-1, required=True)
@scope_options
@click.option("--version", "version", metavar="V", help="Install this exact version/tag/commit (pins it).")
@click.option("--force", is_flag=True, help="Replace an add-on that is already installed.")
@click.option("--yes", "assume_yes", is_flag=True, help="Confirm policy warnings and registry flags up front.")
@click.option(
    "--progress/--no-progress",
    "show_progress",
    default=None,
    help="Progress lines on stderr (default: when stderr is a terminal and without --json).",
)
@click.option(
    "--list",
    "list_only",
    is_flag=True,
    help="Show the skills, recipes and what is left out (and why); install nothing.",
)
@click.option("--skill", "skills", metavar="NAME", multiple=True, help="Install only this skill (repeatable).")
@json_option
def install(
    specs: tuple[str, ...],
    user: str | None,
    global_: bool,
    version: str | None,
    force: bool,
    assume_yes: bool,
    show_progress: bool | None,
    list_only: bool,
    skills: tuple[str, ...],
    as_json: bool,
) -> None:
    """Install one or more add-ons: SPEC is a folder (./dir), org/repo, a URL or a registry name.

    Each spec is reported on its own; one failure does not undo the others; the exit status is 1 if any
    failed. With --list nothing is installed: each spec's skills, recipes and left-out items are shown.
    """
    scope = _scope(user, global_)
    host = _host()
    if list_only:
        _list_specs(host, specs, scope, as_json)
        return
    if show_progress is None:
        show_progress = not as_json and sys.stderr.isatty()

    def progress(stage: str, detail: str | None = None) -> None:
        if show_progress:
            click.echo(f"  {stage}" + (f": {detail}" if detail else ""), err=True)

    async def run_all() -> list[dict[str, Any]]:
        outcomes: list[dict[str, Any]] = []
        for spec in specs:
            if show_progress:
                click.echo(f"installing {spec} into {scope.label}", err=True)
            request = host.addons.request(
                scope,
                version=version,
                force=force,
                assume_yes=assume_yes,
                progress=progress,
                only=list(skills) or None,
            )
            try:
                try:
                    result = await host.addons.install(spec, request)
                except ConfirmationRequired as asked:
                    # an interactive confirmation is bound to what the prompt showed (asked.inspected)
                    if as_json or not sys.stdin.isatty() or not _ask(asked):
                        raise
                    result = await host.addons.install(spec, replace(request, confirmed=asked.inspected))
            except KiroclawError as exc:
                outcomes.append(_spec_failed(spec, exc, as_json))
                continue
            record = result.record
            verb = "reinstalled" if result.replaced else "installed"
            outcomes.append(
                {
                    "spec": spec,
                    "ok": True,
                    "error": None,
                    "message": f"{verb} {_describe(record)} for {scope.label}",
                    "addon": record_json(record),
                    "replaced": result.replaced.name if result.replaced else None,
                    "warnings": result.warnings,
                    "skipped": result.skipped,
                }
            )
            if not as_json:
                click.echo(f"{verb} {_describe(record)} for {scope.label}")
                for line in result.skipped:
                    click.echo(f"  left out: {line}")
                for line in result.warnings:
                    click.echo(f"  warning: {line}")
        return outcomes

    _finish(_run(run_all, host), as_json)


def discovery_json(spec: str, found: Any) -> dict[str, Any]:
    """The ``--list --json`` shape of one spec: kind, skills (name, path, description, notes), recipes
    (id, path) and left-out items (path, name, reason)."""
    return {
        "spec": spec,
        "ok": True,
        "kind": found.kind,
        "skills": [
            {"name": s.name, "path": s.path, "description": s.description, "notes": list(s.notes)} for s in found.skills
        ],
        "recipes": [{"id": r.id, "path": r.path} for r in found.recipes],
        "left_out": [{"path": i.path, "name": i.name, "reason": i.reason} for i in found.left_out],
    }


def _list_specs(host: Any, specs: tuple[str, ...], scope: Scope, as_json: bool) -> None:
    async def run_all() -> list[dict[str, Any]]:
        outcomes: list[dict[str, Any]] = []
        for spec in specs:
            try:
                found = await host.addons.inspect(spec, scope)
            except KiroclawError as exc:
                outcomes.append(_spec_failed(spec, exc, as_json))
                continue
            outcomes.append(discovery_json(spec, found))
            if not as_json:
                click.echo(f"{spec}: {len(found.skills)} skills, {len(found.recipes)} recipes (nothing installed)")
                for skill in found.skills:
                    click.echo(f"  skill  {skill.name}  ({skill.path or '.'})")
                    for note in skill.notes:
                        click.echo(f"         note: {note}")
                for recipe in found.recipes:
                    click.echo(f"  recipe {recipe.id}  ({recipe.path})")
                for item in found.left_out:
                    click.echo(f"  left out: {item.line()}")
        return outcomes

    _finish(_run(run_all, host), as_json)


@addon.command()
@click.argument("name")
@scope_options
@click.option("--yes", "assume_yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def remove(name: str, user: str | None, global_: bool, assume_yes: bool, as_json: bool) -> None:
    """Remove an installed add-on (a skill, or a whole package such as org/repo).

    Asks for confirmation in a terminal; without a terminal on stdin, --yes is required.
    """
    scope = _scope(user, global_)
    host = _host()
    record = host.addons.get(name, scope)
    if not assume_yes:
        if not sys.stdin.isatty():
            raise SpecError("removing needs confirmation: add --yes (stdin is not a terminal)")
        click.confirm(f"remove {_describe(record)} from {scope.label}?", abort=True, err=True)
    removed = _run(lambda: host.addons.remove(name, scope), host)
    if as_json:
        _dump({"removed": record_json(removed)})
    else:
        click.echo(f"removed {removed.name} from {scope.label}")


@addon.command()
@click.argument("name")
@scope_options
@json_option
def info(name: str, user: str | None, global_: bool, as_json: bool) -> None:
    """Show an installed add-on, or what its source knows about a name that is not installed."""
    scope = _scope(user, global_)
    host = _host()
    found = _run(lambda: host.addons.info(name, scope), host)
    from .models import AddonRecord

    if isinstance(found, AddonRecord):
        if as_json:
            _dump({"installed": True, "addon": record_json(found)})
            return
        click.echo(_describe(found))
        from .cli_market import echo_fields

        echo_fields(record_json(found))
        return
    data = {
        "name": found.name,
        "source": found.source,
        "description": found.description,
        "latest_version": found.latest_version,
        "versions": list(found.versions),
        "owner": found.owner,
        "homepage": found.homepage,
        "moderation": dict(found.moderation),
        "version": found.version,
        "changelog": found.changelog,
        "published_at": found.published_at.isoformat() if found.published_at else None,
        "security": found.security,
        "downloads": found.downloads,
        "stars": found.stars,
        "risk": found.risk,
        "risk_reasons": list(found.risk_reasons),
        "files": [dict(f) for f in found.files],
    }
    if as_json:
        _dump({"installed": False, "addon": data})
        return
    from .cli_market import echo_info

    echo_info(found)


def _toggle(name: str, user: str | None, global_: bool, as_json: bool, enabled: bool) -> None:
    scope = _scope(user, global_)
    host = _host()
    record, changed = _run(lambda: host.addons.set_enabled(name, scope, enabled), host)
    word = "enabled" if enabled else "disabled"
    if as_json:
        _dump({"addon": record_json(record), "changed": changed})
    elif changed:
        click.echo(f"{word} {record.name} for {scope.label}")
    else:
        click.echo(f"{record.name} is already {word} for {scope.label}; nothing changed")


@addon.command()
@click.argument("name")
@scope_options
@json_option
def enable(name: str, user: str | None, global_: bool, as_json: bool) -> None:
    """Enable an add-on: its skills and recipes are visible again."""
    _toggle(name, user, global_, as_json, True)


@addon.command()
@click.argument("name")
@scope_options
@json_option
def disable(name: str, user: str | None, global_: bool, as_json: bool) -> None:
    """Disable an add-on: it stays installed but its skills and recipes are hidden."""
    _toggle(name, user, global_, as_json, False)


@addon.command(name="list")
@scope_options
@json_option
def list_(user: str | None, global_: bool, as_json: bool) -> None:
    """List the add-ons of a user or of the global scope."""
    scope = _scope(user, global_)
    root, records = _list_records(scope)
    if as_json:
        _dump({"addons": [{**record_json(r), "missing": _folder_missing(root, r)} for r in records]})
        return
    if not records:
        click.echo(f"no add-ons in {scope.label}")
        return
    for record in records:
        line = _describe(record)
        if _folder_missing(root, record):
            line += f" [folder missing: {record.path}; run 'kiroclaw fsck --repair']"
        click.echo(line)


@addon.command()
@click.argument("name", required=False)
@scope_options
@click.option("--force", is_flag=True, help="Overwrite local edits.")
@click.option("--yes", "assume_yes", is_flag=True, help="Confirm policy warnings and registry flags up front.")
@json_option
def update(name: str | None, user: str | None, global_: bool, force: bool, assume_yes: bool, as_json: bool) -> None:
    """Update one add-on, or all of them: pinned ones are skipped, local edits are kept unless --force."""
    scope = _scope(user, global_)
    host = _host()
    results = _run(lambda: host.addons.update(name, scope, force=force, assume_yes=assume_yes), host)
    if as_json:
        _dump({"results": [_update_json(r) for r in results]})
    elif not results:
        click.echo(f"no add-ons in {scope.label}")
    else:
        for result in results:
            click.echo(f"{result.status:>11}  {result.message}")
            for reason in result.reasons:
                click.echo(f"{'':>11}    {reason}")
            _explain_result(result)
            flag = "--global" if scope.kind == "global" else f"--user {scope.user_id}"
            if result.status == "confirm":
                click.echo(f"{'':>11}    to accept: kiroclaw addon update {result.name} {flag} --yes")
            if result.status == "pinned" and result.new:
                move = f"kiroclaw addon install {result.name}@{result.new} --force {flag}"
                click.echo(f"{'':>11}    to move: {move}")
    if any(r.status in {"failed", "confirm"} for r in results):
        sys.exit(1)


def _explain_result(result: Any) -> None:
    """Under a failed update: the source's whole detail with ``-v``, and the operator's fix."""
    from .cli import OUTPUT

    if OUTPUT["verbose"] and result.detail:
        for line in result.detail.strip().splitlines():
            click.echo(f"{'':>11}    detail: {line}")
    if result.fix:
        click.echo(f"{'':>11}    fix: {result.fix}")


def _update_json(result: Any) -> dict[str, Any]:
    """One ``addon update --json`` result: the :class:`UpdateResult` fields (``inspected`` as a dict);
    ``inspected``, ``detail``, ``fix`` and ``server`` only where they are set (``confirm``, ``failed``)."""
    data = dict(result.__dict__)
    inspected = data.pop("inspected")
    if inspected is not None:  # added for ``confirm`` results only; the other fields keep their shape
        data["inspected"] = asdict(inspected)
    for key in ("detail", "fix"):  # added for ``failed`` results that have them
        if data[key] is None:
            del data[key]
    if not data["server"]:  # added for ``failed`` results the server's set-up caused
        del data["server"]
    return data


def _ask(asked: Any) -> bool:
    """Show a confirmation's reasons on the terminal and ask; True when the user accepts."""
    click.echo(f"warning: {asked.user_message}", err=True)
    for reason in asked.reasons:
        click.echo(f"  - {reason}", err=True)
    return click.confirm("install anyway?", default=False, err=True)


@addon.command()
@click.argument("query")
@click.option("--source", "source", metavar="NAME", help="Search only this source.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option("--user", "user", metavar="ID", help="Also say which hits this user has installed.")
@json_option
def search(query: str, source: str | None, limit: int, user: str | None, as_json: bool) -> None:
    """Search the sources that can search (e.g. the KiroHub registry): downloads, stars and the registry's
    risk per hit (⚠️ suspicious, ⛔ blocked); with --user, what that user already has."""
    from .cli_market import echo_hits, hit_json

    host = _host()
    hits = _run(lambda: host.addons.search(query, source=source, limit=limit), host)
    mine = {r.name: r for r in _list_records(Scope.user(user))[1]} if user is not None else None
    if as_json:
        _dump({"hits": [hit_json(hit, mine) for hit in hits]})
        return
    echo_hits(hits, mine, user)
