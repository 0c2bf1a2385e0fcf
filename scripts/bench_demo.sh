#!/usr/bin/env bash
# Demo training speed: `examples/train.rs` (wick) vs the same model, data and fit in Keras
# (scripts/bench_demo_keras.py), training steps per second, same run, same cores,
# interleaved rounds; prints per-round steps/s and ratio, the medians, and a RESULT line.
#
#   scripts/ensure_bench_venv.sh      # once: .venv-bench with tensorflow-cpu 2.21.0
#   scripts/bench_demo.sh             # 5 rounds x 6 epochs per side (~3 min on 2 cores)
#   scripts/bench_demo.sh --rounds 3 --epochs 8   # quicker, noisier (~1 min)
#   WICK_BENCH_ROUNDS=7 WICK_BENCH_DATA=/tmp/shapes scripts/bench_demo.sh
#
# Options (flag / environment variable / default):
#   --rounds R            WICK_BENCH_ROUNDS            5
#   --epochs E            WICK_BENCH_EPOCHS            6   (E >= 2)
#   --shapes-per-class N  WICK_BENCH_SHAPES_PER_CLASS  train's --shapes-per-class default
#                                                      (read from `train --help`)
#   --seed S              WICK_BENCH_SEED              42  (train.rs' default: split,
#                                                      shuffles, augmentation, weights,
#                                                      and the generated images)
#   --data DIR            WICK_BENCH_DATA              <target>/bench-demo/shapes-N-sS
# The default folder is train.rs' default dataset (data/shapes: synthetic 64x64 PNGs,
# 4 classes, N per class, generated from the seed), written by the train example itself
# on first use under cargo's target directory and reused; it is not data/shapes itself,
# which may be an older generation with another N. A --data folder that does not exist is
# generated the same way; one that exists is used as it is (the image count is printed).
#   WICK_BENCH_VENV (.venv-bench): the Python venv with TensorFlow.
#
# What runs: the release build of the train example with its defaults (conv 32 -> pool ->
# conv 64 -> pool -> global max -> dense 128 -> logits, per-image standardisation, Adam
# 1e-3, "light" augmentation, 32x32 px, batch 32, validation_split 0.2) and all its
# callbacks (TensorBoard with batch scalars, ModelCheckpoint, EarlyStopping with
# --patience 1000 so it never stops early, ReduceLROnPlateau, CSVLogger, progress bar),
# `--verbose 2`, a temporary --logdir; then the Keras script: the same model and data with
# image_dataset_from_directory + the same augmentation layers mapped on the training
# batches, plain model.fit(verbose=2) (no callbacks besides the progress bar).
#
# How it is timed (the same way on both sides): both print Keras' verbose=2 line at the
# end of every epoch (`100/100 - 2s - 15ms/step - ...`). Every output line is timestamped
# here as it arrives ($EPOCHREALTIME; Rust's stdout is line-buffered, Python runs with
# PYTHONUNBUFFERED=1), and the time of epoch k is the gap between the end lines of epochs
# k-1 and k: the whole steady-state cycle (training steps, validation, callbacks, the next
# epoch's reshuffle and pipeline start), at microsecond resolution. The line's own ms/step
# (the same quantity, epoch wall time / training steps) is rounded to whole ms, which is
# too coarse at ~15 ms/step (±3 %); it is printed as a cross-check, as is the Keras script's
# in-process epoch time (perf_counter in on_epoch_begin/end). Epoch 1 (tracing, warm-up)
# has no previous end line and is never counted. steps/s of a run = training steps per
# epoch / median epoch time over epochs 2..E; a round's ratio = wick / keras; the summary
# gives the medians of the per-round values (ratio = median of the per-round ratios), and
# each side's fastest round (with other work on the cores, the per-round numbers swing by
# 2x; the fastest rounds are the closest to an idle machine).
# Process start-up (TensorFlow import, dataset listing, model build) is not timed.
# Both sides use all cores with their default thread pools (rayon / TensorFlow).
set -euo pipefail
cd "$(dirname "$0")/.."
export LC_ALL=C

