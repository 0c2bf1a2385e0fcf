//! A CNN built from wick-nn layers and one built from candle-nn layers, loaded from the same
//! safetensors file, give the same losses and the same weights after 3 SGD steps.

mod common;

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{Linear, Optimizer, VarBuilder, VarMap, SGD};
use common::{assert_close, Rng};

/// The layers both models share; only conv and pool differ.
struct Net<C> {
    conv1: C,
    conv2: C,
    fc1: Linear,
    fc2: Linear,
    /// wick-nn's pool and relu (else Candle's ops).
    wick_pool: bool,
    /// ReLU and pool are fused into the convs (`Conv2d::with_relu().with_max_pool(..)`).
    fused: bool,
}

/// Candle's ops for 2x2 max pooling with a correct gradient (Candle 0.11.1's own
/// `max_pool2d` backward scales the gradient by 1/4; see tests/pool.rs).
fn candle_pool2(x: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (oh, ow) = (h / 2, w / 2);
    x.narrow(2, 0, oh * 2)?.narrow(3, 0, ow * 2)?.reshape((n, c, oh, 2, ow, 2))?.max(5)?.max(3)
}

impl<C: Module> Net<C> {
    fn pool(&self, x: &Tensor) -> Result<Tensor> {
        if self.wick_pool {
            wick_nn::MaxPool2d::new(2).forward(x)
        } else {
            candle_pool2(x)
        }
    }

    fn relu(&self, x: &Tensor) -> Result<Tensor> {
        if self.wick_pool {
            wick_nn::relu(x)
        } else {
            x.relu()
        }
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (x1, x2);
        let x = if self.fused {
            x1 = self.conv1.forward(x)?;
            x2 = self.conv2.forward(&x1)?;
            x2
        } else {
            x1 = self.pool(&self.relu(&self.conv1.forward(x)?)?)?;
            x2 = self.pool(&self.relu(&self.conv2.forward(&x1)?)?)?;
            x2
        };
        let x = x.flatten_from(1)?;
        self.fc2.forward(&self.fc1.forward(&x)?.relu()?)
    }
}

const CONV2: candle_nn::Conv2dConfig =
    candle_nn::Conv2dConfig { padding: 1, stride: 1, dilation: 1, groups: 1, cudnn_fwd_algo: None };

fn heads(vb: &VarBuilder<'_>) -> Result<(Linear, Linear)> {
    Ok((candle_nn::linear(16 * 3 * 3, 32, vb.pp("fc1"))?, candle_nn::linear(32, 3, vb.pp("fc2"))?))
}

fn candle_net(vb: VarBuilder<'_>) -> Result<Net<candle_nn::Conv2d>> {
    let (fc1, fc2) = heads(&vb)?;
    Ok(Net {
        conv1: candle_nn::conv2d(3, 8, 3, Default::default(), vb.pp("conv1"))?,
        conv2: candle_nn::conv2d(8, 16, 3, CONV2, vb.pp("conv2"))?,
        fc1,
        fc2,
        wick_pool: false,
        fused: false,
    })
}

fn wick_net(vb: VarBuilder<'_>, fused: bool) -> Result<Net<wick_nn::Conv2d>> {
    let (fc1, fc2) = heads(&vb)?;
    let block = |c: wick_nn::Conv2d| {
        if fused {
            c.with_relu().with_max_pool(wick_nn::MaxPool2d::new(2))
        } else {
            c
        }
    };
    Ok(Net {
        conv1: block(wick_nn::conv2d(3, 8, 3, Default::default(), vb.pp("conv1"))?),
        conv2: block(wick_nn::conv2d(8, 16, 3, CONV2, vb.pp("conv2"))?),
        fc1,
        fc2,
        wick_pool: true,
        fused,
    })
}

/// Trains `net` for 3 SGD steps; returns the losses.
fn train<C: Module>(net: &Net<C>, vm: &VarMap, x: &Tensor, y: &Tensor) -> Result<Vec<f32>> {
    let mut sgd = SGD::new(vm.all_vars(), 0.01)?;
    let mut losses = Vec::new();
    for _ in 0..3 {
        let logits = net.forward(x)?;
        let loss = candle_nn::loss::cross_entropy(&logits, y)?;
        losses.push(loss.to_scalar::<f32>()?);
        sgd.backward_step(&loss)?;
    }
    Ok(losses)
}

#[test]
fn same_safetensors_same_losses_and_weights_after_three_sgd_steps() -> Result<()> {
    let dev = Device::Cpu;
    let dir = tempfile::tempdir().map_err(candle_core::Error::wrap)?;
    let path = dir.path().join("init.safetensors");
    {
        let vm = VarMap::new();
        candle_net(VarBuilder::from_varmap(&vm, DType::F32, &dev))?;
        vm.save(&path)?;
    }

    let mut rng = Rng::new(77);
    let x = rng.tensor(&[8, 3, 16, 16])?;
    let labels: Vec<u32> = (0..8).map(|_| rng.range(0, 2) as u32).collect();
    let y = Tensor::new(labels.as_slice(), &dev)?;

    let mut vm_c = VarMap::new();
    let net_c = candle_net(VarBuilder::from_varmap(&vm_c, DType::F32, &dev))?;
    vm_c.load(&path)?;
    let lc = train(&net_c, &vm_c, &x, &y)?;
    for fused in [false, true] {
        let mut vm_w = VarMap::new();
        let net_w = wick_net(VarBuilder::from_varmap(&vm_w, DType::F32, &dev), fused)?;
        vm_w.load(&path)?;

        // Same variable names on both sides: the checkpoint loads either way.
        let mut names_c: Vec<String> = vm_c.data().lock().expect("lock").keys().cloned().collect();
        let mut names_w: Vec<String> = vm_w.data().lock().expect("lock").keys().cloned().collect();
        names_c.sort();
        names_w.sort();
        assert_eq!(names_c, names_w);

        let lw = train(&net_w, &vm_w, &x, &y)?;
        for (a, b) in lw.iter().zip(&lc) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "fused={fused}: losses {lw:?} vs {lc:?}");
        }
        assert!(lc[0] != lc[1], "the steps should change the model: {lc:?}");

        let data_c = vm_c.data().lock().expect("lock");
        let data_w = vm_w.data().lock().expect("lock");
        for name in &names_c {
            assert_close(&format!("{name} (fused={fused})"), data_w[name].as_tensor(), data_c[name].as_tensor(), 1e-5);
        }
        // And the trained wick model's logits agree too.
        let lg = (net_w.forward(&x)? - net_c.forward(&x)?)?.abs()?.max(D::Minus1)?.max(0)?;
        assert!(lg.to_scalar::<f32>()? < 1e-4);
    }
    Ok(())
}
