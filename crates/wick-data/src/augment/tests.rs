//! Geometry, fill, determinism and statistics checks for the augmentation pipeline.

use super::*;
use crate::error::Error;
use crate::resize::Interpolation;
use crate::rng::image_rng;
use crate::transform::ImageTransform;
use std::sync::Arc;

/// A CHW image whose every value is distinct: `value = c·1000 + y·width + x`.
fn ramp(channels: usize, height: usize, width: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(channels * height * width);
    for c in 0..channels {
        for y in 0..height {
            for x in 0..width {
                v.push((c * 1000 + y * width + x) as f32);
            }
        }
    }
    v
}

fn at(img: &[f32], height: usize, width: usize, c: usize, y: usize, x: usize) -> f32 {
    img[c * height * width + y * width + x]
}

fn run(aug: &Augmentation, img: &mut [f32], c: usize, h: usize, w: usize, seed: u64) {
    aug.apply(img, c, h, w, &mut image_rng(seed, 0, 0)).expect("valid pipeline");
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

// ---------------------------------------------------------------- flips

#[test]
fn horizontal_flip_moves_r_c_to_r_mirror_c() {
    let (c, h, w) = (3, 4, 5);
    let src = ramp(c, h, w);
    let mut img = src.clone();
    warp(&mut img, c, h, w, &Projective::flip_horizontal(w), FillMode::Reflect, Interpolation::Bilinear).unwrap();
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                assert_eq!(at(&img, h, w, ch, y, x), at(&src, h, w, ch, y, w - 1 - x));
            }
        }
    }
}

#[test]
fn random_horizontal_flip_is_either_identity_or_exact_mirror_and_both_happen() {
    let (c, h, w) = (1, 3, 4);
    let src = ramp(c, h, w);
    let mut mirror = src.clone();
    warp(&mut mirror, c, h, w, &Projective::flip_horizontal(w), FillMode::Nearest, Interpolation::Nearest).unwrap();
    let aug = Augmentation::new().random_flip(FlipMode::Horizontal);
    let (mut same, mut flipped) = (0, 0);
    for seed in 0..64 {
        let mut img = src.clone();
        run(&aug, &mut img, c, h, w, seed);
        if img == src {
            same += 1;
        } else {
            assert_eq!(img, mirror, "seed {seed}");
            flipped += 1;
        }
    }
    assert!(same > 10 && flipped > 10, "same {same}, flipped {flipped}");
}

#[test]
fn vertical_flip_moves_r_c_to_mirror_r_c() {
    let (c, h, w) = (2, 5, 3);
    let src = ramp(c, h, w);
    let mut img = src.clone();
    warp(&mut img, c, h, w, &Projective::flip_vertical(h), FillMode::Reflect, Interpolation::Nearest).unwrap();
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                assert_eq!(at(&img, h, w, ch, y, x), at(&src, h, w, ch, h - 1 - y, x));
            }
        }
    }
}

#[test]
fn horizontal_and_vertical_flip_uses_independent_coins() {
    // Keras 3.15.1 couples both axes to one coin (identity or 180° only); here all four
    // outcomes must appear.
    let (c, h, w) = (1, 3, 4);
    let src = ramp(c, h, w);
    let outcome = |m: Projective| {
        let mut img = src.clone();
        warp(&mut img, c, h, w, &m, FillMode::Reflect, Interpolation::Bilinear).unwrap();
        img
    };
    let hf = outcome(Projective::flip_horizontal(w));
    let vf = outcome(Projective::flip_vertical(h));
    let both = outcome(Projective::flip_horizontal(w).then(&Projective::flip_vertical(h)));
    let aug = Augmentation::new().random_flip(FlipMode::HorizontalAndVertical);
    let mut counts = [0usize; 4];
    for seed in 0..200 {
        let mut img = src.clone();
        run(&aug, &mut img, c, h, w, seed);
        let k = if img == src {
            0
        } else if img == hf {
            1
        } else if img == vf {
            2
        } else if img == both {
            3
        } else {
            panic!("seed {seed}: not a flip");
        };
        counts[k] += 1;
    }
    assert!(counts.iter().all(|&n| n >= 25), "outcome counts {counts:?}");
}

