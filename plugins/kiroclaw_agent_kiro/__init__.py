"""Built-in agent flavor ``kiro`` (the default): ``kiro-cli acp`` with the user's ``KIRO_HOME``.

Command: ``KIRO_CLI_PATH acp --agent <KIRO_AGENT_NAME> --agent-engine v2`` (v3 ignores ``KIRO_HOME``).
State: ``<user>/.kiro`` is ``KIRO_HOME``; provisioning refreshes the admin template and generates the
agent file that lists every skill of the user's effective set (``docs/agent.md``). ``HOME`` stays the
bot's, because kiro-cli keeps its login under ``XDG_DATA_HOME``. Permissions: kiro-cli asks for every tool
not in its agent's ``allowedTools`` (the packaged template lists none), so the client's policy holds
without a mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kiroclaw import AgentFlavor, FlavorContext, Settings, hookimpl, provision_kiro_home


class KiroFlavor(AgentFlavor):
    name = "kiro"
    title = "Kiro CLI"
    env_names = ("HOME", "KIRO_API_KEY", "KIRO_LOG_LEVEL", "KIRO_CHAT_LOG_FILE", "KIRO_LOG_NO_COLOR", "XDG_*")
    auth_hint = "KIRO_API_KEY (or log kiro-cli in as the bot's user: kiro-cli login)"
    own_home = False

    def default_command(self, settings: Settings) -> list[str]:
        # KIRO_AGENT_NAME is checked by provisioning (prepare), which runs before the process starts.
        return [settings.kiro_cli_path, "acp", "--agent", settings.kiro_agent_name, "--agent-engine", "v2"]

    def state_dir(self, user_root: Path) -> Path:
        return user_root / ".kiro"

    def prepare(self, ctx: FlavorContext) -> dict[str, str]:
        provisioned = provision_kiro_home(ctx.host, ctx.user_id, ctx.effective)
        env = {"KIRO_HOME": str(provisioned.home)}
        if ctx.settings.kiro_api_key:
            env["KIRO_API_KEY"] = ctx.settings.kiro_api_key.get_secret_value()
        return env

    def permission_mode(self, policy: str, modes: Sequence[str]) -> str | None:
        return None


@hookimpl
def register_agents(register) -> None:  # type: ignore[no-untyped-def]
    register(KiroFlavor())
