#!/usr/bin/env bash
# Depthwise conv forward + backward at EfficientNet-Lite0's 11 depthwise shapes (batch 16,
# 128x128 input), wick-nn's `DepthwiseConv2d` CPU op vs Keras' `DepthwiseConv2D` on
# TensorFlow CPU, in one run; the sum over the shapes is one "Lite0 depthwise step".
#
#   scripts/ensure_bench_venv.sh          # once: .venv-bench with tensorflow-cpu 2.21.0
#   scripts/bench_depthwise.sh            # 5 interleaved rounds of >= 4 s per side (~1.5 min)
#   WICK_BENCH_ROUNDS=7 WICK_BENCH_SECONDS=6 scripts/bench_depthwise.sh
#   WICK_BENCH_CANDLE=1 scripts/bench_depthwise.sh  # also time Candle's grouped conv2d (slow)
#   WICK_BENCH_ENFORCE=1 scripts/bench_depthwise.sh # exit 1 if wick-nn < 1.0x Keras
#   WICK_BENCH_THREADS=1 scripts/bench_depthwise.sh # both sides on one thread each
#   CANDLE_NUM_THREADS=1 scripts/bench_depthwise.sh # Candle's elementwise ops on the calling thread
#
# Each round runs the Rust example (crates/wick-nn/examples/bench_depthwise.rs, one round)
# and then the Keras script (scripts/bench_depthwise_keras.py, one round), so both sides of
# a ratio see the same machine state. Both use all cores with their default thread pools.
# The ratio is Keras ms / wick ms (above 1: wick is faster), the median of the per-round
# ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${WICK_BENCH_ROUNDS:-5}
SECONDS_PER=${WICK_BENCH_SECONDS:-4}
VENV=${WICK_BENCH_VENV:-.venv-bench}
PY="$VENV/bin/python"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3}

if [[ ! -x "$PY" ]] || ! "$PY" -c 'import tensorflow, keras' 2>/dev/null; then
    echo "bench_depthwise.sh: no Python venv with tensorflow/keras at $VENV." >&2
    echo "Run scripts/ensure_bench_venv.sh first (or point WICK_BENCH_VENV at one)." >&2
    exit 2
fi

# Field KEY of the last RESULT line of a run's output.
field() { grep '^RESULT ' <<<"$2" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

echo "== building the example (release profile)"
cargo build --release -p wick-nn --example bench_depthwise
BIN=target/release/examples/bench_depthwise
if [[ ! -x "$BIN" ]]; then
    echo "bench_depthwise.sh: could not build the bench_depthwise example" >&2
    exit 1
fi
THREADS=${WICK_BENCH_THREADS:-0}
KERAS_THREADS=()
if [[ "$THREADS" != 0 ]]; then
    export RAYON_NUM_THREADS=$THREADS
    KERAS_THREADS=(--threads "$THREADS")
fi
MODE=wick-only
[[ "${WICK_BENCH_CANDLE:-0}" == 1 ]] && MODE=""
echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $("$PY" -c 'import tensorflow as tf, keras; print("tensorflow", tf.__version__, "keras", keras.__version__)' 2>/dev/null), $(rustc --version)"
echo "== $ROUNDS interleaved rounds, >= $SECONDS_PER s per side per round, threads: ${RAYON_NUM_THREADS:-default (all cores)}"

wick=() keras=() cand=() r=()
for ((i = 1; i <= ROUNDS; i++)); do
    rust_out=$("$BIN" 1 "$SECONDS_PER" $MODE 2>&1) || { echo "$rust_out"; exit 1; }
    keras_out=$("$PY" scripts/bench_depthwise_keras.py --rounds 1 --seconds "$SECONDS_PER" ${KERAS_THREADS[@]+"${KERAS_THREADS[@]}"} 2>&1) || { echo "$keras_out"; exit 1; }
    w=$(field wick_ms "$rust_out") c=$(field candle_ms "$rust_out") k=$(field keras_ms "$keras_out")
    wick+=("$w") keras+=("$k") cand+=("$c") r+=("$(ratio "$k" "$w")")
    printf 'round %d (load %s): wick-nn %.2f ms | keras %.2f ms | candle grouped %s ms | keras / wick: %sx\n' \
        "$i" "$(cut -d' ' -f1 /proc/loadavg)" "$w" "$k" "$c" "${r[-1]}"
    if [[ "$i" == 1 ]]; then
        # Per-shape times of the first round, side by side.
        paste <(grep '^ \+\[' <<<"$rust_out" | awk '{ print $1, $2, $3, $4 }') \
            <(grep '^round 1: \[' <<<"$keras_out" | awk '{ print $(NF - 1) }') |
            awk '{ printf "    %-22s %-7s wick %8.3f ms   keras %8.3f ms\n", $1, $2 " " $3, $4, $5 }'
    fi
done

med() { printf '%s\n' "$@" | median; }
mw=$(med "${wick[@]}") mk=$(med "${keras[@]}") mr=$(med "${r[@]}")
echo "== medians over $ROUNDS rounds (ratio: median of per-round ratios)"
printf 'Lite0 depthwise step: wick-nn %.2f ms, keras %.2f ms; keras / wick %sx (goal >= 1.0x)\n' "$mw" "$mk" "$mr"
echo "RESULT wick_ms=$mw keras_ms=$mk wick_vs_keras=$mr"
if [[ "${WICK_BENCH_ENFORCE:-0}" == 1 ]] && awk -v r="$mr" 'BEGIN { exit !(r < 1.0) }'; then
    echo "bench_depthwise.sh: wick-nn is slower than Keras" >&2
    exit 1
fi