// ---------------------------------------------------------------- rotation

#[test]
fn quarter_turn_is_counter_clockwise_and_exact() {
    // Factor::constant makes the random rotation deterministic: exactly +0.25 turn.
    let (c, n) = (3, 5);
    let src = ramp(c, n, n);
    let mut img = src.clone();
    let aug = Augmentation::new().random_rotation(Factor::constant(0.25)).fill_mode(FillMode::Constant(-1.0));
    run(&aug, &mut img, c, n, n, 7);
    // Counter-clockwise on screen: input (r, c) lands at (n-1-c, r).
    for ch in 0..c {
        for r in 0..n {
            for col in 0..n {
                assert_eq!(at(&img, n, n, ch, n - 1 - col, r), at(&src, n, n, ch, r, col), "({r},{col})");
            }
        }
    }
    // Spelled out: the top-centre pixel goes to the left-centre, the top-left corner to the
    // bottom-left corner.
    assert_eq!(at(&img, n, n, 0, 2, 0), at(&src, n, n, 0, 0, 2));
    assert_eq!(at(&img, n, n, 0, n - 1, 0), at(&src, n, n, 0, 0, 0));
    // Nothing was filled: a quarter turn of a square is a permutation.
    assert!(img.iter().all(|&v| v >= 0.0));
}

#[test]
fn negative_quarter_turn_is_clockwise_and_full_turn_is_identity() {
    let (c, n) = (1, 4);
    let src = ramp(c, n, n);
    let mut img = src.clone();
    run(&Augmentation::new().random_rotation(Factor::constant(-0.25)), &mut img, c, n, n, 1);
    for r in 0..n {
        for col in 0..n {
            // Clockwise: input (r, c) lands at (c, n-1-r).
            assert_eq!(at(&img, n, n, 0, col, n - 1 - r), at(&src, n, n, 0, r, col));
        }
    }
    let mut img = src.clone();
    run(&Augmentation::new().random_rotation(Factor::constant(1.0)), &mut img, c, n, n, 1);
    assert_eq!(bits(&img), bits(&src));
}

#[test]
fn rotation_keeps_the_centre_pixel() {
    let (c, n) = (1, 9);
    let src = ramp(c, n, n);
    for t in [0.03f32, 0.1, -0.2, 0.37] {
        let mut img = src.clone();
        run(&Augmentation::new().random_rotation(Factor::constant(t)), &mut img, c, n, n, 0);
        assert!((at(&img, n, n, 0, 4, 4) - at(&src, n, n, 0, 4, 4)).abs() < 1e-3, "turn {t}");
    }
}

#[test]
fn nearest_interpolation_only_copies_existing_values() {
    let (c, h, w) = (2, 11, 13);
    let src = ramp(c, h, w);
    let mut img = src.clone();
    let aug = Augmentation::new().random_rotation(0.2).random_zoom(0.3).interpolation(Interpolation::Nearest);
    run(&aug, &mut img, c, h, w, 3);
    assert!(img.iter().all(|v| src.contains(v)));
    assert_ne!(img, src);
}

// ---------------------------------------------------------------- translation and fill

#[test]
fn translation_moves_pixels_by_whole_pixels_and_fills_the_border() {
    // 0.25 of height 8 = 2 rows down; 0.25 of width 4 = 1 column right.
    let (c, h, w) = (1, 8, 4);
    let src = ramp(c, h, w);
    let mut img = src.clone();
    let aug = Augmentation::new()
        .random_translation(Factor::constant(0.25), Factor::constant(0.25))
        .fill_mode(FillMode::Constant(-7.0));
    run(&aug, &mut img, c, h, w, 0);
    for y in 0..h {
        for x in 0..w {
            let v = at(&img, h, w, 0, y, x);
            if y >= 2 && x >= 1 {
                assert_eq!(v, at(&src, h, w, 0, y - 2, x - 1), "({y},{x})");
            } else {
                assert_eq!(v, -7.0, "({y},{x}) should be filled");
            }
        }
    }
}