ROUNDS=${WICK_BENCH_ROUNDS:-5}
EPOCHS=${WICK_BENCH_EPOCHS:-6}
DATA=${WICK_BENCH_DATA:-}
PER_CLASS=${WICK_BENCH_SHAPES_PER_CLASS:-}
SEED=${WICK_BENCH_SEED:-42}
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --epochs) EPOCHS=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        --shapes-per-class) PER_CLASS=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench_demo.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if ! [[ $ROUNDS =~ ^[1-9][0-9]*$ && $EPOCHS =~ ^[0-9]+$ && $EPOCHS -ge 2 && $SEED =~ ^[0-9]+$ && $PER_CLASS =~ ^[0-9]*$ ]]; then
    echo "bench_demo.sh: need --rounds >= 1, --epochs >= 2, integer --seed and --shapes-per-class" >&2
    exit 2
fi
VENV=${WICK_BENCH_VENV:-.venv-bench}
PY="$VENV/bin/python"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3} PYTHONUNBUFFERED=1

if [[ -z "${EPOCHREALTIME:-}" ]]; then
    echo "bench_demo.sh: needs bash >= 5 (\$EPOCHREALTIME)" >&2
    exit 2
fi
if [[ ! -x "$PY" ]] || ! "$PY" -c 'import tensorflow, keras' 2>/dev/null; then
    echo "bench_demo.sh: no Python venv with tensorflow/keras at $VENV." >&2
    echo "Run scripts/ensure_bench_venv.sh first (or point WICK_BENCH_VENV at one)." >&2
    exit 2
fi

