#!/usr/bin/env python3
"""Keras anchor for the CNN training benchmark (`cargo bench -p wick-nn --bench cnn`;
see BENCHMARKS.md, section "wick-nn: CNN training step on the CPU").

The same model and step as crates/wick-nn/benches/cnn.rs: 64x64x3 input (channels_last,
Keras' CPU default), Conv2D(32, 3) + ReLU + MaxPooling2D(2), Conv2D(64, 3) + ReLU +
MaxPooling2D(2), Flatten (12544), Dense(128, relu), Dense(3); batch 32,
SparseCategoricalCrossentropy(from_logits=True), Adam(1e-3). Data: 8 random batches made
up front and reused in turn. Each round warms up with 5 `train_on_batch` steps, then runs
steps for at least --seconds and reports steps/s. TensorFlow keeps its default thread
pools (all cores), as the Rust side uses rayon's default pool.

Usage: bench_cnn_keras.py [--rounds R] [--seconds S]
The last line is machine-readable: `RESULT keras_steps_per_s=<median> rounds=<r1,r2,...>`.
Needs tensorflow-cpu 2.21.0 (scripts/ensure_bench_venv.sh).
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

BATCH = 32
WARMUP = 5


def build():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64, 64, 3)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(3),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=6.0)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    data = [
        (
            rng.standard_normal((BATCH, 64, 64, 3), dtype=np.float32),
            rng.integers(0, 3, BATCH).astype(np.int32),
        )
        for _ in range(8)
    ]
    model = build()
    rates = []
    for r in range(args.rounds):
        for i in range(WARMUP):
            model.train_on_batch(*data[i % 8])
        steps = 0
        start = time.perf_counter()
        while steps < 5 or time.perf_counter() - start < args.seconds:
            model.train_on_batch(*data[steps % 8])
            steps += 1
        rate = steps / (time.perf_counter() - start)
        rates.append(rate)
        print(f"round {r + 1}: keras {rate:.2f} steps/s", flush=True)
    med = statistics.median(rates)
    print(f"RESULT keras_steps_per_s={med:.3f} rounds={','.join(f'{x:.3f}' for x in rates)}")


if __name__ == "__main__":
    main()