#[test]
fn negative_translation_moves_up_left() {
    let (c, h, w) = (1, 4, 4);
    let src = ramp(c, h, w);
    let mut img = src.clone();
    let aug = Augmentation::new()
        .random_translation(Factor::constant(-0.25), Factor::constant(-0.5))
        .fill_mode(FillMode::Nearest);
    run(&aug, &mut img, c, h, w, 0);
    // Output (y, x) reads input (y+1, x+2), clamped at the edges.
    for y in 0..h {
        for x in 0..w {
            assert_eq!(at(&img, h, w, 0, y, x), at(&src, h, w, 0, (y + 1).min(3), (x + 2).min(3)));
        }
    }
}

/// Shifts the one-row image `[a b c d]` = `[1 2 3 4]` by `shift` columns with `fill`.
fn shifted_row(shift: f32, fill: FillMode) -> Vec<f32> {
    let mut img = vec![1.0, 2.0, 3.0, 4.0];
    let aug =
        Augmentation::new().random_translation(Factor::constant(0.0), Factor::constant(shift / 4.0)).fill_mode(fill);
    run(&aug, &mut img, 1, 1, 4, 0);
    img
}

#[test]
fn fill_modes_produce_the_documented_values() {
    // Shift right by the full width: the output shows the padding left of `a b c d`;
    // shift left: the padding right of it.
    assert_eq!(shifted_row(4.0, FillMode::Constant(9.0)), [9.0, 9.0, 9.0, 9.0]); // k k k k
    assert_eq!(shifted_row(4.0, FillMode::Nearest), [1.0, 1.0, 1.0, 1.0]); // a a a a
    assert_eq!(shifted_row(4.0, FillMode::Reflect), [4.0, 3.0, 2.0, 1.0]); // d c b a
    assert_eq!(shifted_row(4.0, FillMode::Wrap), [1.0, 2.0, 3.0, 4.0]); // a b c d
    assert_eq!(shifted_row(-4.0, FillMode::Constant(9.0)), [9.0, 9.0, 9.0, 9.0]);
    assert_eq!(shifted_row(-4.0, FillMode::Nearest), [4.0, 4.0, 4.0, 4.0]); // d d d d
    assert_eq!(shifted_row(-4.0, FillMode::Reflect), [4.0, 3.0, 2.0, 1.0]); // d c b a
    assert_eq!(shifted_row(-4.0, FillMode::Wrap), [1.0, 2.0, 3.0, 4.0]); // a b c d
                                                                         // A partial shift: one column of padding.
    assert_eq!(shifted_row(1.0, FillMode::Reflect), [1.0, 1.0, 2.0, 3.0]);
    assert_eq!(shifted_row(1.0, FillMode::Wrap), [4.0, 1.0, 2.0, 3.0]);
    assert_eq!(shifted_row(-1.0, FillMode::Constant(0.0)), [2.0, 3.0, 4.0, 0.0]);
}

#[test]
fn bilinear_half_pixel_shift_averages_neighbours() {
    // Shift right by half a pixel: each output is the mean of two inputs; at the left edge
    // the constant fill takes half the weight.
    let mut img = vec![0.0, 10.0, 20.0, 30.0];
    let aug = Augmentation::new()
        .random_translation(Factor::constant(0.0), Factor::constant(0.125))
        .fill_mode(FillMode::Constant(100.0));
    run(&aug, &mut img, 1, 1, 4, 0);
    assert_eq!(img, [50.0, 5.0, 15.0, 25.0]);
}

// ---------------------------------------------------------------- zoom, shear, perspective

