#!/usr/bin/env bash
# Installs graphaug with every extra on a fresh machine (Python 3.11 + pip only).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# The local CPU wheel; installing it first keeps pip from pulling a CUDA build.
"$PY" -m pip install -q --disable-pip-version-check "torch==2.13.0"
"$PY" -m pip install -q --disable-pip-version-check -e ".[all]"
