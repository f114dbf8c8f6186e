#!/usr/bin/env bash
# Set up and run the test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/python.sh
PY=$(graphaug_python)
# PyGCL, the peer of tests/test_pygcl.py (never a dependency of graphaug): its wheel and the
# torch_scatter/torch_sparse builds it hard-imports sit in ../shared/peer/wheels where the
# shared folder is laid out; --no-deps, so that nothing else in the environment changes.
PEER_WHEELS=../shared/peer/wheels
if compgen -G "$PEER_WHEELS/*.whl" > /dev/null; then
    "$PY" -m pip install -q --disable-pip-version-check --no-deps "$PEER_WHEELS"/*.whl
fi
"$PY" -m pytest -q -p no:cacheprovider "$@"
