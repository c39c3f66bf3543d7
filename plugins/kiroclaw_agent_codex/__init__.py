"""Built-in agent flavor ``codex``: ``@agentclientprotocol/codex-acp`` (drives ``codex app-server``).

Command: ``codex-acp`` on ``PATH`` or ``AGENT_COMMAND``. State: ``<user>/.agents/codex`` is the agent's
``HOME``; ``CODEX_HOME`` is its ``.codex`` folder, whose ``skills/`` holds one link per skill of the user's
effective set (Codex's own bundled skills live in ``skills/.system`` and are left alone). Endpoint and
key: ``OPENAI_API_KEY`` or ``CODEX_API_KEY``; with ``OPENAI_BASE_URL`` set, ``config.toml`` gets a
``kiroclaw`` model provider on that URL with ``wire_api = "responses"`` (Codex reads endpoints from its
config file). ``CODEX_MODEL`` picks the model. Telemetry, update checks and feedback are off in
``config.toml`` (``[analytics] enabled = false``, ``[feedback] enabled = false``, ``[otel] exporter =
"none"``, ``check_for_update_on_startup = false``). Permissions: Codex's default mode ``agent`` has a model
review approvals, so sessions run in ``read-only`` (every write or escalation asks the client) under
``ask``/``deny``, and in ``workspace-write`` under ``allow``. Codex refuses to build its sandbox helper when
``CODEX_HOME`` is under ``/tmp``: keep ``WORKSPACE_BASE_PATH`` elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from kiroclaw import AgentFlavor, FlavorContext, hookimpl, require_mode, sync_skill_folder


class CodexFlavor(AgentFlavor):
    name = "codex"
    title = "Codex (codex-acp)"
    command = ("codex-acp",)
    env_names = ("OPENAI_API_KEY", "CODEX_API_KEY", "OPENAI_BASE_URL", "CODEX_MODEL")
    fixed_env = {"CODEX_DISABLE_TELEMETRY": "1", "NO_UPDATE_NOTIFIER": "1"}
    auth_hint = "OPENAI_API_KEY or CODEX_API_KEY (and OPENAI_BASE_URL for another endpoint) in the bot's environment"

    def prepare(self, ctx: FlavorContext) -> dict[str, str]:
        home = ctx.state_dir / ".codex"
        sync_skill_folder(home / "skills", ctx.effective)
        write_config(home / "config.toml", ctx.env)
        return {"CODEX_HOME": str(home)}

    def permission_mode(self, policy: str, modes: Sequence[str]) -> str | None:
        return require_mode(self.name, policy, "workspace-write" if policy == "allow" else "read-only", modes)


def _toml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def write_config(path: Path, env: dict[str, str] | object) -> None:
    """Write the user's ``config.toml`` (only when its text changes)."""
    get = getattr(env, "get", lambda _k, _d=None: None)
    lines = ["# written by KiroClaw at every agent start; edits are lost", "check_for_update_on_startup = false"]
    model = get("CODEX_MODEL")
    base_url = get("OPENAI_BASE_URL")
    if model:
        lines.append(f"model = {_toml(model)}")
    if base_url:
        key = "OPENAI_API_KEY" if get("OPENAI_API_KEY") else "CODEX_API_KEY"
        lines += [
            'model_provider = "kiroclaw"',
            "",
            "[model_providers.kiroclaw]",
            'name = "kiroclaw"',
            f"base_url = {_toml(base_url)}",
            'wire_api = "responses"',
            f"env_key = {_toml(key)}",
        ]
    lines += [
        "",
        "[analytics]",
        "enabled = false",
        "",
        "[feedback]",
        "enabled = false",
        "",
        "[otel]",
        'exporter = "none"',
        "",
    ]
    text = "\n".join(lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


@hookimpl
def register_agents(register) -> None:  # type: ignore[no-untyped-def]
    register(CodexFlavor())
