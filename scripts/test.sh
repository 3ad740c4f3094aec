#!/usr/bin/env bash
# The project's one test command: installs the dev requirements, then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export GRADIO_ANALYTICS_ENABLED=False
python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
python -m pytest "$@"
