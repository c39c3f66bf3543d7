#!/usr/bin/env bash
# Debian's chromium for the playground's browser test (tests/playground/); Playwright drives it through
# executable_path, so no browser is downloaded from anywhere but Debian's package registry.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && [ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core fonts-noto-color-emoji >/dev/null
