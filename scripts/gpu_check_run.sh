#!/usr/bin/env bash
# The device side of scripts/gpu_check.sh, packed beside the binaries as run.sh:
#
#     bash run.sh cuda     # on the GPU machine
#     bash run.sh cpu      # dry run (gpu_check.sh --dry-run sets the library path)
#
# Runs every part even when one fails, writes each part's output and a summary
# (summary.md, summary.json) under $OUT (default: ./out beside this script), and exits
# non-zero when any part failed. Parts:
#   device       the device tests (tests/device.rs) with WICK_TEST_DEVICE
#   conformance  the Keras conformance runner on the device + compare.py (its tolerances:
#                rtol 1e-4, atol 1e-5, the same for every section as on the CPU)
#   train        the train example on the generated shapes; passes at val_accuracy >= 0.90
#   bench        demo CNN training steps/s, wick (float32, mixed_bfloat16 when the build
#                has it) vs PyTorch eager, batch 32 and 256
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DEVICE="${1:-cuda}"
OUT="${OUT:-$HERE/out}"
TRAIN_EPOCHS="${WICK_CHECK_EPOCHS:-30}"
BENCH_STEPS="${WICK_CHECK_BENCH_STEPS:-50}"
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ "$DEVICE" = cuda ]; then
    # The CUDA/NCCL libraries of the machine's Python packages (no system toolkit there).
    SITE=$(python3 -c 'import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))' 2>/dev/null || true)
    if [ -n "$SITE" ]; then
        LIBS=$(ls -d "$SITE"/nvidia/*/lib 2>/dev/null | paste -sd: -)
        export LD_LIBRARY_PATH="$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    fi
    nvidia-smi -L >"$OUT/gpu.txt" 2>&1 || true
fi

for bin in device train keras_conformance bench_steps; do
    xz -dc "$HERE/$bin.xz" >"$WORK/$bin" && chmod +x "$WORK/$bin"
done

SUMMARY="$OUT/summary.md"
FAILED=0
echo "# wick device check on $DEVICE ($(date -u +%Y-%m-%dT%H:%MZ))" >"$SUMMARY"
echo >>"$SUMMARY"
echo "| part | status | seconds | detail |" >>"$SUMMARY"
echo "|---|---|---|---|" >>"$SUMMARY"
PARTS="$OUT/parts.tsv"
: >"$PARTS"
row() {
    echo "| $1 | $2 | $3 | $4 |" >>"$SUMMARY"
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$PARTS"
    [ "$2" = ok ] || FAILED=1
}

# 1. Device tests.
t0=$(date +%s)
WICK_TEST_DEVICE="$DEVICE" "$WORK/device" --test-threads 1 >"$OUT/device.log" 2>&1
rc=$?
row device "$([ $rc = 0 ] && echo ok || echo "FAILED rc=$rc")" $(($(date +%s) - t0)) "$(grep -E '^test result' "$OUT/device.log" | tail -n 1)"

# 2. Conformance runner on the device.
t0=$(date +%s)
WICK_TEST_DEVICE="$DEVICE" "$WORK/keras_conformance" "$HERE/keras_golden.json" "$OUT/conformance.json" >"$OUT/conformance.log" 2>&1 &&
    python3 "$HERE/compare.py" "$HERE/keras_golden.json" "$OUT/conformance.json" >>"$OUT/conformance.log" 2>&1
rc=$?
row conformance "$([ $rc = 0 ] && echo ok || echo "FAILED rc=$rc")" $(($(date +%s) - t0)) "$(tail -n 1 "$OUT/conformance.log")"

# 3. The train example, generated shapes, to >= 90 % validation accuracy.
t0=$(date +%s)
"$WORK/train" --device "$DEVICE" --data "$WORK/shapes" --generate --logdir "$WORK/run" --epochs "$TRAIN_EPOCHS" --verbose 2 \
    >"$OUT/train.log" 2>&1
rc=$?
acc=$(grep -o 'val_accuracy [0-9.]*' "$OUT/train.log" | tail -n 1 | cut -d' ' -f2)
ok=$(python3 -c "import sys; print('ok' if $rc == 0 and float('${acc:-0}') >= 0.90 else 'FAILED')")
row train "$ok" $(($(date +%s) - t0)) "best val_accuracy ${acc:-none} after up to $TRAIN_EPOCHS epochs (rc=$rc)"

# 4. Steps/s, wick vs PyTorch eager, batch 32 and 256.
t0=$(date +%s)
: >"$OUT/bench.jsonl"
bench_rc=0
precisions="float32"
if "$WORK/bench_steps" --help 2>/dev/null | grep -q -- --precision; then
    precisions="float32 mixed_bfloat16"
fi
for batch in 32 256; do
    for precision in $precisions; do
        extra=()
        [ "$precision" = float32 ] || extra=(--precision "$precision")
        "$WORK/bench_steps" --device "$DEVICE" --batch-size $batch --steps "$BENCH_STEPS" "${extra[@]}" \
            >>"$OUT/bench.jsonl" 2>>"$OUT/bench.log" || bench_rc=1
        python3 "$HERE/bench_steps_torch.py" --device "$DEVICE" --batch-size $batch --steps "$BENCH_STEPS" \
            --precision "$precision" >>"$OUT/bench.jsonl" 2>>"$OUT/bench.log"
        trc=$?
        if [ $trc = 3 ]; then
            echo "PyTorch is not importable on this machine: the reference side is skipped" >>"$OUT/bench.log"
        elif [ $trc != 0 ]; then
            bench_rc=1
        fi
    done
done
python3 - "$OUT/bench.jsonl" >"$OUT/bench.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
by = {}
for r in rows:
    by.setdefault((r["batch"], r["precision"]), {})[r["impl"]] = r["steps_per_s"]
print("| batch | precision | wick steps/s | PyTorch eager steps/s | wick / PyTorch |")
print("|---|---|---|---|---|")
for (b, p), v in sorted(by.items()):
    w, t = v.get("wick"), v.get("pytorch")
    ratio = f"{w / t:.2f}" if w and t else "n/a"
    print(f"| {b} | {p} | {w if w else 'n/a'} | {t if t else 'n/a'} | {ratio} |")
PY
row bench "$([ $bench_rc = 0 ] && echo ok || echo FAILED)" $(($(date +%s) - t0)) "see bench.md"

{
    echo
    cat "$OUT/bench.md"
} >>"$SUMMARY"
python3 - "$PARTS" "$OUT/summary.json" "$OUT/bench.jsonl" "$DEVICE" <<'PY'
import json, sys
parts_tsv, out, bench, device = sys.argv[1:]
keys = ("part", "status", "seconds", "detail")
parts = [dict(zip(keys, l.rstrip("\n").split("\t"))) for l in open(parts_tsv) if l.strip()]
rows = [json.loads(l) for l in open(bench) if l.strip().startswith("{")]
json.dump({"device": device, "parts": parts, "bench": rows}, open(out, "w"), indent=1)
PY
cat "$SUMMARY"
exit $FAILED
