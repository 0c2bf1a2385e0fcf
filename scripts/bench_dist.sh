#!/usr/bin/env bash
# Data-parallel benchmark on this machine: the demo CNN (`train`, default data, global
# batch 32) with 1 process × all cores against N ranks × (cores / N) threads, and the
# host all-reduce of the model's gradient size over N ranks. Prints a markdown table.
#
#     scripts/bench_dist.sh [ranks (default 2)] [epochs (default 3)]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RANKS="${1:-2}"
EPOCHS="${2:-3}"
CORES=$(nproc)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cargo build --release --quiet --features mpi --example train
cargo build --release --quiet -p wick-dist --features mpi --example allreduce
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Seconds of `fit` as train reports them ("Trained N epoch(s) in X s").
fit_seconds() { sed -n 's/^Trained [0-9]* epoch(s) in \([0-9.]*\) s.*/\1/p'; }
accuracy() { sed -n 's/.*val_accuracy \([0-9.]*\)).*/\1/p'; }
STEPS_PER_EPOCH=$(( (1000 * 4 * 8 / 10 + 31) / 32 ))   # 4 classes × 1000, 80 % training, batch 32

one=$(RAYON_NUM_THREADS=$CORES target/release/examples/train --epochs "$EPOCHS" --patience 100 --verbose 0 --logdir "$WORK/one" 2>&1)
many=$(mpirun -np "$RANKS" --oversubscribe -x RAYON_NUM_THREADS=$((CORES / RANKS > 0 ? CORES / RANKS : 1)) \
    target/release/examples/train --distributed --epochs "$EPOCHS" --patience 100 --verbose 0 --logdir "$WORK/many" 2>&1)
t1=$(echo "$one" | fit_seconds)
tn=$(echo "$many" | fit_seconds)
PARAMS=$(python3 -c "
import json, struct, sys
b = open('$WORK/one/checkpoints/best.safetensors', 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n]); h.pop('__metadata__', None)
print(sum(eval('*'.join(map(str, v['shape'])) or '1') for v in h.values()))")
ar=$(mpirun -np "$RANKS" --oversubscribe -x RAYON_NUM_THREADS=1 target/release/examples/allreduce --floats "$PARAMS" --rounds 100)
ms=$(echo "$ar" | sed -n 's/.*ms_per_allreduce \([0-9.]*\).*/\1/p')
bus=$(echo "$ar" | sed -n 's/.*bus_gb_per_s \([0-9.]*\).*/\1/p')
steps=$((STEPS_PER_EPOCH * EPOCHS))
python3 - "$t1" "$tn" "$steps" "$ms" "$PARAMS" "$RANKS" "$CORES" "$bus" "$(echo "$one" | accuracy)" "$(echo "$many" | accuracy)" <<'PY'
import sys
t1, tn, steps, ms, params, ranks, cores, bus, acc1, accn = sys.argv[1:]
t1, tn, steps, ms, params, ranks, cores = float(t1), float(tn), int(steps), float(ms), int(params), int(ranks), int(cores)
print(f"| layout | fit s | steps/s | images/s | best val_accuracy |")
print(f"|---|---|---|---|---|")
print(f"| 1 process x {cores} threads | {t1:.1f} | {steps / t1:.1f} | {steps * 32 / t1:.0f} | {acc1} |")
print(f"| {ranks} ranks x {max(cores // ranks, 1)} thread(s) | {tn:.1f} | {steps / tn:.1f} | {steps * 32 / tn:.0f} | {accn} |")
print()
print(f"ratio {ranks} ranks / 1 process: {t1 / tn:.2f}x steps/s")
print(f"gradient all-reduce: {params} floats = {params * 4} bytes, {ms:.3f} ms per step over {ranks} ranks "
      f"(bus {bus} GB/s), {ms / (1e3 * tn / steps) * 100:.1f} % of a {ranks}-rank step ({1e3 * tn / steps:.2f} ms)")
PY
