#!/usr/bin/env bash
# EfficientNet-Lite0 training steps/s on the CPU: wick (wick-models' EfficientNetLite0 +
# a 10-class wick-nn Linear head) against the same architecture built from Keras layers
# (DepthwiseConv2D, BatchNormalization, ReLU6) on TensorFlow CPU, in one run.
# 128x128x3, batch 16, backbone unfrozen (batch norms in training mode), Adam 1e-3,
# cross-entropy from logits, random weights and data.
#
#   scripts/ensure_bench_venv.sh      # once: .venv-bench with tensorflow-cpu 2.21.0
#   scripts/bench_lite0.sh            # 3 interleaved rounds of >= 10 s per side
#   WICK_BENCH_ROUNDS=5 WICK_BENCH_SECONDS=20 scripts/bench_lite0.sh
#   WICK_BENCH_ENFORCE=1 scripts/bench_lite0.sh   # exit 1 if wick < 0.7x Keras
#   WICK_BENCH_BIN=/path/to/lite0-bench scripts/bench_lite0.sh   # a prebuilt bench, no build
#
# Each round runs the Rust bench (crates/wick-models/benches/lite0.rs) and then the Keras
# script (scripts/bench_lite0_keras.py), so both sides of a ratio see the same machine
# state. Both sides use all cores with their default thread pools. The ratio is the
# median of the per-round ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${WICK_BENCH_ROUNDS:-3}
SECONDS_PER=${WICK_BENCH_SECONDS:-10}
VENV=${WICK_BENCH_VENV:-.venv-bench}
PY="$VENV/bin/python"
GOAL=0.7
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3}

if [[ ! -x "$PY" ]] || ! "$PY" -c 'import tensorflow, keras' 2>/dev/null; then
    echo "bench_lite0.sh: no Python venv with tensorflow/keras at $VENV." >&2
    echo "Run scripts/ensure_bench_venv.sh first (or point WICK_BENCH_VENV at one)." >&2
    exit 2
fi

# Field KEY of the last RESULT line of a run's output.
field() { grep '^RESULT ' <<<"$2" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

if [[ -n "${WICK_BENCH_BIN:-}" ]]; then
    BIN=$WICK_BENCH_BIN
    echo "== prebuilt bench (WICK_BENCH_BIN)"
else
    echo "== building the bench (release profile)"
    BIN=$(cargo bench -p wick-models --bench lite0 --no-run --message-format=json-render-diagnostics |
        grep '"kind":\["bench"\]' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
fi
if [[ ! -x "$BIN" ]]; then
    echo "bench_lite0.sh: could not build the lite0 bench" >&2
    exit 1
fi
echo "   $BIN"
echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $("$PY" -c 'import tensorflow as tf, keras; print("tensorflow", tf.__version__, "keras", keras.__version__)' 2>/dev/null), $(rustc --version)"
echo "== $ROUNDS interleaved rounds, >= $SECONDS_PER s per side per round"

wick=() keras=() ratios=()
for ((r = 1; r <= ROUNDS; r++)); do
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    rust_out=$("$BIN" 1 "$SECONDS_PER" 2>&1) || { echo "$rust_out"; exit 1; }
    keras_out=$("$PY" scripts/bench_lite0_keras.py --rounds 1 --seconds "$SECONDS_PER" 2>&1) || { echo "$keras_out"; exit 1; }
    if [[ $r == 1 ]]; then
        grep '^params' <<<"$rust_out" | sed 's/^/    wick:  /'
        grep '^params' <<<"$keras_out" | sed 's/^/    keras: /'
    fi
    w=$(field wick_steps_per_s "$rust_out") k=$(field keras_steps_per_s "$keras_out")
    wick+=("$w") keras+=("$k") ratios+=("$(ratio "$w" "$k")")
    printf 'round %d (load %s -> %s): wick %.3f steps/s (%.1f ms) | keras %.3f steps/s (%.1f ms) | wick/keras %sx\n' \
        "$r" "$load_before" "$(cut -d' ' -f1 /proc/loadavg)" "$w" "$(awk -v a="$w" 'BEGIN { print 1000 / a }')" \
        "$k" "$(awk -v a="$k" 'BEGIN { print 1000 / a }')" "${ratios[-1]}"
    grep '^mean ms/step' <<<"$rust_out" | sed 's/^/    /'
done

med() { printf '%s\n' "$@" | median; }
mw=$(med "${wick[@]}") mk=$(med "${keras[@]}") mr=$(med "${ratios[@]}")
echo "== medians over $ROUNDS rounds (ratio: median of per-round ratios)"
printf 'steps/s: wick %.3f (%.1f ms/step), keras %.3f (%.1f ms/step)\n' \
    "$mw" "$(awk -v a="$mw" 'BEGIN { print 1000 / a }')" "$mk" "$(awk -v a="$mk" 'BEGIN { print 1000 / a }')"
printf 'wick vs keras: %.3fx (goal >= %sx)\n' "$mr" "$GOAL"
echo "RESULT wick=$mw keras=$mk wick_vs_keras=$mr ratios=$(IFS=,; echo "${ratios[*]}")"
if [[ "${WICK_BENCH_ENFORCE:-0}" == 1 ]] && awk -v r="$mr" -v g="$GOAL" 'BEGIN { exit !(r < g) }'; then
    echo "bench_lite0.sh: wick is below ${GOAL}x Keras" >&2
    exit 1
fi
