#!/usr/bin/env bash
# Set up and run the main job: GraphCL vs Deep Augmentation on generated graphs (no download).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=${PYTHON:-python3}
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$PY" -m graphaug.cli demo "$@"
