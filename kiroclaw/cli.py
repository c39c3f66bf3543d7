"""The ``kiroclaw`` command line: a lazy click group.

Subcommands live in their own modules and are imported only when invoked, so ``kiroclaw addon list`` never
imports aiogram or the ACP SDK (they cost seconds and ~170 MB). Plugins add commands through the
``register_commands`` hook. Expected errors (:class:`~kiroclaw.errors.KiroclawError`) print one line to
stderr and exit 1; invalid settings (:class:`~kiroclaw.errors.ConfigError`) print one line per setting and
exit 2; anything else keeps its traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

import click

from .errors import ConfigError, KiroclawError, detail_line

if TYPE_CHECKING:
    from .hookcall import NameTable

#: subcommand → "module:attribute" of its click command, imported on first use.
LAZY_COMMANDS: dict[str, str] = {
    "addon": "kiroclaw.cli_addons:addon",
    "skills": "kiroclaw.cli_views:skills",
    "recipes": "kiroclaw.cli_views:recipes",
    "plugins": "kiroclaw.cli_views:plugins",
    "hub": "kiroclaw.hub.cli:hub",
    "ask": "kiroclaw.agent.cli:ask",
    "doctor": "kiroclaw.agent.cli:doctor",
    "run": "kiroclaw.bot.cli:run",
    "playground": "kiroclaw.playground:playground",
    "ingress": "kiroclaw.shared.ingress:ingress",
    "fsck": "kiroclaw.fsck:fsck",
    "audit": "kiroclaw.audit:audit",
}

#: one-line help shown by ``kiroclaw --help`` without importing the command's module.
LAZY_HELP: dict[str, str] = {
    "addon": "Install, list, update, enable, disable and remove add-ons of a user or the global scope.",
    "skills": "Show a user's effective skills, with provenance and what is shadowed.",
    "recipes": "Show a user's effective recipes, with provenance and what is shadowed.",
    "plugins": "List loaded plugins and registered sources.",
    "hub": "Self-hosted KiroHub registry: serve a catalog, publish skills into it.",
    "ask": "Send a prompt to a user's agent and stream the reply.",
    "doctor": "Check kiro-cli, the agent template and the workspace root.",
    "run": "Run the Telegram bot.",
    "playground": "Try the bot in a browser: the real bot against a local Bot API, with a web chat.",
    "ingress": "Receive Telegram updates and route each user's to their worker (REDIS_URL).",
    "fsck": "Check (and repair) every user's registry against the files on disk.",
    "audit": "Read the audit log of add-on operations.",
}


class _PluginGroup(click.Group):
    """The group one plugin's ``register_commands`` adds to: each command goes into the shared name table
    under that plugin's name, so a duplicate names both owners."""

    def __init__(self, plugin: str, table: NameTable[click.Command]) -> None:
        super().__init__()
        self._plugin = plugin
        self._table = table

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        self._table.add(name or cmd.name or "", cmd, self._plugin)


class KiroclawGroup(click.Group):
    """A click group that imports subcommands lazily and adds plugin commands on demand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plugins_added = False

    def _add_plugin_commands(self) -> None:
        if self._plugins_added:
            return
        self._plugins_added = True
        from .hookcall import NameTable, call_all
        from .host import Host

        host = Host.for_cli()
        table: NameTable[click.Command] = NameTable("the CLI command")
        for name in sorted(set(LAZY_COMMANDS) | set(self.commands)):
            table.add(name, click.Command(name), "kiroclaw")
        call_all(
            host.pm,
            "register_commands",
            plugins=host.plugins,
            what="register its CLI commands",
            bind=lambda plugin: {"cli": _PluginGroup(plugin, table)},
        )
        for name, command in table.values.items():
            if table.owners[name] != "kiroclaw":
                self.add_command(command, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        try:
            self._add_plugin_commands()
        except KiroclawError:
            pass  # --help must work even when plugins are broken; the real command reports it
        return sorted(set(LAZY_COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            module_name, _, attr = LAZY_COMMANDS[cmd_name].partition(":")
            if ctx.resilient_parsing or ("--help" in sys.argv and cmd_name not in sys.argv[1:2]):
                return click.Command(cmd_name, help=LAZY_HELP.get(cmd_name))
            module = importlib.import_module(module_name)
            command: click.Command = getattr(module, attr)
            return with_output_options(command)
        if cmd_name not in self.commands:
            self._add_plugin_commands()
        found = self.commands.get(cmd_name)
        return with_output_options(found) if found is not None else None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """As click's, but an unknown command names the closest one (``did you mean addon?``)."""
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            import difflib

            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise click.UsageError(f"no command {name!r}{hint} (kiroclaw --help lists them)", ctx)
        return super().resolve_command(ctx, args)


