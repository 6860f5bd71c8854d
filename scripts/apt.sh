# shellcheck shell=bash
# apt_install PKG...: install Debian packages as root or through sudo, running `apt-get update` once.
# Sourced by scripts/install_*.sh after they define log().

# Wait for a dpkg lock held by another apt run (unattended upgrades, a parallel setup) instead of failing.
apt_opts=(-q -o DPkg::Lock::Timeout=300)
apt_updated=0
apt_install() {
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { log "need root or sudo to apt-get install $*"; exit 1; }
    sudo="sudo"
  fi
  command -v apt-get >/dev/null || { log "apt-get not found: install $* with your package manager"; exit 1; }
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update
    apt_updated=1
  fi
  log "apt-get install $*"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y --no-install-recommends "$@"
}
