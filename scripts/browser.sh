#!/usr/bin/env bash
# The headless browser the dashboard tests drive: Debian's chromium and its chromedriver (`make browser`).
# Idempotent: does nothing when both are installed. Installs them with apt-get on Debian/Ubuntu as root;
# anywhere else it says what to install and fails.
set -euo pipefail
CHROMIUM="${TENSORONE_CHROMIUM:-/usr/bin/chromium}"
CHROMEDRIVER="${TENSORONE_CHROMEDRIVER:-/usr/bin/chromedriver}"
if [[ -x "$CHROMIUM" && -x "$CHROMEDRIVER" ]]; then
  exit 0
fi
if ! command -v apt-get >/dev/null || [[ ! -r /etc/debian_version ]]; then
  echo "browser.sh: the dashboard tests need chromium and chromedriver at $CHROMIUM and $CHROMEDRIVER;" >&2
  echo "  this is not Debian/Ubuntu, so install them with your package manager (or set TENSORONE_CHROMIUM" >&2
  echo "  and TENSORONE_CHROMEDRIVER to where they are)." >&2
  exit 1
fi
SUDO=""
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "browser.sh: installing chromium needs root: run 'sudo apt-get install -y chromium chromium-driver'" >&2
    exit 1
  fi
fi
echo "installing chromium and chromium-driver with apt-get (the dashboard's browser tests drive them)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver
"$CHROMIUM" --version