#: what ``-v/--verbose`` and ``--debug`` asked for in this process (read by :func:`main`).
OUTPUT = {"verbose": False, "debug": False}


def _set_output(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    OUTPUT["verbose"] = True
    if param.name == "debug":
        OUTPUT["debug"] = True
    import logging

    level = logging.DEBUG if OUTPUT["debug"] else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)


def _output_options(existing: set[str]) -> list[click.Option]:
    options = []
    if not existing & {"-v", "--verbose"}:
        options.append(
            click.Option(
                ["-v", "--verbose"],
                is_flag=True,
                expose_value=False,
                callback=_set_output,
                help="Show the detail behind an error (git's output, HTTP status and URL) and INFO logs.",
            )
        )
    if "--debug" not in existing:
        options.append(
            click.Option(
                ["--debug"],
                is_flag=True,
                expose_value=False,
                callback=_set_output,
                help="As --verbose, plus DEBUG logs and the traceback of an error.",
            )
        )
    return options


def with_output_options(command: click.Command) -> click.Command:
    """Give ``command`` (and a group's subcommands) ``-v/--verbose`` and ``--debug``, once.

    A command with its own ``-v``/``--verbose`` keeps it (``kiroclaw run -v`` logs every update).
    """
    if getattr(command, "_kiroclaw_output_options", False):
        return command
    existing = {opt for param in command.params for opt in getattr(param, "opts", [])}
    command.params.extend(_output_options(existing))
    command._kiroclaw_output_options = True  # type: ignore[attr-defined]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            with_output_options(sub)
    return command


@click.group(cls=KiroclawGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kiroclaw")
@click.option("-v", "--verbose", is_flag=True, expose_value=False, callback=_set_output, help="Details of errors.")
@click.option("--debug", is_flag=True, expose_value=False, callback=_set_output, help="Details and tracebacks.")
def cli() -> None:
    """KiroClaw: per-user kiro-cli agents in Telegram, with add-ons each user picks.

    Settings come from the environment and .env (WORKSPACE_BASE_PATH, MAX_ADDONS_PER_USER, ...).
    """


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI, turning expected errors into one line and exit status 1."""
    try:
        # Under standalone_mode=False click returns ctx.exit(n)'s status instead of exiting.
        status = cli.main(args=argv, prog_name="kiroclaw", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        explain(exc)
        sys.exit(2)
    except KiroclawError as exc:
        click.echo(f"error: {exc.user_message}", err=True)
        explain(exc)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    if isinstance(status, int) and not isinstance(status, bool) and status:
        sys.exit(status)


def explain(exc: KiroclawError) -> None:
    """After the one-line error, on stderr: a source's own reason (one ``detail:`` line, always), its whole
    detail (git's stderr, ``HTTP <status> <url>``) and each policy finding on its own line with ``-v``, the
    operator's ``fix:`` when the error names one, and the traceback with ``--debug``."""
    if OUTPUT["verbose"] and exc.detail:
        for line in exc.detail.strip().splitlines():
            click.echo(f"  detail: {line}", err=True)
    elif OUTPUT["verbose"] and exc.__cause__ is not None:
        click.echo(f"  detail: {type(exc.__cause__).__name__}: {exc.__cause__}", err=True)
    elif (detail := detail_line(exc)) is not None:
        click.echo(f"  detail: {detail}", err=True)
    if OUTPUT["verbose"]:
        for finding in getattr(exc, "reasons", None) or getattr(exc, "problems", None) or []:
            if finding != exc.user_message:
                click.echo(f"  finding: {finding}", err=True)
    if exc.fix:
        click.echo(f"  fix: {exc.fix}", err=True)
    if OUTPUT["debug"]:
        import traceback

        click.echo("".join(traceback.format_exception(exc)).rstrip(), err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
