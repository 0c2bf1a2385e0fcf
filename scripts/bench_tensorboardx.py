#!/usr/bin/env python3
"""tensorboardX `add_scalar` throughput: the anchor that wick's scalar bench is compared to.

Writes N scalars (tag "loss", value 1/(step+1), steps 0..N-1) with tensorboardX's
SummaryWriter(logdir) + add_scalar(...) + close(), timing from the writer's creation to the
end of close() -- the same span the Rust bench (crates/wick-tfevents/benches/scalars.rs)
times. Prints a human line and a machine-readable last line:

    RESULT n=... secs=... scalars_per_s=... mb_per_s=... bytes=...

Usage: python scripts/bench_tensorboardx.py [N]   (default: $WICK_BENCH_N or 300000)
Normally run through scripts/bench.sh, which runs both sides in one run.
"""
import glob
import os
import sys
import tempfile
import time

from tensorboardX import SummaryWriter, __version__ as tbx_version


def main() -> None:
    n = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WICK_BENCH_N", "300000"))
    try:
        import crc32c  # noqa: F401  # tensorboardX uses it when installed
        crc = "crc32c wheel"
    except ImportError:
        crc = "pure-Python CRC32C (no crc32c wheel)"
    with tempfile.TemporaryDirectory(prefix="wick-bench-tbx-") as logdir:
        start = time.perf_counter()
        writer = SummaryWriter(logdir)
        for step in range(n):
            writer.add_scalar("loss", 1.0 / (step + 1), step)
        writer.close()
        secs = time.perf_counter() - start
        size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(logdir, "events.out.tfevents.*")))
    rate = n / secs
    print(
        f"tensorboardX {tbx_version} add_scalar ({crc}, Python {sys.version.split()[0]}): "
        f"{n} scalars in {secs:.2f} s = {rate:,.0f} scalars/s ({1e6 / rate:.1f} us/scalar), "
        f"{size / secs / 1e6:.2f} MB/s ({size} bytes)"
    )
    print(f"RESULT n={n} secs={secs:.4f} scalars_per_s={rate:.1f} mb_per_s={size / secs / 1e6:.3f} bytes={size}")


if __name__ == "__main__":
    main()
