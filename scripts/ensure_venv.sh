#!/usr/bin/env bash
# Makes sure the Python virtual environment the stock-TensorBoard tests use exists and
# holds the pinned versions: tensorboard 2.21.0 (with its Rust data server) and
# tensorboardX 2.6.5 (with numpy and protobuf, which it imports).
#
# The environment is ${WICK_VENV:-.venv}; a relative path is taken from the repository
# root. Idempotent: when everything imports at the pinned versions it only says so.
# Creating it needs python3 with the venv module (Debian/Ubuntu: python3-venv) and
# access to the package index (or a pip configured for a mirror).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${WICK_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
TENSORBOARD_VERSION="2.21.0"
TENSORBOARDX_VERSION="2.6.5"

# Succeeds when the venv's python imports everything the tests need at the pinned versions.
venv_ok() {
    "$VENV/bin/python" - "$TENSORBOARD_VERSION" "$TENSORBOARDX_VERSION" >/dev/null 2>&1 <<'PY'
import sys
import numpy  # noqa: F401  (tensorboardX and the EventAccumulator need it)
import tensorboard, tensorboardX
from tensorboard.backend.event_processing import event_accumulator  # noqa: F401
import tensorboard_data_server  # noqa: F401  (the Rust loader's server binary)
sys.exit(0 if (tensorboard.__version__, tensorboardX.__version__) == (sys.argv[1], sys.argv[2]) else 1)
PY
}

if [ -x "$VENV/bin/python" ] && venv_ok; then
    echo "ensure_venv: $VENV is ready (tensorboard $TENSORBOARD_VERSION, tensorboardX $TENSORBOARDX_VERSION)"
    exit 0
fi

if ! [ -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "ensure_venv: $PYTHON not found; install Python 3 (3.9 or newer) with its venv module" >&2
        exit 1
    fi
    echo "ensure_venv: creating $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv --clear "$VENV"
else
    echo "ensure_venv: $VENV exists but lacks the pinned packages; installing them"
fi

echo "ensure_venv: installing tensorboard==$TENSORBOARD_VERSION tensorboardX==$TENSORBOARDX_VERSION"
"$VENV/bin/python" -m pip install --disable-pip-version-check --quiet \
    "tensorboard==$TENSORBOARD_VERSION" "tensorboardX==$TENSORBOARDX_VERSION" numpy

if ! venv_ok; then
    echo "ensure_venv: $VENV still does not import tensorboard $TENSORBOARD_VERSION and tensorboardX $TENSORBOARDX_VERSION" >&2
    exit 1
fi
echo "ensure_venv: $VENV is ready: $("$VENV/bin/python" -c 'import tensorboard, tensorboardX, numpy; print("tensorboard", tensorboard.__version__, "tensorboardX", tensorboardX.__version__, "numpy", numpy.__version__)')"
