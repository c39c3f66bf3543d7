"""One test per hook (``test_hook_<name>``), each through a real host and an inline plugin, plus the
datasette rule: every hook has a test here and a ``## name(args)`` heading in ``docs/plugins.md`` that
repeats its exact argument names."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import kiroclaw
from kiroclaw import hookimpl
from kiroclaw.errors import ConfigError, ConfirmationRequired, PluginConflictError, PolicyBlockedError
from kiroclaw.host import Host
from kiroclaw.layers import Layer
from kiroclaw.plugins import new_plugin_manager
from kiroclaw.sources import Fetched, Ref, Source
from kiroclaw.workspaces import Scope
from tests.conftest import write_skill

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
USER = Scope.user(42)


def _hook_names() -> list[str]:
    return sorted(name for name in dir(new_plugin_manager().hook) if not name.startswith("_"))


def test_every_hook_has_a_test() -> None:
    tests = {name[len("test_hook_") :] for name in globals() if name.startswith("test_hook_")}
    missing = sorted(set(_hook_names()) - tests)
    assert not missing, f"hooks without a test_hook_<name>: {missing}"


@pytest.mark.parametrize("hook", _hook_names())
def test_every_hook_has_a_docs_heading_with_its_exact_signature(hook: str) -> None:
    argnames = getattr(new_plugin_manager().hook, hook).spec.argnames
    headings = re.findall(r"^##+ (\w+)\((.*)\)\s*$", DOCS.read_text(encoding="utf-8"), re.M)
    documented = {name: [a.strip() for a in args.split(",") if a.strip()] for name, args in headings}
    assert hook in documented, f"docs/plugins.md has no heading '## {hook}(...)'"
    assert documented[hook] == list(argnames), f"docs heading of {hook} lists {documented[hook]}, spec {argnames}"


# --- collectors ------------------------------------------------------------------------------------


class EchoSource(Source):
    """Stages a single skill named after the spec; enough to exercise the core's install flow."""

    name = "echo"
    description = "test source"

    def parse(self, spec: str) -> Ref:
        return Ref(source=self.name, spec=spec, locator=spec, name=spec)

    async def fetch(self, ref: Ref, staging_dir: Path, context) -> Fetched:
        root = write_skill(staging_dir, ref.locator)
        return Fetched(root=root, version="1.0.0", origin={"echo": ref.locator})


class EchoPlugin:
    @hookimpl
    def register_sources(self, register, settings):
        register(EchoSource())

    @hookimpl
    def resolve_source(self, spec, sources):
        return "echo" if spec.startswith("echo") else None


def test_hook_register_sources(settings) -> None:
    host = Host(settings, extra_plugins=[("echo-plugin", EchoPlugin())])
    assert isinstance(host.sources["echo"], EchoSource)
    assert host.source_owners["echo"] == "echo-plugin"

    class Duplicate:
        @hookimpl
        def register_sources(self, register):
            register(EchoSource())

    with pytest.raises(PluginConflictError, match="'echo' is registered by both"):
        Host(settings, extra_plugins=[("a", EchoPlugin()), ("b", Duplicate())])


async def test_hook_resolve_source(settings) -> None:
    """Every source states its claim and the core decides (issue: no plugin consults another): a spec
    only the echo plugin claims goes to it; one that the registry's bare-name claim also covers is an
    ambiguity error naming the explicit forms, where it used to go to whichever plugin pluggy called first."""
    host = Host(settings, extra_plugins=[("echo-plugin", EchoPlugin())])
    source, rest = host.source_for("echo+weather")
    assert (source.name, rest) == ("echo", "echo+weather")
    with pytest.raises(kiroclaw.SpecError, match=r"ambiguous.*echo:echo-weather or kirohub:echo-weather"):
        host.source_for("echo-weather")
    assert host.source_for("./some/dir")[0].name == "local"
    result = await host.addons.install("echo:echo-weather", USER)
    assert result.record.source == "echo" and result.record.path == ".kiro/skills/echo-weather"


def test_hook_register_skill_layers(settings, workspace: Path) -> None:
    bundle = workspace.parent / "team-skills"
    write_skill(bundle / "skills", "team-style")

    class TeamLayer:
        @hookimpl
        def register_skill_layers(self, register):
            register(Layer("team", 250, lambda ctx: bundle, "standalone", None))

    host = Host(settings, extra_plugins=[("team", TeamLayer())])
    assert [layer.name for layer in host.layers] == [
        "user",
        "user-plugins",
        "global",
        "team",
        "global-plugins",
        "bundled",
    ]
    effective = host.effective_set(42)
    assert [(s.name, s.layer) for s in effective.skills] == [("team-style", "team")]

    class Clash:
        @hookimpl
        def register_skill_layers(self, register):
            register(Layer("other", 300, lambda ctx: None))

    with pytest.raises(PluginConflictError, match="same precedence 300"):
        Host(settings, extra_plugins=[("clash", Clash())])


