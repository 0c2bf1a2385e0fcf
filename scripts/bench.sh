#!/usr/bin/env bash
# Scalar logging throughput: wick-tfevents `SummaryWriter::scalar` vs tensorboardX
# `add_scalar`, same count, same run, interleaved rounds; prints per-round and median ratios.
#
#   scripts/bench.sh                 # N=300000 scalars per side, 3 interleaved rounds
#   WICK_BENCH_N=1000000 WICK_BENCH_ROUNDS=5 scripts/bench.sh
#   WICK_BENCH_MIN_RATIO=500 scripts/bench.sh   # exit 1 if the median ratio is lower
#
# Each round runs the Rust bench (crates/wick-tfevents/benches/scalars.rs: median of
# $WICK_BENCH_RUST_ROUNDS inner rounds of N scalars, close() included, plus its
# allocations-per-scalar check), then scripts/bench_tensorboardx.py with the same N.
# tensorboardX needs ~80-90 us per scalar here, so N is kept modest by default; the Rust
# bench alone can be run with a larger N (see BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${WICK_BENCH_N:-300000}
ROUNDS=${WICK_BENCH_ROUNDS:-3}
RUST_ROUNDS=${WICK_BENCH_RUST_ROUNDS:-5}
VENV=${WICK_VENV:-.venv}
PY="$VENV/bin/python"

if [[ ! -x "$PY" ]]; then
    echo "bench.sh: no Python venv at $VENV (looked for $PY)." >&2
    echo "Run scripts/ensure_venv.sh first (or point WICK_VENV at a venv with tensorboardX)." >&2
    exit 2
fi
if ! "$PY" -c 'import tensorboardX' 2>/dev/null; then
    echo "bench.sh: tensorboardX is not installed in $VENV; run scripts/ensure_venv.sh." >&2
    exit 2
fi

# Field KEY of the last RESULT line of a run's output.
field() { grep '^RESULT ' <<<"$2" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Build once, then run the binary itself, so every round times the same build.
echo "== building the bench (release profile)"
BIN=$(cargo bench -p wick-tfevents --bench scalars --no-run --message-format=json-render-diagnostics |
    grep '"kind":\["bench"\]' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
if [[ ! -x "$BIN" ]]; then
    echo "bench.sh: could not build the scalars bench" >&2
    exit 1
fi
echo "   $BIN"
echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== N = $N scalars per side per round, $ROUNDS interleaved rounds (Rust: median of $RUST_ROUNDS inner rounds)"

rust_rates=() tbx_rates=() ratios=()
for ((r = 1; r <= ROUNDS; r++)); do
    rust_out=$("$BIN" --n "$N" --rounds "$RUST_ROUNDS" 2>&1) || { echo "$rust_out"; exit 1; }
    tbx_out=$("$PY" scripts/bench_tensorboardx.py "$N" 2>&1) || { echo "$tbx_out"; exit 1; }
    rust=$(field scalars_per_s "$rust_out")
    rust_mb=$(field mb_per_s "$rust_out")
    allocs=$(field allocs_per_scalar "$rust_out")
    tbx=$(field scalars_per_s "$tbx_out")
    tbx_mb=$(field mb_per_s "$tbx_out")
    ratio=$(awk -v a="$rust" -v b="$tbx" 'BEGIN { printf "%.0f", a / b }')
    printf 'round %d: wick %12.0f scalars/s %8.1f MB/s (allocs/scalar %s; inner rounds M/s: %s) | tensorboardX %8.0f scalars/s %5.2f MB/s | ratio %sx\n' \
        "$r" "$rust" "$rust_mb" "$allocs" "$(field rounds_m_per_s "$rust_out")" "$tbx" "$tbx_mb" "$ratio"
    rust_rates+=("$rust") tbx_rates+=("$tbx") ratios+=("$ratio")
done

rust_med=$(printf '%s\n' "${rust_rates[@]}" | median)
tbx_med=$(printf '%s\n' "${tbx_rates[@]}" | median)
ratio_med=$(printf '%s\n' "${ratios[@]}" | median)
echo "== median: wick $(awk -v x="$rust_med" 'BEGIN { printf "%.0f", x }') scalars/s, tensorboardX $(awk -v x="$tbx_med" 'BEGIN { printf "%.0f", x }') scalars/s"
echo "== ratio wick / tensorboardX: median of per-round ratios ${ratio_med}x (per round: ${ratios[*]}); goal >= 500x"

if [[ -n "${WICK_BENCH_MIN_RATIO:-}" ]] && awk -v r="$ratio_med" -v m="$WICK_BENCH_MIN_RATIO" 'BEGIN { exit !(r < m) }'; then
    echo "bench.sh: median ratio ${ratio_med}x is below WICK_BENCH_MIN_RATIO=${WICK_BENCH_MIN_RATIO}x" >&2
    exit 1
fi
