#!/usr/bin/env python3
"""Keras anchor for the EfficientNet-Lite0 training benchmark
(`cargo bench -p wick-models --bench lite0`; see BENCHMARKS.md, section "wick-models:
EfficientNet-Lite0 training step on the CPU").

The same architecture as wick-models' `EfficientNetLite0` + a 10-class Dense head, built
from Keras layers, channels_last (Keras' CPU default), random weights: stem
Conv2D(32, 3, strides=2, "same", no bias) + BatchNormalization(epsilon=1e-3,
momentum=0.99) + ReLU(max_value=6); the 16 MBConv blocks of BLOCKS below, each [Conv2D 1x1
+ BN + ReLU6 when expand > 1], DepthwiseConv2D(k, strides, "same", no bias) + BN + ReLU6,
Conv2D 1x1 + BN, and Add when stride 1 and in == out; head Conv2D(1280, 1) + BN + ReLU6,
GlobalAveragePooling2D, Dense(10). Step: `train_on_batch` with Adam(1e-3) and
SparseCategoricalCrossentropy(from_logits=True); the whole backbone trains (batch norms in
training mode). Data: 8 random batches of 16x128x128x3 pixels in [-1, 1] and labels in
0..10, made up front and reused. Each round warms up with 3 steps, then runs steps for at
least --seconds. TensorFlow keeps its default thread pools (all cores), as the Rust side
uses rayon's default pool.

Usage: bench_lite0_keras.py [--rounds R] [--seconds S]
Prints the parameter count (total incl. moving statistics, and trainable; they should equal
the Rust bench's). The last line is machine-readable:
`RESULT keras_steps_per_s=<median> keras_ms_per_step=<ms> params=<n> rounds=<r1,r2,...>`.
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

BATCH = 16
SIZE = 128
CLASSES = 10
WARMUP = 3
# (expand, kernel, stride, in, out) of the 16 blocks, as wick-models' lite0_blocks().
BLOCKS = (
    [(1, 3, 1, 32, 16), (6, 3, 2, 16, 24), (6, 3, 1, 24, 24), (6, 5, 2, 24, 40), (6, 5, 1, 40, 40)]
    + [(6, 3, 2, 40, 80)]
    + [(6, 3, 1, 80, 80)] * 2
    + [(6, 5, 1, 80, 112)]
    + [(6, 5, 1, 112, 112)] * 2
    + [(6, 5, 2, 112, 192)]
    + [(6, 5, 1, 192, 192)] * 3
    + [(6, 3, 1, 192, 320)]
)
L = keras.layers


def bn(x, relu6=True):
    x = L.BatchNormalization(epsilon=1e-3, momentum=0.99)(x)
    return L.ReLU(max_value=6)(x) if relu6 else x


def mbconv(x, expand, kernel, stride, cin, cout):
    h = x
    if expand > 1:
        h = bn(L.Conv2D(cin * expand, 1, use_bias=False)(h))
    h = bn(L.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False)(h))
    h = bn(L.Conv2D(cout, 1, use_bias=False)(h), relu6=False)
    if stride == 1 and cin == cout:
        h = L.Add()([h, x])
    return h


def build():
    keras.utils.set_random_seed(0)
    inp = keras.Input((SIZE, SIZE, 3))
    x = bn(L.Conv2D(32, 3, strides=2, padding="same", use_bias=False)(inp))
    for spec in BLOCKS:
        x = mbconv(x, *spec)
    x = bn(L.Conv2D(1280, 1, use_bias=False)(x))
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(CLASSES)(x)
    model = keras.Model(inp, out, name="efficientnet_lite0_keras")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    data = [
        (
            rng.uniform(-1.0, 1.0, (BATCH, SIZE, SIZE, 3)).astype(np.float32),
            rng.integers(0, CLASSES, BATCH).astype(np.int32),
        )
        for _ in range(8)
    ]
    model = build()
    total = model.count_params()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    wick_total = 3_413_024 + 1280 * CLASSES + CLASSES
    print(
        f"params: total {total} (incl. moving statistics), trainable {trainable}; "
        f"wick's backbone 3413024 + head {1280 * CLASSES + CLASSES} = {wick_total}: "
        f"{'equal' if total == wick_total else 'DIFFERENT'}",
        flush=True,
    )
    rates = []
    for r in range(args.rounds):
        for i in range(WARMUP):
            model.train_on_batch(*data[i % 8])
        steps = 0
        start = time.perf_counter()
        while steps < 3 or time.perf_counter() - start < args.seconds:
            model.train_on_batch(*data[steps % 8])
            steps += 1
        rate = steps / (time.perf_counter() - start)
        rates.append(rate)
        print(f"round {r + 1}: keras {rate:.3f} steps/s ({1e3 / rate:.1f} ms/step)", flush=True)
    med = statistics.median(rates)
    print(
        f"RESULT keras_steps_per_s={med:.4f} keras_ms_per_step={1e3 / med:.2f} params={total} "
        f"trainable={trainable} rounds={','.join(f'{x:.4f}' for x in rates)}"
    )


if __name__ == "__main__":
    main()
