#![allow(clippy::excessive_precision)]
//! Every golden loss case of Keras 3.15.1 (values copied from keras_golden.json):
//! per-sample values and the weighted reductions, through the object-safe `Loss` trait.

use candle_core::{Device, Tensor};
use wick_train::losses::*;

fn t(v: &[f32], dims: &[usize]) -> Tensor {
    Tensor::from_slice(v, dims, &Device::Cpu).expect("tensor")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5 + 1e-4 * b.abs()
}

fn input(name: &str) -> Tensor {
    match name {
        "YT_REG" => t(&[0.0, 1.0, 2.0, 1.5, -0.5, 0.0, 3.0, 0.20000000298023224, -1.0, 0.0, 0.0, 0.5], &[4, 3]),
        "YP_REG" => t(
            &[
                0.10000000149011612,
                0.699999988079071,
                3.5,
                1.0,
                -0.4000000059604645,
                0.20000000298023224,
                0.5,
                0.30000001192092896,
                -1.2000000476837158,
                0.20000000298023224,
                -0.30000001192092896,
                2.0,
            ],
            &[4, 3],
        ),
        "YT_POS" => t(&[1.0, 0.0, 3.0, 0.0, 2.0, 1.0, 4.0, 1.0, 0.0, 0.5, 0.5, 2.0], &[4, 3]),
        "YP_POS" => t(
            &[
                0.8999999761581421,
                0.10000000149011612,
                2.0,
                0.30000001192092896,
                1.5,
                1.2000000476837158,
                3.0,
                0.0,
                0.4000000059604645,
                0.6000000238418579,
                0.4000000059604645,
                1.7000000476837158,
            ],
            &[4, 3],
        ),
        "YT_OH" => t(&[0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0], &[4, 3]),
        "YT_SP" => Tensor::from_slice(&[1i64, 0, 2, 1i64], 4, &Device::Cpu).expect("tensor"),
        "PROBS" => t(
            &[
                0.20000000298023224,
                0.699999988079071,
                0.10000000149011612,
                0.0,
                0.5,
                0.5,
                0.10000000149011612,
                0.10000000149011612,
                0.800000011920929,
                0.30000001192092896,
                0.30000001192092896,
                0.4000000059604645,
            ],
            &[4, 3],
        ),
        "LOGITS" => t(
            &[1.0, 2.0, 0.5, -1.0, 3.0, 0.0, 0.20000000298023224, 0.10000000149011612, 4.0, 10.0, -10.0, 0.0],
            &[4, 3],
        ),
        "YT_BIN" => t(&[1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0], &[4, 3]),
        "P_BIN" => t(
            &[
                0.8999999761581421,
                0.20000000298023224,
                1.0,
                0.0,
                0.30000001192092896,
                0.6000000238418579,
                0.699999988079071,
                0.800000011920929,
                0.10000000149011612,
                0.4000000059604645,
                0.550000011920929,
                0.5,
            ],
            &[4, 3],
        ),
        "Z_BIN" => t(
            &[
                2.0,
                -1.0,
                20.0,
                -30.0,
                -0.5,
                0.4000000059604645,
                0.800000011920929,
                1.5,
                -2.0,
                -0.30000001192092896,
                0.20000000298023224,
                0.0,
            ],
            &[4, 3],
        ),
        "YT_HINGE_PM" => t(&[1.0, -1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0], &[4, 3]),
        "SAMPLE_WEIGHT" => t(&[1.0, 0.5, 2.0, 0.0], &[4]),
        other => panic!("unknown input {other}"),
    }
}

