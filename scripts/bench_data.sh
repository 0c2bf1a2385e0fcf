#!/usr/bin/env bash
# Image-pipeline throughput: wick-data's ImageFolderGenerator vs Keras on the same folder of
# 2,000 synthetic 128x128 JPEGs (4 classes x 500), batch 32, one epoch, same run, same
# cores, interleaved rounds; prints images/s per round and the medians and ratios.
#
#   scripts/ensure_bench_venv.sh      # once: .venv-bench with tensorflow-cpu 2.21.0
#   scripts/bench_data.sh             # 3 interleaved rounds, pipelines a,b,elastic,a64,r64 (~3.5 min)
#   WICK_BENCH_ROUNDS=5 WICK_BENCH_EPOCHS=2 scripts/bench_data.sh
#   WICK_BENCH_PIPELINES=a,b scripts/bench_data.sh
#   WICK_BENCH_ENFORCE=1 scripts/bench_data.sh   # exit 1 if a median ratio misses its goal
#
# Pipelines (see crates/wick-data/benches/pipeline.rs and scripts/bench_data_keras.py):
#   a        decode + resize to 128x128 + batch       vs image_dataset_from_directory   goal >= 1.5x
#   b        a + flip, rotation 0.1, zoom 0.1,         vs the same Keras layers mapped     goal >= 10x
#            translation 0.1                              on batches (training=True)
#   elastic  a + elastic distortion alone              vs RandomElasticTransform           goal >= 20x
#   a64      a at a 64x64 target (exact resize)        vs image_size=(64, 64)            (no goal)
#   r64      a64 with DecodeMode::ReducedSize (JPEG    vs image_size=(64, 64), the same   goal >= 2.5x
#            DCT-scaled decode, not Keras-exact)          job as a64 (timed again)
#
# Each round runs the Rust bench (E timed epochs per pipeline, median), then the Keras
# script (same E), so both sides of a ratio see the same machine state. Both use all
# cores with their default thread pools (rayon / TF inter- and intra-op pools).
# The folder is written once by the Rust bench (wick_data::synthetic, JPEG quality 90,
# seed 0) under target/bench-data/ (or $WICK_BENCH_DATA) and reused.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${WICK_BENCH_ROUNDS:-3}
EPOCHS=${WICK_BENCH_EPOCHS:-1}
PIPELINES=${WICK_BENCH_PIPELINES:-a,b,elastic,a64,r64}
VENV=${WICK_BENCH_VENV:-.venv-bench}
PY="$VENV/bin/python"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3}

if [[ ! -x "$PY" ]] || ! "$PY" -c 'import tensorflow, keras' 2>/dev/null; then
    echo "bench_data.sh: no Python venv with tensorflow/keras at $VENV." >&2
    echo "Run scripts/ensure_bench_venv.sh first (or point WICK_BENCH_VENV at one)." >&2
    exit 2
fi

goal() { case $1 in a) echo 1.5 ;; b) echo 10 ;; elastic) echo 20 ;; r64) echo 2.5 ;; *) echo "" ;; esac; }
# Field KEY of the last RESULT line of a run's output.
field() { grep '^RESULT ' <<<"$2" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Build once, then run the binary itself, so every round times the same build.
echo "== building the bench (release profile)"
BIN=$(cargo bench -p wick-data --bench pipeline --no-run --message-format=json-render-diagnostics |
    grep '"kind":\["bench"\]' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
if [[ ! -x "$BIN" ]]; then
    echo "bench_data.sh: could not build the pipeline bench" >&2
    exit 1
fi
echo "   $BIN"
DIR_ARGS=()
[[ -n "${WICK_BENCH_DATA:-}" ]] && DIR_ARGS=(--dir "$WICK_BENCH_DATA")
prep=$("$BIN" "${DIR_ARGS[@]}" --prepare-only)
echo "== $prep"
DIR=$(sed -n 's/^folder: \(.*\) ([0-9].*$/\1/p' <<<"$prep")
[[ -d "$DIR" ]] || { echo "bench_data.sh: bench folder not found ($prep)" >&2; exit 1; }
echo "== machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $("$PY" -c 'import tensorflow as tf, keras; print("tensorflow", tf.__version__, "keras", keras.__version__)' 2>/dev/null), $(rustc --version)"
echo "== $ROUNDS interleaved rounds, $EPOCHS timed epoch(s) per pipeline per side per round, pipelines $PIPELINES"

IFS=, read -r -a PIPES <<<"$PIPELINES"
declare -A wick_r keras_r ratio_r
for ((r = 1; r <= ROUNDS; r++)); do
    rust_out=$("$BIN" "${DIR_ARGS[@]}" --epochs "$EPOCHS" --pipelines "$PIPELINES" 2>&1) || { echo "$rust_out"; exit 1; }
    keras_out=$("$PY" scripts/bench_data_keras.py "$DIR" --epochs "$EPOCHS" --pipelines "$PIPELINES" 2>&1) || { echo "$keras_out"; exit 1; }
    line="round $r (load $(cut -d' ' -f1 /proc/loadavg)):"
    for p in "${PIPES[@]}"; do
        w=$(field "$p" "$rust_out") k=$(field "$p" "$keras_out")
        ratio=$(awk -v a="$w" -v b="$k" 'BEGIN { printf "%.2f", a / b }')
        wick_r[$p]+="$w " keras_r[$p]+="$k " ratio_r[$p]+="$ratio "
        line+=$(printf ' | %s: wick %.0f, keras %.0f img/s, %sx' "$p" "$w" "$k" "$ratio")
    done
    echo "$line"
done

echo "== medians over $ROUNDS rounds (ratio = median of per-round ratios)"
missed=0
for p in "${PIPES[@]}"; do
    w=$(tr ' ' '\n' <<<"${wick_r[$p]}" | grep . | median)
    k=$(tr ' ' '\n' <<<"${keras_r[$p]}" | grep . | median)
    ratio=$(tr ' ' '\n' <<<"${ratio_r[$p]}" | grep . | median)
    g=$(goal "$p")
    verdict="no goal"
    if [[ -n "$g" ]]; then
        if awk -v r="$ratio" -v g="$g" 'BEGIN { exit !(r >= g) }'; then verdict="goal >= ${g}x: met"; else verdict="goal >= ${g}x: MISSED"; missed=1; fi
    fi
    printf '%-8s wick %6.0f img/s | keras %6.0f img/s | ratio %sx (per round: %s) | %s\n' \
        "$p" "$w" "$k" "$ratio" "$(sed 's/ $//' <<<"${ratio_r[$p]}")" "$verdict"
done

if [[ -n "${WICK_BENCH_ENFORCE:-}" && $missed -eq 1 ]]; then
    echo "bench_data.sh: a median ratio is below its goal" >&2
    exit 1
fi
