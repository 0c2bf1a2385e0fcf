//! Shared fixture of the Keras golden tests of the update rules: the initial variables,
//! the gradients of the first three golden steps, and the helper that replays them.

use candle_core::{Device, Result, Tensor, Var};

use crate::rule::UpdateRule;

pub(super) const W0: [f32; 6] = [0.5, -0.3, 0.8, -1.2, 0.05, 0.0];
pub(super) const B0: [f32; 3] = [0.1, -0.2, 0.3];
/// Gradients `[w (2x3), b (3)]` of the first three golden steps.
pub(super) const GRADS: [([f32; 6], [f32; 3]); 3] = [
    ([0.15235855, -0.51999205, 0.3752256, 0.47028235, -0.9755176, -0.6510897], [0.0639202, -0.1581213, -0.008400579]),
    ([-0.42652196, 0.439699, 0.38889596, 0.033015348, 0.5636206, 0.23375466], [-0.42964622, 0.18437539, -0.47944131]),
    ([0.43922514, 0.0, -0.09243118, -0.34046477, 0.61127067, -0.07726474], [-0.21416391, -0.17606677, 0.2661546]),
];

/// Runs `expected.len()` steps of `rule` on the golden `w` (2x3) and `b` (3), as the
/// generic optimizer does (`begin_step(t)`, then `update` per variable), and checks
/// every value with rtol 1e-4, atol 1e-5. Returns the largest absolute difference.
pub(super) fn check_golden<R: UpdateRule>(
    config: &str,
    rule: &mut R,
    lr: f64,
    expected: &[([f32; 6], [f32; 3])],
) -> Result<f32> {
    let dev = Device::Cpu;
    let vars = [
        Var::from_tensor(&Tensor::from_slice(&W0, (2, 3), &dev)?)?,
        Var::from_tensor(&Tensor::from_slice(&B0, 3, &dev)?)?,
    ];
    let slots = vars.iter().map(|v| rule.init_slots(v.as_tensor())).collect::<Result<Vec<_>>>()?;
    let slots: Vec<Vec<Var>> = slots.into_iter().map(|s| s.into_iter().map(|(_, v)| v).collect()).collect();
    let mut max_diff = 0f32;
    for (i, (want_w, want_b)) in expected.iter().enumerate() {
        let t = i as u64 + 1;
        let (gw, gb) = &GRADS[i];
        let grads = [Tensor::from_slice(gw, (2, 3), &dev)?, Tensor::from_slice(gb, 3, &dev)?];
        rule.begin_step(t)?;
        for ((var, grad), s) in vars.iter().zip(&grads).zip(&slots) {
            rule.update(var, grad, s, lr, t)?;
        }
        let wants: [&[f32]; 2] = [want_w, want_b];
        for (var, want) in vars.iter().zip(wants) {
            let got = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            for (j, (g, w)) in got.iter().zip(want).enumerate() {
                let d = (g - w).abs();
                max_diff = max_diff.max(d);
                assert!(d <= 1e-5 + 1e-4 * w.abs(), "step {t}, element {j}: got {g}, want {w} (diff {d})");
            }
        }
    }
    eprintln!("{config}: max abs diff vs Keras {max_diff:e}");
    Ok(max_diff)
}
