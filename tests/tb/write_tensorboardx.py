"""Writes a small log directory with tensorboardX, for `wick-events validate` to check.

Usage: python write_tensorboardx.py LOGDIR

Covers add_scalar (several steps, one NaN), add_histogram, add_image, add_text,
add_pr_curve and add_hparams (which writes its own sub-run).
"""

import sys

import numpy as np
from tensorboardX import SummaryWriter


def main(logdir: str) -> None:
    rng = np.random.default_rng(0)
    writer = SummaryWriter(logdir=logdir)
    for step in range(5):
        writer.add_scalar("loss", 1.0 / (step + 1), step)
    writer.add_scalar("nan_test", float("nan"), 0)
    writer.add_scalar("nan_test", 1.0, 1)
    for step in range(2):
        writer.add_histogram("weights", rng.normal(size=100) + step, step)
    image = np.zeros((3, 4, 5), dtype=np.uint8)  # CHW
    image[0] = 255
    writer.add_image("sample", image, 0)
    writer.add_text("note", "hello **markdown**", 0)
    labels = rng.integers(0, 2, size=50)
    predictions = rng.random(size=50)
    writer.add_pr_curve("pr", labels, predictions, 0, num_thresholds=11)
    writer.add_hparams({"lr": 0.1, "bs": 32, "opt": "adam"}, {"hparam/acc": 0.9}, name="hp")
    writer.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: write_tensorboardx.py LOGDIR")
    main(sys.argv[1])
