#!/usr/bin/env bash
# Real ACP agents for tests/agent/real (claude, codex, gemini), pinned, into .ci/node/ (ignored by git),
# plus Node 22 from the npm registry (the agents need Node >= 22; Debian's may be older). Idempotent:
# a stamp file holding the pinned list skips the install when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/../.."
DEST=.ci/node
case "$(uname -m)" in
    x86_64) ARCH=x64 ;;
    aarch64 | arm64) ARCH=arm64 ;;
    *) echo "agents.sh: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
PACKAGES=(
    "node-linux-${ARCH}@22.23.5"
    "@agentclientprotocol/claude-agent-acp@0.101.0"
    "@agentclientprotocol/codex-acp@2.6.0"
    "@google/gemini-cli@0.61.0"
    "@agentclientprotocol/sdk@2.4.0"
)
STAMP="$DEST/.pinned"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "${PACKAGES[*]}" ] && [ -x "$DEST/node_modules/.bin/codex-acp" ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
mkdir -p "$DEST"
[ -f "$DEST/package.json" ] || echo '{"name": "kiroclaw-test-agents", "private": true}' > "$DEST/package.json"
npm install --prefix "$DEST" --no-audit --no-fund --loglevel=error --save-exact "${PACKAGES[@]}" >/dev/null
echo "${PACKAGES[*]}" > "$STAMP"
