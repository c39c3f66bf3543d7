"""The agent runtime: each user's kiro-cli, spoken to over ACP (see ``docs/agent.md``).

Import :class:`kiroclaw.agent.runtime.AgentRuntime` from its module; this package imports nothing heavy,
so the CLI and the core stay light (the ACP SDK is imported only when an agent process starts).
"""
