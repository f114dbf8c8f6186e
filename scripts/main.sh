#!/usr/bin/env bash
# Set up and run the main job: GraphCL vs Deep Augmentation on generated graphs (no download).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/python.sh
PY=$(graphaug_python)
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$PY" -m graphaug.cli demo "$@"
