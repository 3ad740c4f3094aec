#!/usr/bin/env bash
# The project's one test command: installs the dev requirements and Debian's chromium (for the
# real-browser test, driven by Playwright; never `playwright install`), then runs pytest: both lanes by
# default; extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"` for the fast lane only.
set -euo pipefail
cd "$(dirname "$0")/.."
export GRADIO_ANALYTICS_ENABLED=False
python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
if ! command -v chromium >/dev/null 2>&1; then
  SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo "sudo")
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
python -m pytest "$@"