def test_hook_register_bot_commands(settings) -> None:
    app = pytest.importorskip("kiroclaw.bot.app")
    from aiogram import Router
    from aiogram.types import BotCommand

    class Weather:
        @hookimpl
        def register_bot_commands(self, register):
            register(Router(name="weather"), [BotCommand(command="weather", description="today's weather")])

    host = Host(settings, extra_plugins=[("weather", Weather())])
    collected = app.collect_routers(host)
    mine = [(plugin, router.name, [c.command for c in commands]) for plugin, router, commands in collected]
    assert ("weather", "weather", ["weather"]) in mine


def test_hook_register_commands(settings, monkeypatch) -> None:
    class Hello:
        @hookimpl
        def register_commands(self, cli):
            @cli.command()
            def hello() -> None:
                """Say hello."""
                click.echo("hello from a plugin")

    from kiroclaw import cli as cli_module

    monkeypatch.setattr(Host, "for_cli", classmethod(lambda cls: Host(settings, extra_plugins=[("hi", Hello())])))
    group = cli_module.KiroclawGroup(name="kiroclaw")
    result = CliRunner().invoke(group, ["hello"])
    assert result.exit_code == 0 and result.output == "hello from a plugin\n"


def test_hook_register_agents(settings) -> None:
    from kiroclaw import AgentFlavor, PluginConflictError
    from kiroclaw.agent.flavors import choose_flavor, collect_flavors

    class Mine(AgentFlavor):
        name = "mine"
        command = ("my-agent", "--acp")

    class Plugin:
        @hookimpl
        def register_agents(self, register):
            register(Mine())

    host = Host(settings, extra_plugins=[("mine", Plugin())])
    assert {"kiro", "claude", "codex", "gemini", "mine"} <= set(collect_flavors(host.pm))
    assert isinstance(choose_flavor(host.pm, "mine"), Mine)

    class Clash:
        @hookimpl
        def register_agents(self, register):
            register(Mine())

    clash = Host(settings, extra_plugins=[("mine", Plugin()), ("clash", Clash())])
    with pytest.raises(PluginConflictError):
        collect_flavors(clash.pm)


async def test_hook_check_addon(settings, tmp_path: Path) -> None:
    seen = []

    class Policy:
        @hookimpl
        def check_addon(self, addon, staged_path, scope, settings):
            seen.append((addon.name, (staged_path / "SKILL.md").is_file(), scope.label))
            if addon.name == "evil-skill":
                return kiroclaw.block("downloads and runs a script", rule="curl-pipe-shell", file="SKILL.md", line=3)
            if addon.name == "odd-skill":
                return [kiroclaw.allow(), kiroclaw.warn("asks for broad file access", rule="broad-access")]
            return None

    host = Host(settings, extra_plugins=[("policy-test", Policy())])
    evil = write_skill(tmp_path / "a", "evil-skill")
    with pytest.raises(PolicyBlockedError, match=r"SKILL.md:3: downloads and runs a script \[curl-pipe-shell\]"):
        await host.addons.install(str(evil), USER)
    odd = write_skill(tmp_path / "b", "odd-skill")
    with pytest.raises(ConfirmationRequired) as info:
        await host.addons.install(str(odd), USER)
    assert info.value.reasons == ["asks for broad file access [broad-access]"]
    assert host.addons.list(USER) == []
    result = await host.addons.install(str(odd), USER, assume_yes=True)
    assert result.warnings == ["confirmed: asks for broad file access [broad-access]"]
    assert seen[0] == ("evil-skill", True, "user 42")


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    @hookimpl
    def addon_installed(self, addon, scope):
        self.calls.append(("installed", addon.name, scope.label))

    @hookimpl
    def addon_removed(self, addon, scope):
        self.calls.append(("removed", addon.name, scope.label))

    @hookimpl
    def addon_updated(self, addon, previous, scope):
        self.calls.append(("updated", addon.name, previous.fingerprint != addon.fingerprint))

    @hookimpl
    def addon_toggled(self, addon, scope, enabled):
        self.calls.append(("toggled", addon.name, enabled))

    @hookimpl
    def addon_event(self, event, settings):
        # a typed, frozen AddonEvent now (it was a dict): same facts, read as attributes
        name = event.record.name if event.record is not None else event.name
        self.calls.append(("event", event.action, event.outcome, name))


class Broken:
    @hookimpl
    def addon_installed(self, addon, scope):
        raise RuntimeError("audit sink down")

    @hookimpl
    def addon_event(self, event):
        raise RuntimeError("audit sink down")


