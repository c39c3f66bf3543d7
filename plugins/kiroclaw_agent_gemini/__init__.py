"""Built-in agent flavor ``gemini``: ``gemini --acp`` (``@google/gemini-cli``).

Command: ``gemini --acp`` on ``PATH`` or ``AGENT_COMMAND``. State: ``<user>/.agents/gemini`` is both the
agent's ``HOME`` and ``GEMINI_CLI_HOME`` (Gemini keeps its files under ``$GEMINI_CLI_HOME/.gemini/``);
``.gemini/skills/`` holds one link per skill of the user's effective set. Endpoint and key:
``GEMINI_API_KEY``, ``GOOGLE_GEMINI_BASE_URL``. Usage statistics, telemetry and auto-update are off
(``.gemini/settings.json``: ``privacy.usageStatisticsEnabled``, ``telemetry.enabled``,
``general.disableAutoUpdate``; ``GEMINI_TELEMETRY_ENABLED=false``). Permissions: sessions run in mode
``default`` ("Prompts for approval"). Sessions are not reopened after a restart: 0.61's ``session/load``
answers before its history replay ends (the replay then lands in the next reply) or finds no session.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from kiroclaw import AgentFlavor, FlavorContext, hookimpl, require_mode, sync_skill_folder


class GeminiFlavor(AgentFlavor):
    name = "gemini"
    title = "Gemini CLI"
    command = ("gemini", "--acp")
    env_names = ("GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GEMINI_MODEL")
    fixed_env = {"GEMINI_TELEMETRY_ENABLED": "false", "GEMINI_CLI_NO_RELAUNCH": "true"}
    auth_hint = "GEMINI_API_KEY (and GOOGLE_GEMINI_BASE_URL for another endpoint) in the bot's environment"
    reopen_sessions = False

    def prepare(self, ctx: FlavorContext) -> dict[str, str]:
        config = ctx.state_dir / ".gemini"
        sync_skill_folder(config / "skills", ctx.effective)
        settings = {
            "privacy": {"usageStatisticsEnabled": False},
            "telemetry": {"enabled": False},
            "general": {"disableAutoUpdate": True, "disableUpdateNag": True},
            "security": {"auth": {"selectedType": "gemini-api-key"}},
            "skills": {"enabled": True},
        }
        text = json.dumps(settings, indent=2) + "\n"
        path = config / "settings.json"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        return {"GEMINI_CLI_HOME": str(ctx.state_dir)}

    def permission_mode(self, policy: str, modes: Sequence[str]) -> str | None:
        return require_mode(self.name, policy, "default", modes)


@hookimpl
def register_agents(register) -> None:  # type: ignore[no-untyped-def]
    register(GeminiFlavor())