fn build(class: &str, cfg: (bool, f64, f64), r: Reduction) -> Box<dyn Loss> {
    let (from_logits, ls, delta) = cfg;
    match class {
        "MeanSquaredError" => Box::new(MeanSquaredError::new().with_reduction(r)),
        "MeanAbsoluteError" => Box::new(MeanAbsoluteError::new().with_reduction(r)),
        "Huber" => Box::new(Huber::new().with_delta(delta).with_reduction(r)),
        "LogCosh" => Box::new(LogCosh::new().with_reduction(r)),
        "Hinge" => Box::new(Hinge::new().with_reduction(r)),
        "SquaredHinge" => Box::new(SquaredHinge::new().with_reduction(r)),
        "Poisson" => Box::new(Poisson::new().with_reduction(r)),
        "KLDivergence" => Box::new(KLDivergence::new().with_reduction(r)),
        "CosineSimilarity" => Box::new(CosineSimilarity::new().with_reduction(r)),
        "CategoricalCrossentropy" => Box::new(
            CategoricalCrossentropy::new().with_from_logits(from_logits).with_label_smoothing(ls).with_reduction(r),
        ),
        "SparseCategoricalCrossentropy" => {
            Box::new(SparseCategoricalCrossentropy::new().with_from_logits(from_logits).with_reduction(r))
        }
        "BinaryCrossentropy" => {
            Box::new(BinaryCrossentropy::new().with_from_logits(from_logits).with_label_smoothing(ls).with_reduction(r))
        }
        other => panic!("unknown class {other}"),
    }
}

