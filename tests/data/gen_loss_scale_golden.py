"""Writes tests/data/loss_scale_golden.json: Keras 3's LossScaleOptimizer, step by step.

Each scenario wraps a Keras optimizer in `keras.optimizers.LossScaleOptimizer` and calls
`apply(grads, [w, b])` once per scripted step with the gradients a backward pass of the
*scaled* loss would give: true gradients (seeded) times the current loss scale, with an
inf or NaN planted in the steps marked non-finite. After every step the file records the
loss scale (`dynamic_scale`), `step_counter`, the inner optimizer's `iterations`,
`scale_loss(1.5)` and the variables, all as Keras (TensorFlow backend, float32) has them.

Run once, with Keras 3 / TensorFlow 2.21 (scripts/ensure_bench_venv.sh makes .venv-bench):

    .venv-bench/bin/python tests/data/gen_loss_scale_golden.py tests/data/loss_scale_golden.json

crates/wick-optim/tests/loss_scale.rs replays the same gradients and compares.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import keras  # noqa: E402

W0 = np.array([[0.5, -0.3, 0.8], [-1.2, 0.05, 0.0]], dtype=np.float32)
B0 = np.array([0.1, -0.2, 0.3], dtype=np.float32)


def f64s(a):
    return [float(x) for x in np.asarray(a, dtype=np.float32).ravel()]


def jsonable(x):
    """Floats for JSON: inf and NaN as strings (JSON has no literal for them)."""
    if np.isnan(x):
        return "nan"
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(x)


def inner(spec):
    kind = spec["kind"]
    kwargs = {k: v for k, v in spec.items() if k != "kind"}
    if kind == "SGD":
        return keras.optimizers.SGD(**kwargs)
    if kind == "Adam":
        return keras.optimizers.Adam(**kwargs)
    raise ValueError(kind)


def scenario(name, inner_spec, plan, initial_scale=2.0**15, dynamic_growth_steps=3, seed=0):
    """`plan` is a string: 'F' a finite step, 'I' +inf, 'M' -inf, 'N' NaN in one gradient."""
    rng = np.random.default_rng(seed)
    w = keras.Variable(W0.copy(), name="kernel")
    b = keras.Variable(B0.copy(), name="bias")
    opt = keras.optimizers.LossScaleOptimizer(
        inner(inner_spec), initial_scale=initial_scale, dynamic_growth_steps=dynamic_growth_steps
    )
    opt.build([w, b])
    steps = []
    for i, kind in enumerate(plan):
        scale = np.float32(opt.dynamic_scale.numpy())
        gw = (rng.uniform(-1, 1, size=(2, 3)).astype(np.float32) * scale).astype(np.float32)
        gb = (rng.uniform(-1, 1, size=(3,)).astype(np.float32) * scale).astype(np.float32)
        bad = {"I": np.inf, "M": -np.inf, "N": np.nan}.get(kind)
        if bad is not None:
            # Alternate which tensor holds it, and where.
            if i % 2 == 0:
                gw[i % 2, i % 3] = bad
            else:
                gb[i % 3] = bad
        opt.apply([keras.ops.convert_to_tensor(gw), keras.ops.convert_to_tensor(gb)], [w, b])
        steps.append(
            {
                "kind": kind,
                "grads": [jsonable(x) for x in np.concatenate([gw.ravel(), gb.ravel()])],
                "dynamic_scale": float(opt.dynamic_scale.numpy()),
                "step_counter": int(opt.step_counter.numpy()),
                "iterations": int(opt.iterations.numpy()),
                "scale_loss_1_5": float(keras.ops.convert_to_numpy(opt.scale_loss(np.float32(1.5)))),
                "variables": f64s(w.numpy()) + f64s(b.numpy()),
            }
        )
    return {
        "name": name,
        "inner": inner_spec,
        "initial_scale": initial_scale,
        "dynamic_growth_steps": dynamic_growth_steps,
        "inner_loss_scale_factor_after_wrap": opt.inner_optimizer.loss_scale_factor,
        "init": f64s(W0) + f64s(B0),
        "steps": steps,
    }


def default_growth():
    """Keras' defaults (2**15, 2000) over 2003 finite steps and then the non-finite ones:
    only the scale, counter and iterations at the steps where something happens."""
    w = keras.Variable(np.zeros((1,), dtype=np.float32), name="w")
    opt = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(learning_rate=0.0))
    opt.build([w])
    plan = "F" * 2003 + "N" + "F" * 1999 + "F" + "I"
    record = {0, 1, 1998, 1999, 2000, 2001, 2002, 2003, 2004, 4001, 4002, 4003, 4004}
    out = []
    g_ok = keras.ops.convert_to_tensor(np.ones((1,), dtype=np.float32))
    for i, kind in enumerate(plan):
        g = g_ok if kind == "F" else keras.ops.convert_to_tensor(np.array([np.nan if kind == "N" else np.inf], dtype=np.float32))
        opt.apply([g], [w])
        if i in record:
            out.append(
                {
                    "step": i,
                    "kind": kind,
                    "dynamic_scale": float(opt.dynamic_scale.numpy()),
                    "step_counter": int(opt.step_counter.numpy()),
                    "iterations": int(opt.iterations.numpy()),
                }
            )
    return {"plan_runs": [["F", 2003], ["N", 1], ["F", 2000], ["I", 1]], "records": out}


def main(path):
    data = {
        "generator": "tests/data/gen_loss_scale_golden.py",
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "scenarios": [
            scenario("adam_growth3", {"kind": "Adam", "learning_rate": 0.01}, "FFFFNFFFIFMNFFFFFF", seed=1),
            scenario("sgd_growth1", {"kind": "SGD", "learning_rate": 0.1}, "FFNFFIF", dynamic_growth_steps=1, seed=2),
            scenario(
                "sgd_inner_loss_scale_factor_cleared",
                {"kind": "SGD", "learning_rate": 0.1, "loss_scale_factor": 4.0},
                "FFFNF",
                initial_scale=8.0,
                seed=3,
            ),
            scenario(
                "sgd_momentum_underflow",
                {"kind": "SGD", "learning_rate": 0.05, "momentum": 0.9},
                "NNNNFFF",
                initial_scale=2.0,
                dynamic_growth_steps=2,
                seed=4,
            ),
        ],
        "default_growth": default_growth(),
    }
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/loss_scale_golden.json")
