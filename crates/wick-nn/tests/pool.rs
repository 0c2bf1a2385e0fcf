//! Pool layers against Candle's `max_pool2d` / `avg_pool2d` / `mean`, forward and backward.

mod common;

use candle_core::{DType, Device, Module, Result, Tensor, Var};
use common::{assert_close, Rng};
use wick_nn::{avg_pool2d, global_avg_pool2d, max_pool2d, AvgPool2d, GlobalAvgPool2d, MaxPool2d};

const TOL: f32 = 1e-5;

/// Output and input gradient (for a random projection of the output) of `f` on `x`.
fn run(x: &Tensor, r_seed: u64, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<(Tensor, Tensor)> {
    let xv = Var::from_tensor(x)?;
    let y = f(xv.as_tensor())?;
    let r = Rng::new(r_seed).tensor(y.dims())?.to_dtype(y.dtype())?;
    let g = (&y * &r)?.sum_all()?.backward()?;
    let dx = g.get(xv.as_tensor()).expect("input gradient").clone();
    Ok((y, dx))
}

/// Max pooling with Candle's ops whose gradient is right: a `max` reduction over the
/// window axes of a reshaped view (odd trailing rows/columns dropped first).
///
/// Candle 0.11.1's own `max_pool2d` backward multiplies the gradient by the *average* of
/// the argmax mask, so every gradient comes out scaled by 1/(k*k) (see
/// `candle_max_pool2d_backward_is_scaled` below); it cannot be the reference for gradients.
fn candle_max_pool_by_reshape(x: &Tensor, k: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (oh, ow) = (h / k, w / k);
    x.narrow(2, 0, oh * k)?.narrow(3, 0, ow * k)?.reshape((n, c, oh, k, ow, k))?.max(5)?.max(3)
}

#[test]
fn max_pool_matches_candle_when_kernel_equals_stride() -> Result<()> {
    let shapes = [[2, 3, 8, 8], [1, 2, 7, 9], [3, 4, 5, 6], [2, 1, 62, 62]];
    for (i, shape) in shapes.iter().enumerate() {
        for k in [2, 3] {
            let x = Rng::new(i as u64).tensor(shape)?;
            let (y1, d1) = run(&x, 7, |x| max_pool2d(x, (k, k), (k, k)))?;
            let y2 = x.max_pool2d(k)?;
            assert_close(&format!("max fwd {shape:?} k{k}"), &y1, &y2, TOL);
            let (y3, d3) = run(&x, 7, |x| candle_max_pool_by_reshape(x, k))?;
            assert_close(&format!("max fwd (reshape) {shape:?} k{k}"), &y1, &y3, TOL);
            assert_close(&format!("max bwd {shape:?} k{k}"), &d1, &d3, TOL);
        }
    }
    Ok(())
}

#[test]
fn candle_max_pool2d_backward_is_scaled() -> Result<()> {
    // Documents the Candle 0.11.1 behaviour that wick-nn deliberately does not copy: the
    // gradient of sum(max_pool2d(x)) should be 1 at each window's maximum.
    let x = Var::from_tensor(&Tensor::arange(0f32, 16., &candle_core::Device::Cpu)?.reshape((1, 1, 4, 4))?)?;
    let candle = x.as_tensor().max_pool2d(2)?.sum_all()?.backward()?;
    let ours = MaxPool2d::new(2).forward(x.as_tensor())?.sum_all()?.backward()?;
    let at = |g: &candle_core::backprop::GradStore| -> Result<f32> {
        g.get(x.as_tensor()).expect("grad").flatten_all()?.to_vec1::<f32>().map(|v| v[15])
    };
    assert_eq!(at(&ours)?, 1.0);
    if at(&candle)? != 1.0 {
        assert_eq!(at(&candle)?, 0.25, "Candle's max-pool gradient changed; revisit this note");
    }
    Ok(())
}

/// A direct reference for pools with any stride: output and input gradient.
fn naive_pool(x: &Tensor, r: &Tensor, k: (usize, usize), s: (usize, usize), max: bool) -> Result<(Tensor, Tensor)> {
    let (n, c, h, w) = x.dims4()?;
    let (oh, ow) = ((h - k.0) / s.0 + 1, (w - k.1) / s.1 + 1);
    let xs: Vec<f32> = x.flatten_all()?.to_vec1()?;
    let rs: Vec<f32> = r.flatten_all()?.to_vec1()?;
    let mut y = vec![0f32; n * c * oh * ow];
    let mut dx = vec![0f32; xs.len()];
    for p in 0..n * c {
        for oy in 0..oh {
            for ox in 0..ow {
                let yi = (p * oh + oy) * ow + ox;
                let idx: Vec<usize> = (0..k.0)
                    .flat_map(|ky| (0..k.1).map(move |kx| (p * h + oy * s.0 + ky) * w + ox * s.1 + kx))
                    .collect();
                if max {
                    let best =
                        *idx.iter().reduce(|a, b| if xs[*b] > xs[*a] { b } else { a }).expect("non-empty window");
                    y[yi] = xs[best];
                    dx[best] += rs[yi];
                } else {
                    let m = (k.0 * k.1) as f32;
                    y[yi] = idx.iter().map(|&i| xs[i]).sum::<f32>() / m;
                    for &i in &idx {
                        dx[i] += rs[yi] / m;
                    }
                }
            }
        }
    }
    Ok((Tensor::from_vec(y, (n, c, oh, ow), x.device())?, Tensor::from_vec(dx, x.dims(), x.device())?))
}

#[test]
fn overlapping_and_rectangular_windows_match_reference() -> Result<()> {
    let cases = [((3, 3), (2, 2)), ((2, 3), (1, 2)), ((3, 2), (3, 1)), ((2, 2), (2, 2))];
    for (i, &(k, s)) in cases.iter().enumerate() {
        let x = Rng::new(40 + i as u64).tensor(&[2, 3, 9, 8])?;
        let (y1, d1) = run(&x, 9, |x| max_pool2d(x, k, s))?;
        let r = Rng::new(9).tensor(y1.dims())?;
        let (y2, d2) = naive_pool(&x, &r, k, s, true)?;
        assert_close(&format!("max fwd k{k:?} s{s:?}"), &y1, &y2, TOL);
        assert_close(&format!("max bwd k{k:?} s{s:?}"), &d1, &d2, TOL);

        let (y1, d1) = run(&x, 9, |x| avg_pool2d(x, k, s))?;
        let (y2, d2) = naive_pool(&x, &r, k, s, false)?;
        assert_close(&format!("avg fwd k{k:?} s{s:?}"), &y1, &y2, TOL);
        assert_close(&format!("avg bwd k{k:?} s{s:?}"), &d1, &d2, TOL);
    }
    Ok(())
}

#[test]
fn avg_pool_matches_candle_when_kernel_equals_stride() -> Result<()> {
    // Candle's avg-pool backward upsamples the gradient to the full input, which is only
    // right when the kernel divides the input; odd sizes are checked against the reference
    // in `overlapping_and_rectangular_windows_match_reference`.
    for (i, shape) in [[2, 3, 8, 8], [1, 2, 6, 10]].iter().enumerate() {
        let x = Rng::new(20 + i as u64).tensor(shape)?;
        let (y1, d1) = run(&x, 3, |x| AvgPool2d::new(2).forward(x))?;
        let (y2, d2) = run(&x, 3, |x| x.avg_pool2d(2))?;
        assert_close("avg fwd", &y1, &y2, TOL);
        assert_close("avg bwd", &d1, &d2, TOL);
    }
    Ok(())
}

#[test]
fn global_avg_pool_matches_mean() -> Result<()> {
    let x = Rng::new(30).tensor(&[3, 5, 7, 9])?;
    let (y1, d1) = run(&x, 4, |x| GlobalAvgPool2d.forward(x))?;
    let (y2, d2) = run(&x, 4, |x| x.mean((2, 3)))?;
    assert_eq!(y1.dims(), &[3, 5]);
    assert_close("gap fwd", &y1, &y2, TOL);
    assert_close("gap bwd", &d1, &d2, TOL);
    let y3 = global_avg_pool2d(&x)?;
    assert_close("gap fn", &y3, &y2, TOL);
    Ok(())
}

#[test]
fn layers_and_errors() -> Result<()> {
    let x = Rng::new(31).tensor(&[1, 1, 5, 5])?;
    assert_eq!(MaxPool2d::new(2).forward(&x)?.dims(), &[1, 1, 2, 2]);
    assert_eq!(MaxPool2d::new(3).with_stride(1).forward(&x)?.dims(), &[1, 1, 3, 3]);
    assert!(MaxPool2d::new(6).forward(&x).is_err());
    assert!(max_pool2d(&x, (2, 2), (0, 1)).is_err());
    assert!(avg_pool2d(&x, (0, 2), (1, 1)).is_err());
    // An untracked input gets no gradient and costs no backward work.
    let y = MaxPool2d::new(2).forward(&x)?;
    assert!(y.sum_all()?.backward()?.get(&x).is_none());
    Ok(())
}

#[test]
fn relu_matches_candle() -> Result<()> {
    let x = Rng::new(32).tensor(&[3, 4, 7, 9])?;
    let (y1, d1) = run(&x, 5, wick_nn::relu)?;
    let (y2, d2) = run(&x, 5, |x| x.relu())?;
    assert_close("relu fwd", &y1, &y2, 0.0);
    assert_close("relu bwd", &d1, &d2, 0.0);
    Ok(())
}

#[test]
fn max_pool_ties_send_the_gradient_to_the_first_maximum() -> Result<()> {
    // Windows of equal values (as after a ReLU that zeroed them): row-major first wins,
    // in the 2x2 fast path and in the general path.
    let x = Tensor::ones((1, 1, 4, 6), DType::F32, &Device::Cpu)?;
    for (k, s) in [((2, 2), (2, 2)), ((2, 3), (2, 3))] {
        let (_, dx) = run(&x, 1, |x| max_pool2d(x, k, s))?;
        let dx: Vec<f32> = dx.flatten_all()?.to_vec1()?;
        for (i, v) in dx.iter().enumerate() {
            let (r, c) = (i / 6, i % 6);
            let first = r % k.0 == 0 && c % k.1 == 0;
            assert_eq!(*v != 0.0, first, "k{k:?}: element ({r}, {c}) got {v}");
        }
    }
    Ok(())
}

/// The pooling used off the fast path (CUDA, other dtypes: window gather + `gather`/`mean`),
/// reached on the CPU with f64 input, gives the fast kernels' outputs and gradients:
/// overlapping windows, kernels that do not divide the input, and the 2×2 pool.
#[test]
fn device_generic_pooling_matches_the_cpu_kernels() -> Result<()> {
    let cases = [([2, 3, 8, 8], (2, 2), (2, 2)), ([1, 2, 7, 9], (3, 3), (2, 2)), ([2, 2, 9, 6], (3, 2), (1, 2))];
    for (i, (shape, kernel, stride)) in cases.into_iter().enumerate() {
        let x = Rng::new(40 + i as u64).tensor(&shape)?;
        let x64 = x.to_dtype(DType::F64)?;
        for (what, max) in [("max", true), ("avg", false)] {
            let pool = |x: &Tensor| if max { max_pool2d(x, kernel, stride) } else { avg_pool2d(x, kernel, stride) };
            let (y_fast, d_fast) = run(&x, 9, pool)?;
            let (y_gen, d_gen) = run(&x64, 9, pool)?;
            assert_eq!(y_gen.dtype(), DType::F64, "{what} {shape:?}: the generic path ran");
            assert_close(&format!("{what} {shape:?} output"), &y_gen.to_dtype(DType::F32)?, &y_fast, TOL);
            assert_close(&format!("{what} {shape:?} input gradient"), &d_gen.to_dtype(DType::F32)?, &d_fast, TOL);
            // Without a gradient, Candle's own forward runs, with the same values.
            let y_inf = pool(&x64)?;
            assert_close(&format!("{what} {shape:?} inference"), &y_inf.to_dtype(DType::F32)?, &y_fast, TOL);
        }
    }
    Ok(())
}