/// (case, class, y_true, y_pred, (from_logits, label_smoothing, delta), none, [sobs, sum, mwsw] plain, same weighted)
#[allow(clippy::type_complexity)]
const CASES: &[(&str, &str, &str, &str, (bool, f64, f64), [f32; 4], [f64; 3], [f64; 3])] = &[
    (
        "mse",
        "MeanSquaredError",
        "YT_REG",
        "YP_REG",
        (false, 0.0, 1.0),
        [0.7833333015441895, 0.09999999403953552, 2.1000001430511475, 0.7933333516120911],
        [0.9441667199134827, 3.7766668796539307, 0.9441667199134827],
        [1.258333444595337, 5.033333778381348, 1.4380953311920166],
    ),
    (
        "mae",
        "MeanAbsoluteError",
        "YT_REG",
        "YP_REG",
        (false, 0.0, 1.0),
        [0.6333333253860474, 0.2666666805744171, 0.9333333373069763, 0.6666666865348816],
        [0.625, 2.5, 0.625],
        [0.6583333015441895, 2.633333206176758, 0.752380907535553],
    ),
    (
        "huber_delta1",
        "Huber",
        "YT_REG",
        "YP_REG",
        (false, 0.0, 1.0),
        [0.3499999940395355, 0.04999999701976776, 0.675000011920929, 0.35500001907348633],
        [0.35750001668930054, 1.4300000667572021, 0.35750001668930054],
        [0.4312500059604645, 1.725000023841858, 0.4928571581840515],
    ),
    (
        "huber_delta0.5",
        "Huber",
        "YT_REG",
        "YP_REG",
        (false, 0.0, 0.5),
        [0.22500000894069672, 0.04999999701976776, 0.38333332538604736, 0.23000000417232513],
        [0.22208333015441895, 0.8883333206176758, 0.22208333015441895],
        [0.2541666626930237, 1.0166666507720947, 0.2904761731624603],
    ),
    (
        "log_cosh",
        "LogCosh",
        "YT_REG",
        "YP_REG",
        (false, 0.0, 1.0),
        [0.30159083008766174, 0.04832472279667854, 0.6128092408180237, 0.30654966831207275],
        [0.3173186182975769, 1.2692744731903076, 0.3173186182975769],
        [0.38784292340278625, 1.551371693611145, 0.44324904680252075],
    ),
    (
        "hinge_01_labels",
        "Hinge",
        "YT_BIN",
        "Z_BIN",
        (false, 0.0, 1.0),
        [0.0, 0.36666667461395264, 0.06666666269302368, 0.8333333134651184],
        [0.3166666626930237, 1.2666666507720947, 0.3166666626930237],
        [0.07916666567325592, 0.3166666626930237, 0.09047619253396988],
    ),
    (
        "hinge_pm1_labels",
        "Hinge",
        "YT_HINGE_PM",
        "Z_BIN",
        (false, 0.0, 1.0),
        [0.0, 0.36666667461395264, 0.06666666269302368, 0.8333333134651184],
        [0.3166666626930237, 1.2666666507720947, 0.3166666626930237],
        [0.07916666567325592, 0.3166666626930237, 0.09047619253396988],
    ),
    (
        "squared_hinge",
        "SquaredHinge",
        "YT_BIN",
        "Z_BIN",
        (false, 0.0, 1.0),
        [0.0, 0.20333333313465118, 0.013333331793546677, 0.7100000381469727],
        [0.2316666841506958, 0.9266667366027832, 0.2316666841506958],
        [0.032083332538604736, 0.12833333015441895, 0.036666665226221085],
    ),
    (
        "poisson",
        "Poisson",
        "YT_POS",
        "YP_POS",
        (false, 0.0, 1.0),
        [0.3419729471206665, 0.6689159870147705, 5.041215419769287, 0.7841004729270935],
        [1.709051251411438, 6.836205005645752, 1.709051251411438],
        [2.6897153854370117, 10.758861541748047, 3.073960542678833],
    ),
    (
        "kl_divergence",
        "KLDivergence",
        "YT_OH",
        "PROBS",
        (false, 0.0, 1.0),
        [0.35667216777801514, 16.118091583251953, 0.22314079105854034, 1.2039697170257568],
        [4.475468635559082, 17.901874542236328, 4.475468635559082],
        [2.2154998779296875, 8.86199951171875, 2.5319998264312744],
    ),
    (
        "cce_probs",
        "CategoricalCrossentropy",
        "YT_OH",
        "PROBS",
        (false, 0.0, 1.0),
        [0.3566749691963196, 16.11809539794922, 0.2231435328722, 1.2039728164672852],
        [4.475471496582031, 17.901885986328125, 4.475471496582031],
        [2.2155025005340576, 8.86201000213623, 2.5320029258728027],
    ),
    (
        "cce_unnormalized_probs",
        "CategoricalCrossentropy",
        "YT_OH",
        "YP_POS",
        (false, 0.0, 1.0),
        [3.4011974334716797, 2.3025851249694824, 2.140066146850586, 1.909542441368103],
        [2.438347816467285, 9.75339126586914, 2.438347816467285],
        [2.208155632019043, 8.832622528076172, 2.523606538772583],
    ),
    (
        "cce_logits",
        "CategoricalCrossentropy",
        "YT_OH",
        "LOGITS",
        (true, 0.0, 1.0),
        [0.4643687903881073, 4.065884113311768, 0.041729748249053955, 20.000045776367188],
        [6.143007278442383, 24.57202911376953, 6.143007278442383],
        [0.6451926231384277, 2.580770492553711, 0.7373629808425903],
    ),
    (
        "cce_probs_ls0.1",
        "CategoricalCrossentropy",
        "YT_OH",
        "PROBS",
        (false, 0.1, 1.0),
        [0.46329742670059204, 15.089765548706055, 0.36177298426628113, 1.1943833827972412],
        [4.277304649353027, 17.10921859741211, 4.277304649353027],
        [2.182931661605835, 8.73172664642334, 2.494779109954834],
    ),
    (
        "cce_logits_ls0.2",
        "CategoricalCrossentropy",
        "YT_OH",
        "LOGITS",
        (true, 0.2, 1.0),
        [0.6310354471206665, 3.732550621032715, 0.5550630688667297, 18.00004768371582],
        [5.729674339294434, 22.918697357177734, 5.729674339294434],
        [0.9018591642379761, 3.6074366569519043, 1.030696153640747],
    ),
    (
        "scce_probs",
        "SparseCategoricalCrossentropy",
        "YT_SP",
        "PROBS",
        (false, 0.0, 1.0),
        [0.3566749691963196, 16.11809539794922, 0.2231435477733612, 1.2039728164672852],
        [4.475471496582031, 17.901885986328125, 4.475471496582031],
        [2.2155025005340576, 8.86201000213623, 2.5320029258728027],
    ),
    (
        "scce_logits",
        "SparseCategoricalCrossentropy",
        "YT_SP",
        "LOGITS",
        (true, 0.0, 1.0),
        [0.4643687903881073, 4.065884113311768, 0.041729748249053955, 20.000045776367188],
        [6.143007278442383, 24.57202911376953, 6.143007278442383],
        [0.6451926231384277, 2.580770492553711, 0.7373629808425903],
    ),
    (
        "bce_probs",
        "BinaryCrossentropy",
        "YT_BIN",
        "P_BIN",
        (false, 0.0, 1.0),
        [0.10950139909982681, 0.2891668975353241, 0.22839301824569702, 0.6006032824516296],
        [0.30691614747047424, 1.227664589881897, 0.30691614747047424],
        [0.17771771550178528, 0.7108708620071411, 0.20310595631599426],
    ),
    (
        "bce_logits",
        "BinaryCrossentropy",
        "YT_BIN",
        "Z_BIN",
        (true, 0.0, 1.0),
        [0.14672990143299103, 0.32903075218200684, 0.23314730823040009, 0.6152138113975525],
        [0.3310304284095764, 1.3241217136383057, 0.3310304284095764],
        [0.19438496232032776, 0.777539849281311, 0.22215424478054047],
    ),
    (
        "bce_probs_ls0.1",
        "BinaryCrossentropy",
        "YT_BIN",
        "P_BIN",
        (false, 0.1, 1.0),
        [0.4349331855773926, 0.578681230545044, 0.3022399842739105, 0.610705554485321],
        [0.4816399812698364, 1.9265599250793457, 0.4816399812698364],
        [0.3321884274482727, 1.3287537097930908, 0.37964391708374023],
    ),
    (
        "cosine_similarity",
        "CosineSimilarity",
        "YT_REG",
        "YP_REG",
        (false, 0.0, 1.0),
        [-0.964385449886322, -0.9814954996109009, -0.6528782844543457, -0.9841356873512268],
        [-0.8957237005233765, -3.582894802093506, -0.8957237005233765],
        [-0.690222442150116, -2.760889768600464, -0.7888256311416626],
    ),
];

