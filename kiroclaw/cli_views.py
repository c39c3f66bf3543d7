"""``kiroclaw skills``, ``recipes`` and ``plugins``: what a user's agent gets and what is loaded (read-only views)."""

from __future__ import annotations

import click

from .cli_addons import _dump, _host, json_option
from .workspaces import Scope

# --- effective set -------------------------------------------------------------------------------


def _effective(user: str, what: str, as_json: bool) -> None:
    from .host import Host

    scope = Scope.user(user)
    host = Host.for_reading()  # a read: no built-in plugin code
    assert scope.user_id is not None
    effective = host.effective_set(scope.user_id)
    entries = effective.skills if what == "skills" else effective.recipes
    shadowed = effective.shadowed_skills if what == "skills" else effective.shadowed_recipes
    if as_json:
        visible = []
        for entry in entries:
            item = {
                "name": entry.name,
                "qualified_name": entry.qualified_name,
                "description": entry.description,
                "layer": entry.layer,
                "addon": entry.addon,
                "path": str(entry.path),
            }
            if what == "recipes":
                item["title"] = getattr(entry, "title", "")
            visible.append(item)
        hidden = [
            {
                "name": s.name,
                "qualified_name": s.qualified_name,
                "layer": s.layer,
                "addon": s.addon,
                "path": str(s.path),
                "shadowed_by": s.shadowed_by,
                "shadowed_by_layer": s.shadowed_by_layer,
            }
            for s in shadowed
        ]
        _dump({what: visible, "shadowed": hidden})
        return
    if not entries:
        click.echo(f"no {what} for {scope.label}")
    for entry in entries:
        origin = f"{entry.layer}" + (f", {entry.addon}" if entry.addon else "")
        click.echo(f"{entry.qualified_name}  [{origin}]  {entry.description[:80]}")
    for s in shadowed:
        click.echo(f"shadowed: {s.qualified_name} [{s.layer}] by {s.shadowed_by} [{s.shadowed_by_layer}]")


@click.command()
@click.option("--user", "user", metavar="ID", required=True, help="A Telegram user id.")
@json_option
def skills(user: str, as_json: bool) -> None:
    """Show the skills a user's agent gets (name, layer, add-on) and what is shadowed."""
    _effective(user, "skills", as_json)


@click.command()
@click.option("--user", "user", metavar="ID", required=True, help="A Telegram user id.")
@json_option
def recipes(user: str, as_json: bool) -> None:
    """Show the recipes a user can run (id, layer, add-on) and what is shadowed."""
    _effective(user, "recipes", as_json)


@click.command()
@json_option
def plugins(as_json: bool) -> None:
    """List loaded plugins (distribution, version, hooks) and the registered sources."""
    host = _host()
    infos = host.plugin_list()
    sources = [
        {"name": s.name, "plugin": host.source_owners.get(s.name), "description": s.description}
        for s in host.sources.values()
    ]
    if as_json:
        _dump(
            {
                "plugins": [
                    {
                        "name": i.name,
                        "distribution": i.distribution,
                        "version": i.version,
                        "hooks": list(i.hooks),
                        "builtin": i.builtin,
                        "module": i.module,
                    }
                    for i in infos
                ],
                "sources": sources,
                "disabled": list(host.settings.kiroclaw_disable_plugins),
            }
        )
        return
    click.echo("plugins:")
    for i in infos:
        tag = " (built-in)" if i.builtin else ""
        click.echo(f"  {i.name}  {i.distribution} {i.version}{tag}  hooks: {', '.join(i.hooks)}")
    click.echo("sources:")
    for s in sources:
        click.echo(f"  {s['name']}  (plugin {s['plugin']})  {s['description']}")
    if host.settings.kiroclaw_disable_plugins:
        click.echo(f"disabled: {', '.join(host.settings.kiroclaw_disable_plugins)}")
