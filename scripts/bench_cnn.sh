#!/usr/bin/env bash
# CNN training steps/s on the CPU, three ways in one run: candle-nn layers, wick-nn layers
# (swapped in one for one, and fused conv + ReLU + pool), and Keras on TensorFlow CPU.
# Model: 64x64x3 -> Conv2d 32 k3 + ReLU + MaxPool2 -> Conv2d 64 k3 + ReLU + MaxPool2 ->
# flatten -> Dense 128 + ReLU -> Dense 3; batch 32; Adam 1e-3; random data.
#
#   scripts/ensure_bench_venv.sh      # once: .venv-bench with tensorflow-cpu 2.21.0
#   scripts/bench_cnn.sh              # 3 interleaved rounds of >= 5 s per variant (~2.5 min)
#   WICK_BENCH_ROUNDS=5 WICK_BENCH_SECONDS=8 scripts/bench_cnn.sh
#   WICK_BENCH_ENFORCE=1 scripts/bench_cnn.sh   # exit 1 if fused wick-nn < 1.0x Keras
#
# Each round runs the Rust bench (crates/wick-nn/benches/cnn.rs: the three Rust variants,
# one after the other) and then the Keras script (scripts/bench_cnn_keras.py), so both sides
# of a ratio see the same machine state. Both sides use all cores with their default
# thread pools. The ratio is the median of the per-round ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${WICK_BENCH_ROUNDS:-3}
SECONDS_PER=${WICK_BENCH_SECONDS:-5}
VENV=${WICK_BENCH_VENV:-.venv-bench}
PY="$VENV/bin/python"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3}

if [[ ! -x "$PY" ]] || ! "$PY" -c 'import tensorflow, keras' 2>/dev/null; then
    echo "bench_cnn.sh: no Python venv with tensorflow/keras at $VENV." >&2
    echo "Run scripts/ensure_bench_venv.sh first (or point WICK_BENCH_VENV at one)." >&2
    exit 2
fi

# Field KEY of the last RESULT line of a run's output.
field() { grep '^RESULT ' <<<"$2" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

echo "== building the bench (release profile)"
BIN=$(cargo bench -p wick-nn --bench cnn --no-run --message-format=json-render-diagnostics |
    grep '"kind":\["bench"\]' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
if [[ ! -x "$BIN" ]]; then
    echo "bench_cnn.sh: could not build the cnn bench" >&2
    exit 1
fi
echo "   $BIN"
echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $("$PY" -c 'import tensorflow as tf, keras; print("tensorflow", tf.__version__, "keras", keras.__version__)' 2>/dev/null), $(rustc --version)"
echo "== $ROUNDS interleaved rounds, >= $SECONDS_PER s per variant per round"

cand=() wick=() fused=() keras=() r_wick=() r_fused=() r_cand=()
for ((r = 1; r <= ROUNDS; r++)); do
    rust_out=$("$BIN" 1 "$SECONDS_PER" 2>&1) || { echo "$rust_out"; exit 1; }
    keras_out=$("$PY" scripts/bench_cnn_keras.py --rounds 1 --seconds "$SECONDS_PER" 2>&1) || { echo "$keras_out"; exit 1; }
    c=$(field candle_steps_per_s "$rust_out") w=$(field wick_steps_per_s "$rust_out")
    f=$(field wick_fused_steps_per_s "$rust_out") k=$(field keras_steps_per_s "$keras_out")
    cand+=("$c") wick+=("$w") fused+=("$f") keras+=("$k")
    r_cand+=("$(ratio "$c" "$k")") r_wick+=("$(ratio "$w" "$k")") r_fused+=("$(ratio "$f" "$k")")
    printf 'round %d (load %s): candle-nn %.2f | wick-nn %.2f | wick-nn fused %.2f | keras %.2f steps/s | vs keras: %sx, %sx, %sx\n' \
        "$r" "$(cut -d' ' -f1 /proc/loadavg)" "$c" "$w" "$f" "$k" "${r_cand[-1]}" "${r_wick[-1]}" "${r_fused[-1]}"
    grep '^mean ms/step' <<<"$rust_out" | sed 's/^/    /'
done

med() { printf '%s\n' "$@" | median; }
mc=$(med "${cand[@]}") mw=$(med "${wick[@]}") mf=$(med "${fused[@]}") mk=$(med "${keras[@]}")
rc=$(med "${r_cand[@]}") rw=$(med "${r_wick[@]}") rf=$(med "${r_fused[@]}")
echo "== medians over $ROUNDS rounds (ratios: median of per-round ratios)"
printf 'steps/s: candle-nn %.2f, wick-nn %.2f, wick-nn fused %.2f, keras %.2f\n' "$mc" "$mw" "$mf" "$mk"
printf 'vs keras: candle-nn %.3fx, wick-nn %.3fx, wick-nn fused %.3fx (goal: fused >= 1.0x)\n' "$rc" "$rw" "$rf"
echo "RESULT candle=$mc wick=$mw wick_fused=$mf keras=$mk candle_vs_keras=$rc wick_vs_keras=$rw fused_vs_keras=$rf"
if [[ "${WICK_BENCH_ENFORCE:-0}" == 1 ]] && awk -v r="$rf" 'BEGIN { exit !(r < 1.0) }'; then
    echo "bench_cnn.sh: fused wick-nn is below 1.0x Keras" >&2
    exit 1
fi
