#!/usr/bin/env python3
"""Keras anchor for the data-pipeline benchmark (scripts/bench_data.sh; see BENCHMARKS.md).

Times one epoch (every batch iterated) of, on the folder written by
`cargo bench -p wick-data --bench pipeline` (4 classes x 500 JPEGs, 128x128):

  a        keras.utils.image_dataset_from_directory(dir, image_size=(128, 128), batch_size=32)
           (decode + resize + batch; int labels, shuffled, Keras' own parallel map + prefetch)
  b        a, then .map(Sequential([RandomFlip("horizontal"), RandomRotation(0.1),
           RandomZoom(0.1), RandomTranslation(0.1, 0.1)])(x, training=True),
           num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE): the layers mapped on batches
  elastic  RandomElasticTransform(factor=(1, 1), scale=(1, 1)) mapped on batches (always
           applied, alpha = 12.8, sigma = 6.4 px: the parameters the Rust bench uses). Keras
           3.15.1's TF elastic_transform reads the *static* batch size; in a tf.data map over
           image_dataset_from_directory it is None, and the layer then warps only the first
           image of each batch and broadcasts it over the batch (wrong output, 1/32 of the
           work). So this row batches with a static size: image_dataset_from_directory(
           batch_size=None).batch(32, drop_remainder=True), i.e. 62 batches, 1,984 images.
  a64      a with image_size=(64, 64): full-size decode, then bilinear resize to 64x64
  r64      the same Keras job as a64 (Keras has no reduced-size decode); timed again as
           the anchor of wick's DecodeMode::ReducedSize pipeline at 64x64

Each pipeline's dataset is built once (not timed), warmed up with 3 batches, then
--epochs full epochs are timed and the median images/s is printed. TensorFlow keeps its
default thread pools (all cores), as the Rust side uses rayon's default pool.

Usage: bench_data_keras.py DIR [--epochs E] [--pipelines a,b,elastic]
The last line is machine-readable: `RESULT a=... b=... elastic=...` (images/s).
Needs tensorflow-cpu 2.21.0 (scripts/ensure_bench_venv.sh).
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

SIZE = 128
BATCH = 32
WARMUP_BATCHES = 3


PIPELINES = ("a", "b", "elastic", "a64", "r64")


def base_dataset(folder, static_batch=False, size=SIZE):
    if static_batch:
        ds = keras.utils.image_dataset_from_directory(
            folder, image_size=(size, size), batch_size=None, verbose=False
        )
        return ds.batch(BATCH, drop_remainder=True)
    return keras.utils.image_dataset_from_directory(
        folder, image_size=(size, size), batch_size=BATCH, verbose=False
    )


def augmentation(pipeline):
    if pipeline == "b":
        return keras.Sequential(
            [
                keras.layers.RandomFlip("horizontal"),
                keras.layers.RandomRotation(0.1),
                keras.layers.RandomZoom(0.1),
                keras.layers.RandomTranslation(0.1, 0.1),
            ]
        )
    if pipeline == "elastic":
        return keras.Sequential(
            [keras.layers.RandomElasticTransform(factor=(1.0, 1.0), scale=(1.0, 1.0))]
        )
    return None


def dataset(folder, pipeline):
    size = SIZE // 2 if pipeline in ("a64", "r64") else SIZE
    ds = base_dataset(folder, static_batch=(pipeline == "elastic"), size=size)
    aug = augmentation(pipeline)
    if aug is not None:
        ds = ds.map(
            lambda x, y: (aug(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE
        ).prefetch(tf.data.AUTOTUNE)
    return ds


def epoch(ds, max_batches=None):
    images = 0
    for i, (x, _y) in enumerate(ds):
        if max_batches is not None and i >= max_batches:
            break
        images += int(x.shape[0])
    return images


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir")
    parser.add_argument("--epochs", type=int, default=int(os.environ.get("WICK_BENCH_EPOCHS", "1")))
    parser.add_argument("--pipelines", default=",".join(PIPELINES))
    args = parser.parse_args()
    pipelines = args.pipelines.split(",")
    for p in pipelines:
        if p not in PIPELINES:
            parser.error(f"unknown pipeline {p!r} ({', '.join(PIPELINES)})")

    print(
        f"tensorflow {tf.__version__}, keras {keras.__version__}, batch {BATCH}, "
        f"{args.epochs} timed epoch(s) per pipeline after a {WARMUP_BATCHES}-batch warm-up"
    )
    results = []
    for p in pipelines:
        ds = dataset(args.dir, p)
        epoch(ds, WARMUP_BATCHES)
        rates = []
        for _ in range(args.epochs):
            start = time.perf_counter()
            n = epoch(ds)
            secs = time.perf_counter() - start
            expected = 2000 - 2000 % BATCH if p == "elastic" else 2000
            assert n == expected, f"expected {expected} images per epoch, saw {n}"
            rates.append(n / secs)
        med = statistics.median(rates)
        print(f"{p:>8}: {med:8.0f} images/s (epochs: {', '.join(f'{r:.0f}' for r in rates)})")
        results.append(f"{p}={med:.1f}")
    print("RESULT " + " ".join(results))


if __name__ == "__main__":
    main()
