#!/usr/bin/env bash
# The test command: prepares the Python venv with stock TensorBoard, then runs every test
# of the workspace in the one (release) build profile. Extra arguments go to `cargo test`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/ensure_venv.sh
exec cargo test --release --workspace "$@"
