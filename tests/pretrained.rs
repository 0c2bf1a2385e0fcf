//! The ImageNet EfficientNet-Lite0 read from safetensors computes what PyTorch computes:
//! logits on a fixed input equal the reference values `scripts/make_backbone_reference.py`
//! recorded (max abs diff ≤ 1e-3), and two real photos (scikit-image's `chelsea`, a cat, and
//! `coffee`, a cup) get the right ImageNet class in their top 5.

mod support;

use candle_core::{Device, ModuleT, Tensor};
use serde_json::Value;
use wick::data::{decode, ImageOptions};
use wick::models::efficientnet_lite::{preprocess, EfficientNetLite0};

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/efficientnet_lite0_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read the reference")).expect("parse the reference")
}

/// The reference's fixed input: `q = (3h² + 5w² + 7hw + 61c + 97n) mod 256`, `x = (q − 128)/128`.
fn fixed_input(n: usize, size: usize) -> Tensor {
    let mut v = Vec::with_capacity(n * 3 * size * size);
    for n in 0..n {
        for c in 0..3 {
            for h in 0..size {
                for w in 0..size {
                    let q = (3 * h * h + 5 * w * w + 7 * h * w + 61 * c + 97 * n) % 256;
                    v.push((q as f32 - 128.0) / 128.0);
                }
            }
        }
    }
    Tensor::from_vec(v, (n, 3, size, size), &Device::Cpu).unwrap()
}

#[test]
fn logits_equal_pytorch_on_the_fixed_input() {
    let Some(weights) = support::backbone::weights() else { return };
    let r = reference();
    assert!(r["fixed_input"]["formula"]
        .as_str()
        .unwrap()
        .starts_with("q = (3*h*h + 5*w*w + 7*h*w + 61*c + 97*n) mod 256"));
    let (model, _varmap) = EfficientNetLite0::pretrained(&weights, true, &Device::Cpu).unwrap();
    let logits: Vec<Vec<f32>> = model.forward_t(&fixed_input(2, 224), false).unwrap().to_vec2().unwrap();
    let want = r["fixed_input"]["logits"].as_array().unwrap();
    let mut max = 0f64;
    for (got, want) in logits.iter().zip(want) {
        let want = want.as_array().unwrap();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            max = max.max((f64::from(*g) - w.as_f64().unwrap()).abs());
        }
    }
    println!("max |wick − PyTorch| over 2×1000 logits: {max:.2e}");
    assert!(max <= 1e-3, "logits differ from PyTorch's by up to {max}");
}

/// The photo's pixels as the reference preprocessed them: decoded, centre-cropped to 224.
fn photo(file: &str) -> Tensor {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(file);
    let bytes = std::fs::read(&path).unwrap();
    let image = decode::decode_bytes(&path, &bytes).unwrap();
    let (w, h) = (image.width() as usize, image.height() as usize);
    let chw = decode::image_to_chw(&image, &ImageOptions::new(h, w));
    let x = Tensor::from_vec(chw, (1, 3, h, w), &Device::Cpu).unwrap();
    x.narrow(2, (h - 224) / 2, 224).unwrap().narrow(3, (w - 224) / 2, 224).unwrap()
}

#[test]
fn photos_are_classified_as_imagenet_expects() {
    let Some(weights) = support::backbone::weights() else { return };
    let r = reference();
    let (model, _varmap) = EfficientNetLite0::pretrained(&weights, true, &Device::Cpu).unwrap();
    for p in r["photos"].as_array().unwrap() {
        let file = p["file"].as_str().unwrap().rsplit('/').next().unwrap();
        let x = preprocess(&photo(file)).unwrap();
        let logits: Vec<f32> = model.forward_t(&x, false).unwrap().squeeze(0).unwrap().to_vec1().unwrap();
        let mut order: Vec<usize> = (0..logits.len()).collect();
        order.sort_by(|a, b| logits[*b].total_cmp(&logits[*a]));
        let top5 = &order[..5];
        let accepted: Vec<usize> = p["accepted"].as_object().unwrap().keys().map(|k| k.parse().unwrap()).collect();
        let torch_top1 = p["top5"][0]["index"].as_u64().unwrap() as usize;
        println!("{file}: top-5 {top5:?} (PyTorch's top-1 {torch_top1}; accepted {accepted:?})");
        assert!(top5.iter().any(|i| accepted.contains(i)), "{file}: top-5 {top5:?} holds none of {accepted:?}");
        assert_eq!(top5[0], torch_top1, "{file}: top-1 differs from PyTorch's");
    }
}

#[test]
fn the_summary_counts_every_element_of_the_weights_file() {
    let Some(weights) = support::backbone::weights() else { return };
    let (model, varmap) = EfficientNetLite0::pretrained(&weights, true, &Device::Cpu).unwrap();
    let vars = wick::callbacks::ModelVars::from_varmap(&varmap).with_non_trainable(|n| model.is_non_trainable(n));
    let summary = model.summary("efficientnet_lite0", 224, 224, &vars, "");
    summary.validate().unwrap();
    summary.check_against(&vars).unwrap();
    let file = candle_core::safetensors::load(&weights, &Device::Cpu).unwrap();
    let elements: usize = file.values().map(|t| t.elem_count()).sum();
    let moving: usize = file
        .iter()
        .filter(|(n, _)| n.ends_with("running_mean") || n.ends_with("running_var"))
        .map(|(_, t)| t.elem_count())
        .sum();
    assert_eq!(summary.total_params(), elements, "{}", summary.table());
    assert_eq!(summary.trainable_params() + summary.non_trainable_params(), elements);
    assert_eq!(summary.non_trainable_params(), moving, "non-trainable = the batch norms' moving statistics");
    let table = summary.table();
    assert!(table.contains("_blocks.15 (MBConvBlock)") && table.contains("(None, 320, 7, 7)"), "{table}");
    assert!(
        table.contains(&format!("Total params: {}", fmt_thousands(elements)))
            || table.contains(&format!("Total params: {elements}")),
        "{table}"
    );
    println!("{table}");
}

fn fmt_thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