#[test]
fn zoom_keeps_the_centre_and_positive_zooms_out() {
    let (c, n) = (1, 9);
    let src = ramp(c, n, n);
    // +0.5: zoom out (the picture shrinks; corners read outside and get the fill).
    let mut out = src.clone();
    let aug = Augmentation::new().random_zoom(Factor::constant(0.5)).fill_mode(FillMode::Constant(-1.0));
    run(&aug, &mut out, c, n, n, 0);
    assert_eq!(at(&out, n, n, 0, 4, 4), at(&src, n, n, 0, 4, 4));
    assert_eq!(at(&out, n, n, 0, 0, 0), -1.0);
    // Output (4, 6) reads input x = 4 + 1.5·2 = 7.
    assert_eq!(at(&out, n, n, 0, 4, 6), at(&src, n, n, 0, 4, 7));
    // −0.5: zoom in (nothing filled; output (4, 6) reads x = 4 + 0.5·2 = 5).
    let mut inn = src.clone();
    let aug = Augmentation::new().random_zoom(Factor::constant(-0.5)).fill_mode(FillMode::Constant(-1.0));
    run(&aug, &mut inn, c, n, n, 0);
    assert_eq!(at(&inn, n, n, 0, 4, 4), at(&src, n, n, 0, 4, 4));
    assert_eq!(at(&inn, n, n, 0, 4, 6), at(&src, n, n, 0, 4, 5));
    assert!(inn.iter().all(|&v| v >= 0.0));
}

#[test]
fn zoom_hw_stretches_one_axis_only() {
    let (c, n) = (1, 9);
    let src = ramp(c, n, n);
    let mut img = src.clone();
    let aug = Augmentation::new().random_zoom_hw(Factor::constant(0.0), Factor::constant(-0.5));
    run(&aug, &mut img, c, n, n, 0);
    for y in 0..n {
        // Rows unchanged in y; x = 4 + 0.5·(x−4).
        assert_eq!(at(&img, n, n, 0, y, 8), at(&src, n, n, 0, y, 6));
        assert_eq!(at(&img, n, n, 0, y, 4), at(&src, n, n, 0, y, 4));
    }
}

#[test]
fn shear_shifts_rows_by_their_distance_from_the_centre() {
    let (c, n) = (1, 5);
    let src = ramp(c, n, n);
    let mut img = src.clone();
    let aug = Augmentation::new()
        .random_shear(Factor::constant(1.0), Factor::constant(0.0))
        .fill_mode(FillMode::Constant(-1.0));
    run(&aug, &mut img, c, n, n, 0);
    for y in 0..n {
        for x in 0..n {
            // Output (y, x) reads input (y, x + (y − 2)).
            let sx = x as i64 + y as i64 - 2;
            let expect = if (0..n as i64).contains(&sx) { at(&src, n, n, 0, y, sx as usize) } else { -1.0 };
            assert_eq!(at(&img, n, n, 0, y, x), expect, "({y},{x})");
        }
    }
}

#[test]
fn perspective_moves_the_picture_with_its_corners() {
    let output = [(1.0, 0.0), (9.0, 1.0), (0.0, 7.0), (8.0, 9.0)];
    let input = [(0.0, 0.0), (9.0, 0.0), (0.0, 9.0), (9.0, 9.0)];
    let p = Projective::from_corners(output, input).expect("non-degenerate");
    for (o, i) in output.iter().zip(&input) {
        let (x, y) = p.map(o.0, o.1);
        assert!((x - i.0).abs() < 1e-9 && (y - i.1).abs() < 1e-9);
    }
    assert!(Projective::from_corners([(0.0, 0.0); 4], input).is_none());
}

#[test]
fn perspective_probability_and_scale_bounds() {
    let (c, h, w) = (3, 16, 12);
    let src = ramp(c, h, w);
    for aug in [Augmentation::new().random_perspective(0.0, 0.5), Augmentation::new().random_perspective(1.0, 0.0)] {
        let mut img = src.clone();
        run(&aug, &mut img, c, h, w, 5);
        assert_eq!(bits(&img), bits(&src));
    }
    let mut img = src.clone();
    run(&Augmentation::new().random_perspective(1.0, 0.3), &mut img, c, h, w, 5);
    assert_eq!(img.len(), src.len());
    assert!(img.iter().all(|v| v.is_finite()));
    assert_ne!(img, src);
}

// ---------------------------------------------------------------- composition

