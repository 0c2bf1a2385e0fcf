#!/usr/bin/env bash
# Makes sure the Python virtual environment used ONLY by the data-pipeline benchmark
# (scripts/bench_data.sh -> scripts/bench_data_keras.py) exists and holds the pinned
# Keras/TensorFlow: tensorflow-cpu 2.21.0 (which brings Keras 3 and numpy).
#
# The environment is ${WICK_BENCH_VENV:-.venv-bench}; a relative path is taken from the
# repository root. It is separate from the tests' venv (.venv, scripts/ensure_venv.sh) so
# that the big TensorFlow wheel never enters the test or CI environment.
# Idempotent: when tensorflow and keras import at the pinned version it only says so.
# Creating it needs python3 with the venv module and access to the package index (about
# 250 MB of wheels).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${WICK_BENCH_VENV:-.venv-bench}"
PYTHON="${PYTHON:-python3}"
TF_VERSION="2.21.0"

venv_ok() {
    "$VENV/bin/python" - "$TF_VERSION" >/dev/null 2>&1 <<'PY'
import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf, keras  # noqa: F401
sys.exit(0 if tf.__version__ == sys.argv[1] else 1)
PY
}

if [ -x "$VENV/bin/python" ] && venv_ok; then
    echo "ensure_bench_venv: $VENV is ready (tensorflow-cpu $TF_VERSION)"
    exit 0
fi

if ! [ -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "ensure_bench_venv: $PYTHON not found; install Python 3 (3.10-3.13) with its venv module" >&2
        exit 1
    fi
    echo "ensure_bench_venv: creating $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv --clear "$VENV"
else
    echo "ensure_bench_venv: $VENV exists but lacks tensorflow-cpu $TF_VERSION; installing it"
fi

echo "ensure_bench_venv: installing tensorflow-cpu==$TF_VERSION (large download)"
"$VENV/bin/python" -m pip install --disable-pip-version-check --quiet "tensorflow-cpu==$TF_VERSION"

if ! venv_ok; then
    echo "ensure_bench_venv: $VENV still does not import tensorflow $TF_VERSION" >&2
    exit 1
fi
echo "ensure_bench_venv: $VENV is ready: $("$VENV/bin/python" -c 'import os; os.environ["TF_CPP_MIN_LOG_LEVEL"]="3"; import tensorflow as tf, keras, numpy; print("tensorflow", tf.__version__, "keras", keras.__version__, "numpy", numpy.__version__)' 2>/dev/null)"
