#!/usr/bin/env bash
# Set up and run the test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/python.sh
PY=$(graphaug_python)
"$PY" -m pytest -q -p no:cacheprovider "$@"
