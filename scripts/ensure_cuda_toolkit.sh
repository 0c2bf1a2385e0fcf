#!/usr/bin/env bash
# Makes sure a CUDA 13.0 toolkit for *building* wick's `cuda` feature exists, from PyPI's
# CUDA component wheels (no system toolkit, no GPU needed), and prints the environment a
# build needs as `export` lines:
#
#     cuda_env=$(scripts/ensure_cuda_toolkit.sh) && eval "$cuda_env"
#     cargo build --release --features cuda --workspace --all-targets
#
# The same environment builds the `nccl` feature (`--features nccl`): NCCL comes from PyPI too.
#
# What it does (idempotent; a second call only checks and prints):
# 1. `pip install --target` of the pinned CUDA 13.0 wheels into the cache folder
#    ${WICK_CUDA_KIT:-${XDG_CACHE_HOME:-$HOME/.cache}/wick/cuda-13.0} (≈ 1.4 GB). CUDA 13.0, not
#    newer, so the PTX that candle-kernels embeds is accepted by a 13.0 driver (580.x);
#    cudarc 0.19.10 accepts toolkits up to 13.4. NCCL 2.28.9 (`nvidia-nccl-cu13`): the version
#    PyTorch 2.11 (cu130) pins, so the libnccl.so.2 on the GPU machine (next to its torch) is
#    the one linked here. cudarc's bindings are NCCL 2.30's, but an `nccl` build references
#    only ncclGetUniqueId, ncclCommInitRank, ncclAllReduce, ncclBroadcast, ncclCommAbort and
#    ncclGetVersion, all in every NCCL since 2.4.
# 2. Unversioned symlinks (`libcublas.so` → `libcublas.so.13`, …): the wheels ship only the
#    versioned names, and the linker's `-lcublas` looks for the unversioned one. NCCL's wheel
#    puts its library in nvidia/nccl/lib: `lib/libnccl.so` and `lib/libnccl.so.2` link to it,
#    so the one lib folder serves both `-lnccl` (LIBRARY_PATH) and LD_LIBRARY_PATH.
# 3. A link stub `lib/stubs/libcuda.so.1`: the driver library is in no wheel. Candle turns on
#    cudarc's `dynamic-linking`, so every cuda binary has `libcuda.so.1` as NEEDED; the stub
#    exports each driver entry point cudarc binds (read from cudarc's own source, so the
#    list follows the locked cudarc version), each returning CUDA_ERROR_STUB_LIBRARY (34).
#    It is for linking here and for dry runs on machines without a GPU; never put it on the
#    library path of a machine with the NVIDIA driver.
#
# Build settings printed: CUDA_COMPUTE_CAP=90 (sm_90a: H100/H200; set WICK_CUDA_COMPUTE_CAP
# for another GPU) and CUDARC_CUDA_VERSION=13000, so neither candle-kernels nor cudarc
# asks a GPU or nvidia-smi at build time.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

KIT="${WICK_CUDA_KIT:-${XDG_CACHE_HOME:-$HOME/.cache}/wick/cuda-13.0}"
PYTHON="${PYTHON:-python3}"
COMPUTE_CAP="${WICK_CUDA_COMPUTE_CAP:-90}"
# CUDA 13.0 update 2 components; cuBLAS/cuRAND carry their own version numbers.
WHEELS=(
    nvidia-cuda-nvcc==13.0.88
    nvidia-nvvm==13.0.88
    nvidia-cuda-crt==13.0.88
    nvidia-cuda-cccl==13.0.85
    nvidia-cuda-runtime==13.0.96
    nvidia-cuda-nvrtc==13.0.88
    nvidia-cublas==13.1.0.3
    nvidia-curand==10.4.0.35
    nvidia-nccl-cu13==2.28.9
)
K="$KIT/nvidia/cu13"
STAMP="$KIT/.wick-wheels"

log() { echo "ensure_cuda_toolkit: $*" >&2; }

