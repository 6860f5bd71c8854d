#!/usr/bin/env bash
# Install what the dashboard browser test (tests/test_dashboard_web.py) needs, idempotently:
#   - Debian's chromium (apt-get, only if /usr/bin/chromium is missing): the browser the test drives;
#   - fonts-noto-cjk (apt-get, only if no Chinese font is found): without it comments render as boxes;
#   - playwright-core from the npm registry into <repo>/node_modules (`npm ci`, only when package-lock.json
#     changed since the last install). It drives the system chromium; no browser is downloaded, so this
#     never runs `playwright install`.
# A second run does no network access and takes well under a second.
#
# Environment: CHROMIUM (default /usr/bin/chromium): the browser binary the test will use.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

log() { printf 'install_browser: %s\n' "$*" >&2; }

# shellcheck source=scripts/apt.sh
source "$repo/scripts/apt.sh"

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  apt_install chromium
fi

if ! fc-list :lang=zh family 2>/dev/null | grep -q .; then
  apt_install fonts-noto-cjk fontconfig
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt_install nodejs npm
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  log "node $(node --version) found; playwright-core $(node -p 'require("./package.json").devDependencies["playwright-core"]') needs Node.js 20 or newer"
  exit 1
fi

# package-lock.json pins playwright-core; reinstall only when it changed (stamp = its hash).
stamp="node_modules/.livecart-lock.sha256"
want="$(sha256sum package-lock.json | awk '{print $1}')"
if [ ! -d node_modules/playwright-core ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "npm ci (playwright-core, ~10 MB from the npm registry)"
  npm ci --no-audit --no-fund --loglevel=error
  printf '%s\n' "$want" > "$stamp"
fi

log "chromium: $("$chromium" --version 2>/dev/null | awk '{print $2}'); node: $(node --version);" \
    "playwright-core: $(node -p 'require("./node_modules/playwright-core/package.json").version');" \
    "CJK font: $(fc-list :lang=zh family | head -n1)"
