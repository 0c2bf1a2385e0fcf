#!/usr/bin/env python3
"""Training steps/s of the demo CNN in PyTorch eager: the reference side of the device
check's comparison with `examples/bench_steps.rs` (same model, batch, loss, optimizer,
timing).

Model (the `train` example's default, wick_demo::CnnConfig::new): per-image
standardisation, conv 3x3 (32) + ReLU + 2x2 max pool, conv 3x3 (64) + ReLU + 2x2 max pool,
global max pool, dense 128 + ReLU, dense `classes` (logits); sparse categorical
cross-entropy from logits; Adam (lr 1e-3, Keras' epsilon 1e-7). The random images stay on
the device; each epoch shuffles them, runs `steps` batches, and keeps the running loss and
accuracy totals on the device, reading them once at the epoch end (as wick's fit does when
no callback needs batch logs). `--warmup` epochs are not timed.

    python3 scripts/bench_steps_torch.py --device cuda --batch-size 256 [--precision mixed_bfloat16]

`mixed_bfloat16` runs forward and loss under `torch.autocast(dtype=torch.bfloat16)`
(weights and optimizer in float32), PyTorch's counterpart of Keras' policy.
Prints one JSON line like bench_steps.
"""
import argparse
import json
import sys
import time


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--classes", type=int, default=4)
    p.add_argument("--precision", default="float32", choices=["float32", "mixed_bfloat16"])
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    try:
        import torch
        from torch import nn
    except ImportError as e:
        print(f"bench_steps_torch: PyTorch is not importable here ({e})", file=sys.stderr)
        return 3

    torch.manual_seed(a.seed)
    dev = torch.device(a.device)

    class Cnn(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 32, 3)
            self.conv2 = nn.Conv2d(32, 64, 3)
            self.fc1 = nn.Linear(64, 128)
            self.fc2 = nn.Linear(128, a.classes)

        def forward(self, x):
            flat = x.flatten(1)
            n = flat.shape[1]
            centred = flat - flat.mean(1, keepdim=True)
            std = centred.pow(2).mean(1, keepdim=True).sqrt().clamp_min(1.0 / n**0.5)
            x = (centred / std).reshape(x.shape)
            x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
            x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
            x = x.flatten(2).amax(2)
            return self.fc2(torch.relu(self.fc1(x)))

    model = Cnn().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    n = a.batch_size * a.steps
    x = torch.rand(n, 3, a.image_size, a.image_size, device=dev) * 255.0
    y = (torch.arange(n, device=dev) % a.classes).long()
    autocast = a.precision == "mixed_bfloat16"

    def epoch():
        perm = torch.randperm(n, device=dev)
        loss_sum = torch.zeros((), device=dev, dtype=torch.float64)
        hits = torch.zeros((), device=dev, dtype=torch.float64)
        for k in range(a.steps):
            idx = perm[k * a.batch_size : (k + 1) * a.batch_size]
            xb, yb = x[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=autocast):
                logits = model(xb)
            loss = loss_fn(logits.float(), yb)
            loss.backward()
            opt.step()
            loss_sum += loss.detach().double() * a.batch_size
            hits += (logits.detach().argmax(1) == yb).double().sum()
        # The epoch-end read (a sync), like wick's epoch logs.
        return loss_sum.item() / n, hits.item() / n

    for _ in range(a.warmup):
        epoch()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(a.epochs):
        epoch()
    seconds = time.perf_counter() - start
    steps = a.steps * a.epochs
    print(json.dumps({
        "impl": "pytorch", "device": a.device, "batch": a.batch_size, "precision": a.precision,
        "steps": steps, "seconds": round(seconds, 4), "steps_per_s": round(steps / seconds, 2),
        "torch": torch.__version__,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
