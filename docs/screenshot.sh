#!/usr/bin/env bash
# Regenerates docs/tensorboard.png: trains the demo CNN (examples/train.rs) into a temporary
# log directory, serves it with the stock TensorBoard of .venv/ and screenshots the Scalars
# dashboard with headless Chromium.
#
#   docs/screenshot.sh [train flags...]      # needs `chromium` and `pngquant` (apt-get install chromium pngquant)
#
# The Scalars dashboard is used rather than Time Series: its charts are SVG, while Time
# Series draws lines with WebGL, which headless Chromium without a GPU leaves blank.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
scripts/ensure_venv.sh
cargo build --release --example train
work=$(mktemp -d)
trap 'kill "${tb:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"
"$root/target/release/examples/train" --data data/shapes --logdir logs/fit/shapes-cnn --verbose 2 "$@"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$root/.venv/bin/tensorboard" --logdir logs/fit --host 127.0.0.1 --port "$port" >tensorboard.log 2>&1 &
tb=$!
for _ in $(seq 60); do
    curl -sf "http://127.0.0.1:$port/data/runs" | grep -q train && break
    sleep 1
done
sleep 3
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,900 \
    --virtual-time-budget=20000 --screenshot="$work/shot.png" \
    "http://127.0.0.1:$port/#scalars&tagFilter=epoch_(accuracy|loss)"
pngquant --force --output "$root/docs/tensorboard.png" 64 "$work/shot.png"
ls -l "$root/docs/tensorboard.png"
