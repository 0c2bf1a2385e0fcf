//! A 1-rank `fit_distributed` over NCCL on CUDA device 0 matches the plain `fit` there.
//! Built with the `nccl` feature (the test command compiles it in `target/cuda` and runs it:
//! without a usable GPU it prints why it is skipped).
#![cfg(feature = "nccl")]

use candle_core::{DType, Device, Tensor};
use candle_nn::{Module, VarBuilder, VarMap};
use wick::callbacks::ModelVars;
use wick::data::{Sharded, TensorDataset};
use wick::dist::{Mpi, Nccl};
use wick::optim::{rules, KerasOptimizer, OptimizerConfig};
use wick::train::losses::SparseCategoricalCrossentropy;
use wick::train::{FitOptions, Trainer};

/// Final weights of a seeded MLP after 2 epochs; `comm` selects `fit_distributed`.
fn train(dev: &Device, comm: Option<&Nccl>) -> Vec<Vec<f32>> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, dev);
    let l1 = candle_nn::linear(6, 12, vb.pp("dense")).unwrap();
    let l2 = candle_nn::linear(12, 3, vb.pp("logits")).unwrap();
    let vars = ModelVars::from_varmap(&varmap);
    for (i, (_, v)) in vars.vars().iter().enumerate() {
        let n = v.elem_count();
        let values: Vec<f32> = (0..n).map(|k| (((k * 37 + i * 11) % 17) as f32 - 8.0) / 40.0).collect();
        v.set(&Tensor::from_vec(values, v.shape(), dev).unwrap()).unwrap();
    }
    let model = candle_nn::func_t(move |x, _| l2.forward(&l1.forward(x)?.relu()?));
    let rows = 60;
    let x: Vec<f32> = (0..rows * 6).map(|k| ((k * 13 % 29) as f32 - 14.0) / 14.0).collect();
    let y: Vec<u32> = (0..rows).map(|r| (r % 3) as u32).collect();
    let data =
        TensorDataset::new(Tensor::from_vec(x, (rows, 6), dev).unwrap(), Tensor::from_vec(y, rows, dev).unwrap())
            .unwrap()
            .with_batch_size(8)
            .unwrap()
            .with_seed(3);
    let mut data = Sharded::new(data, 0, 1).unwrap();
    let optimizer =
        KerasOptimizer::with_names(vars.vars().to_vec(), OptimizerConfig::new(rules::AdamRule::default(), 0.01))
            .unwrap();
    let loss = SparseCategoricalCrossentropy::new().with_from_logits(true);
    let mut trainer = Trainer::new(model, &vars, optimizer, loss).unwrap();
    let options = FitOptions { epochs: 2, verbose: 0, ..Default::default() };
    match comm {
        Some(c) => trainer.fit_distributed(&mut data, options, c).unwrap(),
        None => trainer.fit(&mut data, options).unwrap(),
    };
    vars.vars().iter().map(|(_, v)| v.flatten_all().unwrap().to_vec1::<f32>().unwrap()).collect()
}

#[test]
fn one_rank_nccl_fit_matches_fit() {
    let dev = match Device::new_cuda(0) {
        Ok(dev) => dev,
        Err(e) => {
            let reason = e.to_string();
            println!("skipped: no CUDA device ({})", reason.lines().next().unwrap_or_default());
            return;
        }
    };
    let nccl = Nccl::new(Mpi::init().expect("MPI_Init"), &dev).expect("NCCL on cuda:0");
    let plain = train(&dev, None);
    let distributed = train(&dev, Some(&nccl));
    let diff = plain
        .iter()
        .zip(&distributed)
        .flat_map(|(a, b)| a.iter().zip(b).map(|(p, q)| (p - q).abs()))
        .fold(0.0f32, f32::max);
    assert!(diff <= 1e-6, "1-rank NCCL fit differs from fit by {diff}");
}
