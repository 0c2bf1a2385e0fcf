#!/usr/bin/env python3
"""Keras anchor for the depthwise-conv benchmark (crates/wick-nn/examples/bench_depthwise.rs;
see BENCHMARKS.md, section "wick-nn: depthwise conv at EfficientNet-Lite0's shapes").

The same 11 shapes as the Rust bench (batch 16, EfficientNet-Lite0 at 128x128 input), each
`keras.layers.DepthwiseConv2D(k, strides=s, padding="same", use_bias=False)` on TF CPU.
Keras is channels_last: the NCHW input is made once and transposed to NHWC outside the
timed region. One step = forward + backward of `reduce_sum(y)` into the input and the
depthwise kernel (both `tf.Variable`s), inside one `tf.function` per shape, as the Rust side
backpropagates `sum(y)` into its input and weight `Var`s. Each shape warms up with 3 steps
(the first traces the function), then runs steps for at least --seconds / 11 (and at least
5 steps); its time is the median step, and the sum over the shapes is one step.
TensorFlow keeps its default thread pools (all cores), as the Rust side uses rayon's; with
--threads N both of its pools get N threads (the Rust side then runs with RAYON_NUM_THREADS=N).

Usage: bench_depthwise_keras.py [--rounds R] [--seconds S] [--threads N]
The last line is machine-readable: `RESULT keras_ms=<median over rounds> rounds=<r1,...>`.
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
import tensorflow as tf  # noqa: E402

BATCH = 16
WARMUP = 3
# (channels, height = width, kernel, stride), as in bench_depthwise.rs.
SHAPES = [
    (32, 64, 3, 1),
    (96, 64, 3, 2),
    (144, 32, 3, 1),
    (144, 32, 5, 2),
    (240, 16, 5, 1),
    (240, 16, 3, 2),
    (480, 8, 3, 1),
    (480, 8, 5, 1),
    (672, 8, 5, 2),
    (1152, 4, 5, 1),
    (1152, 4, 3, 1),
]


def make_step(c, hw, k, s, rng):
    x_nchw = rng.standard_normal((BATCH, c, hw, hw), dtype=np.float32)
    x = tf.Variable(np.ascontiguousarray(x_nchw.transpose(0, 2, 3, 1)))
    layer = keras.layers.DepthwiseConv2D(k, strides=s, padding="same", use_bias=False)
    layer.build((BATCH, hw, hw, c))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            y = layer(x)
            loss = tf.reduce_sum(y)
        return tape.gradient(loss, [x, layer.kernel])

    return step


def time_ms(step, secs):
    for _ in range(WARMUP):
        step()
    times = []
    start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < secs:
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=0, help="TF intra- and inter-op threads (0: TF default)")
    args = ap.parse_args()
    if args.threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    rng = np.random.default_rng(0)
    steps = [(shape, make_step(*shape, rng)) for shape in SHAPES]
    per = args.seconds / len(steps)
    totals = []
    for r in range(args.rounds):
        total = 0.0
        for (c, hw, k, s), step in steps:
            ms = time_ms(step, per)
            total += ms
            print(f"round {r + 1}: [{BATCH},{c},{hw},{hw}] k{k} s{s}: keras {ms:.3f} ms", flush=True)
        totals.append(total)
        print(f"round {r + 1}: Lite0 depthwise step: keras {total:.2f} ms", flush=True)
    med = statistics.median(totals)
    print(f"RESULT keras_ms={med:.3f} rounds={','.join(f'{x:.3f}' for x in totals)}")


if __name__ == "__main__":
    main()