#[test]
fn every_golden_loss_case_matches_keras() {
    let sw = input("SAMPLE_WEIGHT");
    let reds = [Reduction::SumOverBatchSize, Reduction::Sum, Reduction::MeanWithSampleWeight];
    for (name, class, yt, yp, cfg, none, plain, weighted) in CASES {
        let (yt, yp) = (input(yt), input(yp));
        let got = build(class, *cfg, Reduction::None).call(&yt, &yp, None).unwrap();
        let got = got.to_vec1::<f32>().unwrap();
        for (g, e) in got.iter().zip(none) {
            assert!(close(f64::from(*g), f64::from(*e)), "{name} none: {got:?} vs {none:?}");
        }
        for (i, r) in reds.iter().enumerate() {
            let loss = build(class, *cfg, *r);
            let p = f64::from(loss.call(&yt, &yp, None).unwrap().to_scalar::<f32>().unwrap());
            let w = f64::from(loss.call(&yt, &yp, Some(&sw)).unwrap().to_scalar::<f32>().unwrap());
            assert!(close(p, plain[i]), "{name} {r}: {p} vs {}", plain[i]);
            assert!(close(w, weighted[i]), "{name} {r}+sample_weight: {w} vs {}", weighted[i]);
        }
    }
}

#[test]
fn softmax_output_shortcut_needs_logits() {
    // golden losses.softmax_output_shortcut: logits [30, 0, -30], target class 2.
    let z = t(&[30.0, 0.0, -30.0], &[1, 3]);
    let y = t(&[0.0, 0.0, 1.0], &[1, 3]);
    let from_logits = CategoricalCrossentropy::new().with_from_logits(true).call(&y, &z, None).unwrap();
    assert!(close(f64::from(from_logits.to_scalar::<f32>().unwrap()), 60.0));
    let probs = candle_nn::ops::softmax(&z, 1).unwrap();
    let clipped = CategoricalCrossentropy::new().call(&y, &probs, None).unwrap();
    assert!(close(f64::from(clipped.to_scalar::<f32>().unwrap()), 16.118095));
}