#[test]
fn identity_pipelines_are_exact() {
    let (c, h, w) = (3, 7, 6);
    let src: Vec<f32> = ramp(c, h, w).iter().map(|v| v * 0.0573 + 0.01).collect(); // within 0..=255
    let pipelines = [
        Augmentation::new(),
        Augmentation::new()
            .random_rotation(Factor::constant(0.0))
            .random_zoom(Factor::constant(0.0))
            .random_translation(Factor::constant(0.0), Factor::constant(0.0))
            .random_shear(Factor::constant(0.0), Factor::constant(0.0)),
        // Two half turns cancel out.
        Augmentation::new().random_rotation(Factor::constant(0.5)).random_rotation(Factor::constant(0.5)),
        Augmentation::new().random_elastic(0.0, 3.0),
        Augmentation::new().random_brightness(Factor::constant(0.0)).random_contrast(Factor::constant(0.0)),
    ];
    for (i, aug) in pipelines.iter().enumerate() {
        let mut img = src.clone();
        run(aug, &mut img, c, h, w, 11);
        assert_eq!(bits(&img), bits(&src), "pipeline {i}");
    }
}

#[test]
fn composed_geometry_equals_sequential_application() {
    // Flip then translate in one warp equals flipping, then translating, in two warps.
    let (c, h, w) = (2, 6, 8);
    let src = ramp(c, h, w);
    let mut one = src.clone();
    let aug = Augmentation::new()
        .random_rotation(Factor::constant(0.5))
        .random_translation(Factor::constant(0.0), Factor::constant(0.25))
        .fill_mode(FillMode::Wrap);
    run(&aug, &mut one, c, h, w, 0);
    let mut two = src.clone();
    warp(&mut two, c, h, w, &Projective::rotation(0.5, h, w), FillMode::Wrap, Interpolation::Bilinear).unwrap();
    warp(&mut two, c, h, w, &Projective::translation(0.0, 2.0), FillMode::Wrap, Interpolation::Bilinear).unwrap();
    assert_eq!(one, two);
}

#[test]
fn shapes_length_and_finiteness_are_kept() {
    let aug = Augmentation::new()
        .random_flip(FlipMode::HorizontalAndVertical)
        .random_rotation(0.1)
        .random_zoom(0.1)
        .random_translation(0.1, 0.1)
        .random_shear(0.2, 0.1)
        .random_perspective(0.5, 0.2)
        .random_elastic(8.0, 3.0)
        .random_brightness(0.2)
        .random_contrast(0.2)
        .gaussian_noise(5.0);
    for (c, h, w) in [(1, 1, 1), (3, 5, 7), (1, 28, 28), (4, 9, 2), (3, 0, 4)] {
        let mut img = ramp(c, h, w);
        run(&aug, &mut img, c, h, w, 9);
        assert_eq!(img.len(), c * h * w);
        assert!(img.iter().all(|v| v.is_finite()), "{c}×{h}×{w}");
    }
}

#[test]
fn same_seed_same_pixels_different_seed_different_pixels() {
    let (c, h, w) = (3, 20, 24);
    let src = ramp(c, h, w);
    let aug = Augmentation::new()
        .random_flip(FlipMode::HorizontalAndVertical)
        .random_rotation(0.1)
        .random_zoom(0.1)
        .random_translation(0.1, 0.1)
        .random_elastic(5.0, 2.0)
        .gaussian_noise(3.0);
    let once = |seed: u64, epoch: u64, index: u64| {
        let mut img = src.clone();
        aug.apply(&mut img, c, h, w, &mut image_rng(seed, epoch, index)).unwrap();
        bits(&img)
    };
    assert_eq!(once(1, 2, 3), once(1, 2, 3));
    assert_ne!(once(1, 2, 3), once(2, 2, 3));
    assert_ne!(once(1, 2, 3), once(1, 3, 3));
    // The trait path draws the same stream.
    let mut img = src.clone();
    let t: Arc<dyn ImageTransform> = Arc::new(aug.clone());
    t.transform(&mut img, c, h, w, &mut image_rng(1, 2, 3));
    assert_eq!(bits(&img), once(1, 2, 3));
}

// ---------------------------------------------------------------- photometric

