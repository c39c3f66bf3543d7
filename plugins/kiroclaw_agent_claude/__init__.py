"""Built-in agent flavor ``claude``: ``@agentclientprotocol/claude-agent-acp`` (Claude Agent SDK).

Command: ``claude-agent-acp`` on ``PATH`` (``npm install -g @agentclientprotocol/claude-agent-acp``), or
``AGENT_COMMAND`` (e.g. ``node /opt/agents/claude/dist/index.js``). State: ``<user>/.agents/claude`` is the
agent's ``HOME``; ``CLAUDE_CONFIG_DIR`` is its ``.claude`` folder, whose ``skills/`` holds one link per skill
of the user's effective set (Claude Code reads ``$CLAUDE_CONFIG_DIR/skills/<name>/SKILL.md``). Endpoint and
key: ``ANTHROPIC_BASE_URL``, ``ANTHROPIC_API_KEY`` (or ``ANTHROPIC_AUTH_TOKEN``), passed through by name.
Telemetry, auto-update and error reporting are off (``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC``,
``DISABLE_AUTOUPDATER``, ``DISABLE_TELEMETRY``, ``DISABLE_ERROR_REPORTING``). Permissions: Claude's default
mode ``auto`` decides by itself, so every session is switched to ``default`` ("Always ask"), which sends
every tool to the client's ``PERMISSION_POLICY``.
"""

from __future__ import annotations

from collections.abc import Sequence

from kiroclaw import AgentFlavor, FlavorContext, hookimpl, require_mode, sync_skill_folder


class ClaudeFlavor(AgentFlavor):
    name = "claude"
    title = "Claude (claude-agent-acp)"
    command = ("claude-agent-acp",)
    env_names = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL")
    fixed_env = {
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_BUG_COMMAND": "1",
    }
    auth_hint = "ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for a gateway) in the bot's environment"

    def prepare(self, ctx: FlavorContext) -> dict[str, str]:
        config = ctx.state_dir / ".claude"
        sync_skill_folder(config / "skills", ctx.effective)
        return {"CLAUDE_CONFIG_DIR": str(config)}

    def permission_mode(self, policy: str, modes: Sequence[str]) -> str | None:
        return require_mode(self.name, policy, "default", modes)


@hookimpl
def register_agents(register) -> None:  # type: ignore[no-untyped-def]
    register(ClaudeFlavor())
