#!/usr/bin/env python3
"""Keras anchor for the demo-training benchmark (scripts/bench_demo.sh).

Trains, with `model.fit(train, validation_data=val, epochs=E, verbose=2)`, the same model
on the same data as `examples/train.rs` with its defaults (crates/wick-demo/src/model.rs,
crates/wick-demo/src/data.rs), channels_last (Keras' CPU default):

  data   keras.utils.image_dataset_from_directory(DIR, validation_split=0.2,
         subset="both", seed=SEED, image_size=(32, 32), batch_size=32)
         (int labels, bilinear resize without antialiasing, training part reshuffled every
         epoch); training batches then go through
         .map(aug(x, training=True), num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE) with
         aug = Sequential([RandomFlip("horizontal"), RandomTranslation(0.05, 0.05)])
         (fill_mode "reflect", Keras' default, as wick's "light" augmentation)
  model  tf.image.per_image_standardization (a small layer; wick's InputScaling::Standardize)
         Conv2D(32, 3, relu) + MaxPooling2D(2), Conv2D(64, 3, relu) + MaxPooling2D(2),
         GlobalMaxPooling2D, Dense(128, relu), Dense(num_classes) (logits); Glorot-uniform
         weights, zero biases
  train  Adam(1e-3) (Keras defaults otherwise), SparseCategoricalCrossentropy(from_logits=True),
         metrics=["accuracy"]; no callbacks besides Keras' own progress bar and History

Output: Keras' verbose=2 lines (`Epoch k/E` at the start of an epoch, `100/100 - 2s -
15ms/step - accuracy: ... - val_loss: ...` at its end; run with PYTHONUNBUFFERED=1 so a
pipe sees each line when it is printed: bench_demo.sh timestamps them), then
`EPOCH_SECONDS s1,s2,...`: each epoch's wall time measured in-process by a callback
(time.perf_counter in on_epoch_begin / on_epoch_end, validation included; a cross-check of
the timestamps), and finally
`RESULT steps=<training steps per epoch> best_val_accuracy=<max over epochs>`.
TensorFlow keeps its default thread pools (all cores), as wick uses rayon's default pool.

Usage: bench_demo_keras.py DIR [--epochs E] [--seed S]
Needs tensorflow-cpu 2.21.0 (scripts/ensure_bench_venv.sh).
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

SIZE = 32
BATCH = 32
VALIDATION_SPLIT = 0.2


class PerImageStandardization(keras.layers.Layer):
    """tf.image.per_image_standardization: (x - mean) / max(std, 1/sqrt(n)) per image."""

    def call(self, x):
        return tf.image.per_image_standardization(x)


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def build(num_classes):
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            PerImageStandardization(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.GlobalMaxPooling2D(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(num_classes),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    keras.utils.set_random_seed(args.seed)
    train, val = keras.utils.image_dataset_from_directory(
        args.dir,
        validation_split=VALIDATION_SPLIT,
        subset="both",
        seed=args.seed,
        image_size=(SIZE, SIZE),
        batch_size=BATCH,
    )
    num_classes = len(train.class_names)
    steps = int(train.cardinality())
    aug = keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=args.seed),
            keras.layers.RandomTranslation(0.05, 0.05, fill_mode="reflect", seed=args.seed),
        ]
    )
    train = train.map(
        lambda x, y: (aug(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE
    ).prefetch(tf.data.AUTOTUNE)

    model = build(num_classes)
    print(
        f"tensorflow {tf.__version__}, keras {keras.__version__}, {num_classes} classes, "
        f"{steps} training steps per epoch, batch {BATCH}, {SIZE}x{SIZE} px, "
        f"{model.count_params()} parameters",
        flush=True,
    )
    timer = EpochTimer()
    history = model.fit(train, validation_data=val, epochs=args.epochs, verbose=2, callbacks=[timer])
    print("EPOCH_SECONDS " + ",".join(f"{s:.4f}" for s in timer.seconds))
    best = max(history.history["val_accuracy"])
    print(f"RESULT steps={steps} best_val_accuracy={best:.4f}")


if __name__ == "__main__":
    main()
