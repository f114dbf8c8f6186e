#!/usr/bin/env bash
# Installs graphaug with every extra on a fresh machine (Python 3.11 + pip only), into $PYTHON,
# the active virtual or conda environment, or else .venv in the repository (created here from
# python3; see scripts/python.sh). It never installs into a global interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python.sh
PY=$(graphaug_python --setup)
# The local CPU wheel; installing it first keeps pip from pulling a CUDA build.
"$PY" -m pip install -q --disable-pip-version-check "torch==2.13.0"
"$PY" -m pip install -q --disable-pip-version-check -e ".[all]"
if [ "$PY" = "$PWD/.venv/bin/python" ] && [ "${VIRTUAL_ENV-}" != "$PWD/.venv" ]; then
    graphaug_say "installed into .venv; activate it with: source .venv/bin/activate" \
                 "(scripts/test.sh and scripts/main.sh use it either way)"
fi