# 1. The wheels.
NCCL_LIB="$KIT/nvidia/nccl/lib"
if [ "$(cat "$STAMP" 2>/dev/null)" != "${WHEELS[*]}" ] || ! [ -x "$K/bin/nvcc" ] || ! [ -f "$NCCL_LIB/libnccl.so.2" ]; then
    if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
        log "$PYTHON -m pip is not available; install Python 3 with pip" >&2
        exit 1
    fi
    log "installing ${#WHEELS[@]} CUDA 13.0 wheels into $KIT (≈ 1.4 GB)"
    rm -rf "$KIT"
    mkdir -p "$KIT"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps --target "$KIT" "${WHEELS[@]}" >&2
    echo "${WHEELS[*]}" >"$STAMP"
fi
if ! "$K/bin/nvcc" --version 2>/dev/null | grep -q 'release 13\.0'; then
    log "$K/bin/nvcc is not CUDA 13.0: remove $KIT and run again"
    exit 1
fi

# 2. Unversioned library names for the linker.
for lib in cudart cublas cublasLt curand nvrtc; do
    versioned=$(cd "$K/lib" && ls "lib$lib.so."* 2>/dev/null | sort | head -n 1 || true)
    if [ -z "$versioned" ]; then
        log "no lib$lib.so.* in $K/lib: the wheel set is incomplete; remove $KIT and run again"
        exit 1
    fi
    ln -sfn "$versioned" "$K/lib/lib$lib.so"
done
# NCCL (its own folder in the wheel): relative links, so the kit can move as a whole.
if ! [ -f "$NCCL_LIB/libnccl.so.2" ]; then
    log "no libnccl.so.2 in $NCCL_LIB: the wheel set is incomplete; remove $KIT and run again"
    exit 1
fi
ln -sfn ../../nccl/lib/libnccl.so.2 "$K/lib/libnccl.so.2"
ln -sfn libnccl.so.2 "$K/lib/libnccl.so"

# 3. The driver stub, from the locked cudarc's list of driver entry points.
STUB_DIR="$K/lib/stubs"
if ! [ -f "$STUB_DIR/libcuda.so.1" ]; then
    CUDARC_SRC=$(cargo metadata --format-version 1 --features cuda --locked 2>/dev/null |
        "$PYTHON" -c 'import json, sys, os
m = json.load(sys.stdin)
p = [p for p in m["packages"] if p["name"] == "cudarc"]
print(os.path.dirname(p[0]["manifest_path"]) if p else "")')
    SYS="$CUDARC_SRC/src/driver/sys/mod.rs"
    if [ -z "$CUDARC_SRC" ] || ! [ -f "$SYS" ]; then
        log "cannot find cudarc's source (cargo metadata --features cuda); run \`cargo fetch\` first"
        exit 1
    fi
    mkdir -p "$STUB_DIR"
    "$PYTHON" - "$SYS" "$STUB_DIR/libcuda_stub.c" <<'PY'
import re, sys
names = sorted(set(re.findall(r'load::<_F>\("(cu[A-Za-z0-9_]+)"\)', open(sys.argv[1]).read())))
if len(names) < 100:
    sys.exit(f"only {len(names)} driver entry points found in {sys.argv[1]}; cudarc's layout changed")
with open(sys.argv[2], "w") as f:
    f.write("/* Link stub for libcuda.so.1, generated by scripts/ensure_cuda_toolkit.sh. */\n")
    for n in names:
        f.write(f"int {n}(void) {{ return 34; /* CUDA_ERROR_STUB_LIBRARY */ }}\n")
print(f"ensure_cuda_toolkit: driver stub with {len(names)} entry points", file=sys.stderr)
PY
    gcc -shared -fPIC -O1 -Wl,-soname,libcuda.so.1 -o "$STUB_DIR/libcuda.so.1" "$STUB_DIR/libcuda_stub.c"
    ln -sfn libcuda.so.1 "$STUB_DIR/libcuda.so"
fi

log "toolkit ready in $K ($("$K/bin/nvcc" --version | grep -o 'release [0-9.]*'))"
cat <<EOF
export PATH="$K/bin:\$PATH"
export CUDA_ROOT="$K"
export CUDA_HOME="$K"
export LIBRARY_PATH="$K/lib:$K/lib/stubs\${LIBRARY_PATH:+:\$LIBRARY_PATH}"
export CUDA_COMPUTE_CAP="$COMPUTE_CAP"
export CUDARC_CUDA_VERSION=13000
export WICK_CUDA_LIB="$K/lib"
export WICK_CUDA_STUB="$STUB_DIR"
EOF
