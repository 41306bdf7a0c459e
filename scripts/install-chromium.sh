#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests (`make chromium` runs it when chromium is
# not on PATH). Needs root, as CI and the dev machines are. Every branch is exercised by
# tests/scripts/test_install_chromium.py, with a stub apt-get on a sandboxed PATH.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "chromium saknas: kör 'sudo apt-get install -y chromium' (behövs för webbläsartesterna)." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
if ! command -v chromium >/dev/null 2>&1; then
  echo "chromium installerades men finns inte på PATH: kontrollera paketet 'chromium'." >&2
  exit 1
fi
