#!/usr/bin/env bash
# Create .venv with the interpreter that .python-version names and install bayesdta into it.
# Usage: scripts/setup.sh          the library and its command line
#        scripts/setup.sh --dev    also the test tools (pytest, ruff, notebook runner)
set -euo pipefail
cd "$(dirname "$0")/.."

extra=""
if [ "${1:-}" = "--dev" ]; then
  extra="[dev]"
fi

if [ ! -x .venv/bin/python ]; then
  python=$(pyenv which python 2>/dev/null || command -v python3.12 || command -v python3)
  "$python" -m venv .venv
fi
.venv/bin/python - <<'PY'
import sys
if sys.version_info < (3, 12):
    sys.exit(f"bayesdta needs Python >= 3.12; .venv has {sys.version.split()[0]}. "
             "Install 3.12 (pyenv install 3.12) and delete .venv.")
PY
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${extra}"

# The HTML report test opens the report in headless Chromium; install Debian's package when
# it is missing. Installing needs root and apt-get; without them this prints the command to
# run as root, and that test fails until Chromium is installed.
if [ -n "$extra" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "setup: /usr/bin/chromium is missing; running apt-get update -qq && apt-get install -y -qq chromium"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  else
    echo "setup: /usr/bin/chromium is missing and installing it needs root and apt-get; as root run: apt-get install chromium" >&2
  fi
fi
