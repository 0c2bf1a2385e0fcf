//! Seeded random streams: one independent, reproducible generator per (seed, epoch, index).
//!
//! Every random choice in wick-data goes through [`Rng`] (ChaCha8 from `rand_chacha`).
//! Per-image streams are derived with [`image_rng`] from the dataset seed, the epoch and
//! the sample's position, so results never depend on which rayon thread runs first.

use rand::SeedableRng;

/// The random generator used throughout wick-data (ChaCha8: fast, portable, seedable).
pub type Rng = rand_chacha::ChaCha8Rng;

/// Purposes of derived streams, so that e.g. the shuffle of epoch 3 and the augmentation
/// of image 3 never share a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// The global shuffle before the train/validation split.
    Split,
    /// The per-epoch shuffle of a subset.
    Shuffle,
    /// The per-image augmentation stream.
    Augment,
    /// Synthetic data generation.
    Synthetic,
}

impl Stream {
    fn tag(self) -> u64 {
        match self {
            Stream::Split => 0x5350_4c49_5400_0001,
            Stream::Shuffle => 0x5348_5546_4600_0002,
            Stream::Augment => 0x4155_474d_0000_0003,
            Stream::Synthetic => 0x5359_4e54_0000_0004,
        }
    }
}

/// SplitMix64 finaliser: a bijective 64-bit mix.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Derives a 64-bit seed from a base seed and a list of coordinates (epoch, index, ...).
pub fn derive_seed(seed: u64, stream: Stream, coords: &[u64]) -> u64 {
    let mut h = mix(seed ^ stream.tag());
    for &c in coords {
        h = mix(h ^ mix(c));
    }
    h
}

/// A generator for one purpose and coordinates, e.g. `rng_for(seed, Stream::Shuffle, &[epoch])`.
pub fn rng_for(seed: u64, stream: Stream, coords: &[u64]) -> Rng {
    Rng::seed_from_u64(derive_seed(seed, stream, coords))
}

/// The augmentation stream of one image: depends only on `(seed, epoch, index)`.
///
/// `index` is the sample's position in the epoch (not the file's), so one image gets a
/// different augmentation each epoch, and the same run repeats bit for bit.
pub fn image_rng(seed: u64, epoch: u64, index: u64) -> Rng {
    rng_for(seed, Stream::Augment, &[epoch, index])
}

/// A fair coin from `rng` (for user transforms that do not depend on `rand` directly).
pub fn coin(rng: &mut Rng) -> bool {
    use rand::Rng as _;
    rng.random_bool(0.5)
}

/// A uniform `f32` in `lo..hi` from `rng` (`lo` when the range is empty).
pub fn uniform(rng: &mut Rng, lo: f32, hi: f32) -> f32 {
    use rand::Rng as _;
    if hi > lo {
        rng.random_range(lo..hi)
    } else {
        lo
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn same_coordinates_same_stream() {
        assert_eq!(image_rng(1, 2, 3).next_u64(), image_rng(1, 2, 3).next_u64());
    }

    #[test]
    fn different_coordinates_differ() {
        let a = image_rng(1, 2, 3).next_u64();
        assert_ne!(a, image_rng(1, 3, 2).next_u64());
        assert_ne!(a, image_rng(2, 2, 3).next_u64());
        assert_ne!(rng_for(1, Stream::Shuffle, &[2]).next_u64(), rng_for(1, Stream::Split, &[2]).next_u64());
    }
}
