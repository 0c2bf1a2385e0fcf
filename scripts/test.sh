#!/usr/bin/env bash
# The test command (CI runs exactly this): the gates, then every test of the workspace in
# the one (release) build profile. Extra arguments go to `cargo test`.
#
# Gates, in order: formatting (`cargo fmt --check`), layout (no module pair importing each
# other, no source file over 600 lines), clippy with warnings denied (including
# `incompatible_msrv` against `rust-version`), rustdoc without broken links, a logging-only wick-tfevents (no `cli`
# feature) that builds without clap, the `cuda` feature compiled and linked (all targets, in
# target/cuda, with the CUDA 13.0 toolkit from PyPI's wheels that
# scripts/ensure_cuda_toolkit.sh installs: no GPU needed, nothing of it runs here), then the
# Python venv with stock TensorBoard and `cargo test`, doctests included (the README's Rust
# blocks are the facade's doctests).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== cargo fmt --check"
cargo fmt --all --check

echo "== layout"
python3 scripts/check_layout.py

echo "== clippy"
cargo clippy --release --workspace --all-targets -- -D warnings

echo "== rustdoc (broken intra-doc links are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --release --workspace --no-deps --quiet

echo "== wick-tfevents without its cli feature"
if cargo tree -p wick-tfevents --no-default-features -e normal | grep -q '\bclap\b'; then
    echo "wick-tfevents without default features depends on clap" >&2
    exit 1
fi
cargo build --release -p wick-tfevents --no-default-features

echo "== cuda feature: compile and link (toolkit from PyPI wheels; no GPU needed)"
(
    cuda_env=$(scripts/ensure_cuda_toolkit.sh)
    eval "$cuda_env"
    CARGO_TARGET_DIR=target/cuda cargo build --release --features cuda --workspace --all-targets
)

scripts/ensure_venv.sh
exec cargo test --release --workspace "$@"