async def test_hook_addon_installed(settings, tmp_path: Path) -> None:
    recorder = Recorder()
    host = Host(settings, extra_plugins=[("rec", recorder), ("broken", Broken())])
    skill = write_skill(tmp_path, "noted-skill")
    await host.addons.install(str(skill), USER)
    assert ("installed", "noted-skill", "user 42") in recorder.calls
    # the broken plugin's exception was logged, the install stands
    assert [r.name for r in host.addons.list(USER)] == ["noted-skill"]


async def test_hook_addon_removed(settings, tmp_path: Path) -> None:
    recorder = Recorder()
    host = Host(settings, extra_plugins=[("rec", recorder)])
    await host.addons.install(str(write_skill(tmp_path, "gone-soon")), USER)
    await host.addons.remove("gone-soon", USER)
    assert recorder.calls[-2:] == [("removed", "gone-soon", "user 42"), ("event", "remove", "ok", "gone-soon")]


async def test_hook_addon_updated(settings, tmp_path: Path) -> None:
    recorder = Recorder()
    host = Host(settings, extra_plugins=[("rec", recorder)])
    skill = write_skill(tmp_path, "changing-skill", "Version one of a changing skill.")
    await host.addons.install(str(skill), USER)
    write_skill(tmp_path, "changing-skill", "Version two of a changing skill.")
    (result,) = await host.addons.update("changing-skill", USER)
    assert result.status == "updated", result.message
    assert ("updated", "changing-skill", True) in recorder.calls
    assert ("event", "update", "ok", "changing-skill") in recorder.calls


async def test_hook_addon_toggled(settings, tmp_path: Path) -> None:
    recorder = Recorder()
    host = Host(settings, extra_plugins=[("rec", recorder)])
    await host.addons.install(str(write_skill(tmp_path, "switchable")), USER)
    await host.addons.disable("switchable", USER)
    await host.addons.disable("switchable", USER)  # no change: no toggle event
    await host.addons.enable("switchable", USER)
    toggles = [c for c in recorder.calls if c[0] == "toggled"]
    assert toggles == [("toggled", "switchable", False), ("toggled", "switchable", True)]


async def test_hook_addon_event(settings, tmp_path: Path) -> None:
    recorder = Recorder()
    host = Host(settings, extra_plugins=[("rec", recorder), ("broken", Broken())])
    skill = write_skill(tmp_path, "audited")
    await host.addons.install(str(skill), USER)
    with pytest.raises(kiroclaw.AlreadyInstalledError):
        await host.addons.install(str(skill), USER)
    with pytest.raises(kiroclaw.SpecError):
        await host.addons.install("no such thing at all", USER)
    events = [c[1:] for c in recorder.calls if c[0] == "event"]
    assert events == [
        ("install", "ok", "audited"),
        ("install", "refused", "audited"),
        ("install", "refused", None),
    ]


async def test_hook_startup(settings) -> None:
    started = []

    class Warm:
        @hookimpl
        def startup(self, host):
            async def warm() -> None:
                started.append(sorted(host.sources))

            return warm()

    class Picky:
        @hookimpl
        def startup(self, host):
            raise kiroclaw.PluginConfigError("picky plugin needs PICKY_TOKEN")

    host = Host(settings, extra_plugins=[("warm", Warm())])
    await host.start()
    await host.start()  # once only
    assert started == [sorted(host.sources)]
    with pytest.raises(kiroclaw.PluginConfigError, match="PICKY_TOKEN"):
        await Host(settings, extra_plugins=[("picky", Picky())]).start()


async def test_hook_agent_launcher(settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kiroclaw.agent.runtime import AgentRuntime
    from kiroclaw.shared.launch import Launcher
    from tests.agent.conftest import make_launcher

    prepared = []

    class Recording(Launcher):
        name = "recording"

        async def prepare(self, spec, *, user_id, thread_id):  # type: ignore[no-untyped-def]
            prepared.append((user_id, thread_id, spec.argv[0]))
            return spec

    class Plugin:
        @hookimpl
        def agent_launcher(self, settings):
            return Recording() if os.environ.get("AGENT_SANDBOX") == "recording" else None

    agent_settings = settings.model_copy(update={"kiro_cli_path": str(make_launcher(tmp_path / "bin"))})
    assert type(AgentRuntime(Host(agent_settings)).launcher) is Launcher  # built-in: local
    monkeypatch.setenv("AGENT_SANDBOX", "podman")
    with pytest.raises(ConfigError, match="AGENT_SANDBOX='podman' is not a known launcher"):
        AgentRuntime(Host(agent_settings))
    monkeypatch.setenv("AGENT_SANDBOX", "recording")
    host = Host(agent_settings, extra_plugins=[("recording", Plugin())])
    runtime = AgentRuntime(host)
    try:
        result = await runtime.prompt(42, 7, "echo through the plugin launcher")
        assert result.text == "through the plugin launcher"
        assert prepared == [(42, 7, str(make_launcher(tmp_path / "bin")))]
    finally:
        await runtime.aclose()
        await host.aclose()