fn mean_std(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = v.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[test]
fn gaussian_noise_has_zero_mean_and_the_given_stddev() {
    let (c, h, w) = (3, 64, 64);
    let mut img = vec![100.0f32; c * h * w];
    run(&Augmentation::new().gaussian_noise(10.0), &mut img, c, h, w, 4);
    let (mean, std) = mean_std(&img);
    assert!((mean - 100.0).abs() < 0.3, "mean {mean}");
    assert!((std - 10.0).abs() < 0.3, "std {std}");
    // Not clipped (Keras GaussianNoise does not clip either).
    let mut img = vec![0.0f32; c * h * w];
    run(&Augmentation::new().gaussian_noise(10.0), &mut img, c, h, w, 4);
    assert!(img.iter().any(|&v| v < 0.0));
}

#[test]
fn brightness_is_additive_over_the_value_span_and_clipped() {
    let mut img = vec![10.0, 100.0, 250.0];
    run(&Augmentation::new().random_brightness(Factor::constant(0.1)), &mut img, 1, 1, 3, 0);
    assert_eq!(img, [35.5, 125.5, 255.0]);
    let mut img = vec![0.2, 0.5];
    let aug = Augmentation::new().random_brightness(Factor::constant(-0.5)).value_range(0.0, 1.0);
    run(&aug, &mut img, 1, 1, 2, 0);
    assert_eq!(img, [0.0, 0.0]);
    // Random: one delta per image, within ±0.2·255.
    for seed in 0..20 {
        let mut img = vec![100.0f32; 12];
        run(&Augmentation::new().random_brightness(0.2), &mut img, 3, 2, 2, seed);
        assert!(img.iter().all(|&v| v == img[0]));
        assert!((img[0] - 100.0).abs() <= 0.2 * 255.0 + 1e-3);
    }
}

#[test]
fn contrast_scales_deviations_about_each_channel_mean() {
    let (c, h, w) = (2, 4, 4);
    let src: Vec<f32> = (0..c * h * w).map(|i| 100.0 + (i % 16) as f32 + 50.0 * (i / 16) as f32).collect();
    let mut img = src.clone();
    run(&Augmentation::new().random_contrast(Factor::constant(0.5)), &mut img, c, h, w, 0);
    for ch in 0..c {
        let plane = &src[ch * 16..(ch + 1) * 16];
        let out = &img[ch * 16..(ch + 1) * 16];
        let (m_in, s_in) = mean_std(plane);
        let (m_out, s_out) = mean_std(out);
        assert!((m_in - m_out).abs() < 1e-4);
        assert!((s_out - 1.5 * s_in).abs() < 1e-4);
    }
    // Clipped to the value range.
    let mut img: Vec<f32> = (0..16).map(|i| (i * 17) as f32).collect();
    run(&Augmentation::new().random_contrast(Factor::constant(1.0)), &mut img, 1, 4, 4, 0);
    assert!(img.iter().all(|&v| (0.0..=255.0).contains(&v)));
    assert_eq!(img[0], 0.0);
    assert_eq!(img[15], 255.0);
}

// ---------------------------------------------------------------- elastic

#[test]
fn elastic_keeps_shape_is_seeded_and_moves_pixels() {
    let (c, h, w) = (3, 32, 32);
    let src = ramp(c, h, w);
    let aug = Augmentation::new().random_elastic(34.0, 4.0);
    let once = |seed| {
        let mut img = src.clone();
        run(&aug, &mut img, c, h, w, seed);
        img
    };
    let a = once(1);
    assert_eq!(a.len(), src.len());
    assert!(a.iter().all(|v| v.is_finite()));
    assert_ne!(a, src);
    assert_eq!(bits(&a), bits(&once(1)));
    assert_ne!(bits(&a), bits(&once(2)));
    // A constant image stays constant under any displacement (reflect fill).
    let mut flat = vec![42.0f32; c * h * w];
    run(&aug, &mut flat, c, h, w, 1);
    assert!(flat.iter().all(|&v| (v - 42.0).abs() < 1e-3));
}

#[test]
fn elastic_without_blur_stays_within_alpha() {
    // sigma = 0: raw uniform displacements in [−alpha, alpha]; with alpha < 0.5 and nearest
    // interpolation every pixel stays put.
    let (c, h, w) = (1, 8, 8);
    let src = ramp(c, h, w);
    let mut img = src.clone();
    let aug = Augmentation::new().random_elastic(0.49, 0.0).interpolation(Interpolation::Nearest);
    run(&aug, &mut img, c, h, w, 3);
    assert_eq!(img, src);
}

// ---------------------------------------------------------------- errors

#[test]
fn invalid_parameters_are_reported_and_leave_images_unchanged() {
    let cases = [
        (Augmentation::new().random_zoom(Factor::new(-1.0, 0.1)), "random_zoom factor"),
        (Augmentation::new().random_translation(1.5, 0.1), "random_translation height_factor"),
        (Augmentation::new().random_rotation(f32::NAN), "random_rotation factor"),
        (Augmentation::new().random_brightness(Factor::new(0.3, 0.1)), "random_brightness factor"),
        (Augmentation::new().gaussian_noise(-1.0), "gaussian_noise stddev"),
        (Augmentation::new().random_perspective(1.5, 0.1), "random_perspective probability"),
        (Augmentation::new().random_elastic(1.0, f32::INFINITY), "random_elastic sigma"),
        (Augmentation::new().fill_mode(FillMode::Constant(f32::NAN)), "fill_mode"),
        (Augmentation::new().value_range(1.0, 0.0), "value_range"),
    ];
    for (aug, name) in cases {
        match aug.validate() {
            Err(Error::InvalidOption { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: expected InvalidOption, got {other:?}"),
        }
        let src = ramp(1, 3, 3);
        let mut img = src.clone();
        assert!(aug.apply(&mut img, 1, 3, 3, &mut image_rng(0, 0, 0)).is_err());
        aug.transform(&mut img, 1, 3, 3, &mut image_rng(0, 0, 0));
        assert_eq!(img, src);
        assert!(aug.checked().is_err());
    }
}

#[test]
fn interpolations_the_warp_cannot_do_are_rejected() {
    use crate::resize::Interpolation::{Area, Bicubic, Lanczos3, Lanczos5};
    for interpolation in [Bicubic, Lanczos3, Lanczos5, Area] {
        let aug = Augmentation::new().random_rotation(0.1).interpolation(interpolation);
        match aug.validate() {
            Err(Error::InvalidOption { name, message, .. }) => {
                assert_eq!(name, "interpolation");
                assert!(
                    message.contains(&format!("{interpolation:?}")) && message.contains("Nearest or Bilinear"),
                    "{message}"
                );
            }
            other => panic!("{interpolation:?}: expected InvalidOption, got {other:?}"),
        }
        assert!(aug.clone().checked().is_err());
        let src = ramp(1, 3, 3);
        let mut img = src.clone();
        assert!(aug.apply(&mut img, 1, 3, 3, &mut image_rng(0, 0, 0)).is_err());
        aug.transform(&mut img, 1, 3, 3, &mut image_rng(0, 0, 0));
        assert_eq!(img, src);
        // The public warp refuses it too, even for the identity matrix.
        for m in [Projective::identity(), Projective::flip_horizontal(3)] {
            assert!(matches!(
                warp(&mut img, 1, 3, 3, &m, FillMode::Reflect, interpolation),
                Err(Error::InvalidOption { name: "interpolation", .. })
            ));
        }
        assert_eq!(img, src);
    }
    // Nearest and Bilinear stay valid.
    for interpolation in [Interpolation::Nearest, Interpolation::Bilinear] {
        assert!(Augmentation::new().interpolation(interpolation).validate().is_ok());
    }
}

#[test]
fn wrong_buffer_length_is_a_shape_error() {
    let aug = Augmentation::new().random_rotation(0.1);
    let mut img = vec![0.0f32; 10];
    assert!(matches!(aug.apply(&mut img, 3, 2, 2, &mut image_rng(0, 0, 0)), Err(Error::Shape { .. })));
    assert!(matches!(
        warp(&mut img, 1, usize::MAX, 2, &Projective::identity(), FillMode::Reflect, Interpolation::Bilinear),
        Err(Error::Shape { .. })
    ));
    let nan = Projective::from_matrix([f64::NAN, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    assert!(warp(&mut img, 1, 2, 5, &nan, FillMode::Reflect, Interpolation::Bilinear).is_err());
}
