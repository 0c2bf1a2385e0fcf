#!/usr/bin/env bash
# The device check in one command. Builds the `cuda` feature here (no GPU needed: the
# toolkit comes from PyPI's wheels, scripts/ensure_cuda_toolkit.sh), packs what the GPU
# machine runs into target/gpu-check/ (at most 64 MiB: the stripped, xz-compressed device
# tests, `train` example, conformance runner and `bench_steps` example, the golden values,
# compare.py, the PyTorch benchmark and run.sh), and prints the one command to run there.
#
#     scripts/gpu_check.sh             # build, pack, print the device command
#     scripts/gpu_check.sh --dry-run   # and run the packed folder here, on the CPU
#
# The dry run starts the cuda binaries with the toolkit's libraries and its libcuda link
# stub on LD_LIBRARY_PATH (a cuda build does not start without a libcuda.so.1), runs
# `run.sh cpu`, and writes its summary under target/gpu-check-dry/. The GPU machine needs
# python3 with its nvidia-* wheels (their lib folders become LD_LIBRARY_PATH), and PyTorch
# for the reference side of the benchmark.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DRY_RUN=0
case "${1:-}" in
    "") ;;
    --dry-run) DRY_RUN=1 ;;
    *) echo "usage: scripts/gpu_check.sh [--dry-run]" >&2; exit 2 ;;
esac

cuda_env=$(scripts/ensure_cuda_toolkit.sh)
eval "$cuda_env"
export CARGO_TARGET_DIR="${WICK_CUDA_TARGET_DIR:-target/cuda}"
mkdir -p "$CARGO_TARGET_DIR"

# The same invocation as the test command's CUDA build (so nothing is rebuilt after it):
# every target in one cargo call, since a different package selection resolves other
# features and recompiles the CUDA kernels.
echo "gpu_check: cargo build --release --features cuda --workspace --all-targets" >&2
cargo build --release --features cuda --workspace --all-targets --message-format=json-render-diagnostics \
    >"$CARGO_TARGET_DIR/gpu-check-build.json"

# The executables to pack: the `device` test of the facade and three examples.
LIST="$CARGO_TARGET_DIR/gpu-check-executables.txt"
python3 - "$CARGO_TARGET_DIR/gpu-check-build.json" >"$LIST" <<'PY'
import json, os, sys
root = os.path.abspath("Cargo.toml")
want = {("test", "device"), ("example", "train"), ("example", "keras_conformance"), ("example", "bench_steps")}
found = {}
for line in open(sys.argv[1]):
    if not line.startswith("{"):
        continue
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact" or not m.get("executable"):
        continue
    key = (m["target"]["kind"][0], m["target"]["name"])
    if key in want and os.path.abspath(m["manifest_path"]) == root:
        found[key[1]] = m["executable"]
missing = sorted(n for k, n in want if n not in found)
if missing:
    sys.exit(f"gpu_check: the build produced no executable for {missing}")
for name, path in sorted(found.items()):
    print(f"{name}={path}")
PY

PACK=target/gpu-check
rm -rf "$PACK"
mkdir -p "$PACK"
while read -r entry; do
    name=${entry%%=*}
    path=${entry#*=}
    strip -o "$PACK/$name" "$path"
    xz -T2 -6 -f "$PACK/$name"
done <"$LIST"
cp scripts/gpu_check_run.sh "$PACK/run.sh"
cp scripts/bench_steps_torch.py tests/data/keras_golden.json tests/data/compare.py "$PACK/"

LIMIT=$((64 * 1024 * 1024))
SIZE=$(du -cb "$PACK" | tail -n 1 | cut -f1)
MIB=$((SIZE / 1048576))
echo "gpu_check: packed $PACK: $MIB MiB, $SIZE bytes (limit: $LIMIT)" >&2
ls -l "$PACK" >&2
if [ "$SIZE" -gt "$LIMIT" ]; then
    echo "gpu_check: the pack is over 64 MiB" >&2
    exit 1
fi

cat <<EOF

On the GPU machine (the device tool's run, with carry ["$PACK"]), one command:

    bash $PACK/run.sh cuda

It writes summary.md / summary.json and each part's log under \$OUT (the folder that comes back).
EOF

if [ $DRY_RUN = 1 ]; then
    echo >&2
    echo "gpu_check: dry run here on the CPU (link stub on the library path)" >&2
    rm -rf target/gpu-check-dry
    LD_LIBRARY_PATH="$WICK_CUDA_LIB:$WICK_CUDA_STUB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        OUT=target/gpu-check-dry WICK_CHECK_EPOCHS="${WICK_CHECK_EPOCHS:-30}" \
        bash "$PACK/run.sh" cpu
fi