# Prefixes every line of stdin with the time it arrived (seconds, microsecond resolution).
stamp() { while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done; }
# From a stamped verbose=2 output: `rate msstep best_val_accuracy epoch_seconds,...`, where
# rate = steps / median epoch time over epochs 2..E (gaps between consecutive end lines).
epochs() {
    awk '
        $2 ~ /^[0-9]+\/[0-9]+$/ && $3 == "-" && $6 ~ /\/step$/ {
            n++; t[n] = $1; split($2, s, "/"); steps = s[1]
            ms = $6; sub(/\/step$/, "", ms)
            if (ms ~ /us$/) ms = substr(ms, 1, length(ms) - 2) / 1000
            else if (ms ~ /ms$/) ms = substr(ms, 1, length(ms) - 2) + 0
            else ms = substr(ms, 1, length(ms) - 1) * 1000
            if (n > 1) { m++; gap[m] = t[n] - t[n - 1]; step_ms[m] = ms }
            for (i = 7; i < NF; i++) if ($i == "val_accuracy:" && (best == "" || $(i + 1) > best)) best = $(i + 1)
        }
        function median(a, k,   i, j, x) {
            for (i = 2; i <= k; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
            return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
        }
        END {
            if (m < 1) exit 1
            list = ""; for (i = 1; i <= m; i++) list = list (i > 1 ? "," : "") sprintf("%.3f", gap[i])
            printf "%.3f %.1f %s %s\n", steps / median(gap, m), median(step_ms, m), best == "" ? "nan" : best, list
        }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "== building the train example (release profile)"
BIN=$(cargo build --release --example train --message-format=json-render-diagnostics |
    grep '"kind":\["example"\]' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
if [[ ! -x "$BIN" ]]; then
    echo "bench_demo.sh: could not build the train example" >&2
    exit 1
fi
echo "   $BIN"

TMP=$(mktemp -d -t wick-bench-demo.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
if [[ -z "$PER_CLASS" ]]; then
    PER_CLASS=$("$BIN" --help | sed -n '/--shapes-per-class/,/default:/p' | sed -n 's/.*\[default: \([0-9]*\)\].*/\1/p')
    [[ -n "$PER_CLASS" ]] || { echo "bench_demo.sh: cannot read train's --shapes-per-class default from --help" >&2; exit 1; }
fi
if [[ -z "$DATA" ]]; then
    # <target>/release/examples/train -> <target>/bench-demo/...
    DATA="$(dirname "$(dirname "$(dirname "$BIN")")")/bench-demo/shapes-$PER_CLASS-s$SEED"
fi
if [[ ! -d "$DATA" ]]; then
    echo "== generating $DATA ($PER_CLASS images per class, seed $SEED) with one short train run"
    "$BIN" --generate --data "$DATA" --shapes-per-class "$PER_CLASS" --seed "$SEED" --epochs 1 --verbose 0 --logdir "$TMP/prep" >/dev/null
fi
echo "== data: $DATA ($(find "$DATA" -mindepth 2 -maxdepth 2 -type f | wc -l) files in $(find "$DATA" -mindepth 1 -maxdepth 1 -type d | wc -l) class folders), seed $SEED"
echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $("$PY" -c 'import tensorflow as tf, keras; print("tensorflow", tf.__version__, "keras", keras.__version__)' 2>/dev/null), $(rustc --version)"
echo "== $ROUNDS interleaved rounds (wick, then keras), $EPOCHS epochs per run, epoch 1 not counted"

wick_r="" keras_r="" ratio_r="" wick_acc="" keras_acc=""
for ((r = 1; r <= ROUNDS; r++)); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    wick_out=$("$BIN" --data "$DATA" --seed "$SEED" --epochs "$EPOCHS" --patience 1000 --verbose 2 --logdir "$TMP/run$r" 2>&1 | stamp) ||
        { echo "$wick_out"; echo "bench_demo.sh: the train example failed" >&2; exit 1; }
    keras_out=$("$PY" scripts/bench_demo_keras.py "$DATA" --epochs "$EPOCHS" --seed "$SEED" 2>&1 | stamp) ||
        { echo "$keras_out"; echo "bench_demo.sh: the Keras script failed" >&2; exit 1; }
    read -r w w_ms w_acc w_gaps < <(epochs <<<"$wick_out") || { echo "$wick_out"; echo "bench_demo.sh: no epoch lines from wick" >&2; exit 1; }
    read -r k k_ms k_acc k_gaps < <(epochs <<<"$keras_out") || { echo "$keras_out"; echo "bench_demo.sh: no epoch lines from Keras" >&2; exit 1; }
    # Cross-check: the Keras script's own per-epoch times (epochs 2..E).
    steps=$(grep -o 'RESULT steps=[0-9]*' <<<"$keras_out" | sed 's/.*=//')
    k_cb=$(grep -o 'EPOCH_SECONDS .*' <<<"$keras_out" | cut -d' ' -f2 | tr ',' '\n' | tail -n +2 | median)
    k_cb=$(awk -v s="$steps" -v t="$k_cb" 'BEGIN { printf "%.1f", s / t }')
    ratio=$(awk -v a="$w" -v b="$k" 'BEGIN { printf "%.3f", a / b }')
    wick_r+="$w " keras_r+="$k " ratio_r+="$ratio " wick_acc+="$w_acc " keras_acc+="$k_acc "
    printf 'round %d (load %s): wick %.1f steps/s (line %.0f ms/step) | keras %.1f steps/s (line %.0f ms/step, in-process %s steps/s) | ratio %.2fx | best val_accuracy wick %s, keras %s\n' \
        "$r" "$load" "$w" "$w_ms" "$k" "$k_ms" "$k_cb" "$ratio" "$w_acc" "$k_acc"
    printf '   epoch seconds (epochs 2..%d): wick %s | keras %s\n' "$EPOCHS" "$w_gaps" "$k_gaps"
done

med() { tr ' ' '\n' <<<"$1" | grep . | median; }
w=$(med "$wick_r") k=$(med "$keras_r") ratio=$(med "$ratio_r") wa=$(med "$wick_acc") ka=$(med "$keras_acc")
# Each side's fastest round: the least disturbed one when other work shares the cores.
wb=$(tr ' ' '\n' <<<"$wick_r" | grep . | sort -g | tail -n 1) kb=$(tr ' ' '\n' <<<"$keras_r" | grep . | sort -g | tail -n 1)
best_ratio=$(awk -v a="$wb" -v b="$kb" 'BEGIN { printf "%.3f", a / b }')
echo "== medians over $ROUNDS rounds (ratio = median of per-round ratios; load now $(cut -d' ' -f1-3 /proc/loadavg))"
printf 'wick %.1f steps/s | keras %.1f steps/s | ratio %.2fx (per round: %s) | best val_accuracy after %d epochs: wick %s, keras %s\n' \
    "$w" "$k" "$ratio" "$(sed 's/ $//' <<<"$ratio_r")" "$EPOCHS" "$wa" "$ka"
printf 'fastest round of each side (informational; less sensitive to other load): wick %.1f, keras %.1f steps/s, ratio %.2fx\n' "$wb" "$kb" "$best_ratio"
printf 'RESULT wick_steps_per_s=%.2f keras_steps_per_s=%.2f ratio=%.3f best_round_ratio=%s wick_best_val_accuracy=%s keras_best_val_accuracy=%s rounds=%d epochs=%d\n' \
    "$w" "$k" "$ratio" "$best_ratio" "$wa" "$ka" "$ROUNDS" "$EPOCHS"
