#!/usr/bin/env bash
# Install what the real-service tests and `python -m scripts.services up` need, idempotently:
#   - redis-server (apt-get, only if missing),
#   - Java 17+ and Maven (apt-get, only if missing; Kafka 4.1 brokers need Java 17+),
#   - the Kafka 4.1.1 jars from Maven Central into .cache/kafka/libs (only if scripts/kafka/pom.xml changed).
# A second run does no network access and takes well under a second.
#
# Environment: PYTHON (default .venv/bin/python, else python3): an interpreter with kafka-python and redis;
#              LIVECART_CACHE_DIR (default <repo>/.cache): where the jars and the Maven repository go.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

log() { printf 'install_services: %s\n' "$*" >&2; }

# shellcheck source=scripts/apt.sh
source "$repo/scripts/apt.sh"

java_major() {
  # `java -version` prints e.g. `openjdk version "17.0.15" 2025-04-15` (or "1.8.0_x" for Java 8) on stderr.
  java -version 2>&1 | awk -F'"' '/version/ { split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit }'
}

if ! command -v redis-server >/dev/null; then
  apt_install redis-server
fi

if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then
  # default-jre-headless is Java 17 on Debian 12 and 21 on Debian 13; both run Kafka 4.1.
  apt_install default-jre-headless
fi
if [ "$(java_major)" -lt 17 ]; then
  log "java $(java_major) found; Kafka 4.1 needs 17 or newer (check update-alternatives --config java)"
  exit 1
fi

if ! command -v mvn >/dev/null; then
  apt_install maven
fi

python="${PYTHON:-}"
if [ -z "$python" ]; then
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi
log "resolving Kafka jars (cached after the first run, which downloads ~60 MB from Maven Central)"
libs="$("$python" -m scripts.services jars)"

log "redis-server: $(redis-server --version | awk '{print $3}'); java: $(java_major); mvn: $(mvn -B -v -Dstyle.color=never 2>/dev/null | awk 'NR==1 {print $3}')"
log "kafka jars: $libs ($(find "$libs" -name '*.jar' | wc -l) jars)"
