//! `Simd`: 16-lane f32 vectors for the depthwise kernels — one AVX-512 register, two AVX2
//! registers or a plain array — behind capability tokens that exist only on CPUs with the
//! instructions.
//!
//! Every implementation computes each lane the same way (a fused multiply-add where the
//! hardware has one), so the AVX-512 and AVX2 kernels give the same bits.

/// 16 lanes of f32 under one instruction set; `self` is the proof that the CPU has it.
pub(super) trait Simd: Copy {
    /// The vector type.
    type V: Copy;
    /// All lanes zero.
    fn zero(self) -> Self::V;
    /// All lanes `v`.
    fn splat(self, v: f32) -> Self::V;
    /// The first 16 elements of `s` (which must have them).
    fn load(self, s: &[f32]) -> Self::V;
    /// Writes the 16 lanes to the first 16 elements of `s`.
    fn store(self, v: Self::V, s: &mut [f32]);
    /// `a * b + c` per lane.
    fn madd(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a + b` per lane.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// Transposes the 16 x 16 matrix whose rows are `m` in place.
    fn transpose(self, m: &mut [Self::V; 16]);
}

/// Lanes per vector.
pub(super) const LANES: usize = 16;

/// The baseline: arrays the compiler vectorises as it can; separate multiply and add.
#[derive(Clone, Copy, Debug)]
pub(super) struct Scalar;

impl Simd for Scalar {
    type V = [f32; 16];
    #[inline(always)]
    fn zero(self) -> Self::V {
        [0.0; 16]
    }
    #[inline(always)]
    fn splat(self, v: f32) -> Self::V {
        [v; 16]
    }
    #[inline(always)]
    fn load(self, s: &[f32]) -> Self::V {
        let mut v = [0f32; 16];
        v.copy_from_slice(&s[..16]);
        v
    }
    #[inline(always)]
    fn store(self, v: Self::V, s: &mut [f32]) {
        s[..16].copy_from_slice(&v);
    }
    #[inline(always)]
    fn madd(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        std::array::from_fn(|l| a[l] * b[l] + c[l])
    }
    #[inline(always)]
    fn add(self, a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|l| a[l] + b[l])
    }
    #[inline(always)]
    fn transpose(self, m: &mut [Self::V; 16]) {
        let t = *m;
        for (i, row) in m.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = t[j][i];
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Simd;

    /// Proof that the CPU has AVX-512F and FMA.
    #[derive(Clone, Copy, Debug)]
    pub(in crate::depthwise) struct Avx512(());

    impl Avx512 {
        /// The token, on a CPU with AVX-512F and FMA.
        pub(in crate::depthwise) fn new() -> Option<Self> {
            (is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma")).then_some(Self(()))
        }
    }

    /// Proof that the CPU has AVX2 and FMA.
    #[derive(Clone, Copy, Debug)]
    pub(in crate::depthwise) struct Avx2(());

    impl Avx2 {
        /// The token, on a CPU with AVX2 and FMA.
        pub(in crate::depthwise) fn new() -> Option<Self> {
            (is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")).then_some(Self(()))
        }
    }

    // In both implementations every intrinsic needs the token's instructions, which the CPU
    // has because the token exists; loads and stores go through slices of at least 16
    // elements (`&s[..16]` checks it). The kernels that call these are compiled with the
    // features enabled, so the intrinsics inline into them.

    impl Simd for Avx512 {
        type V = __m512;
        #[inline(always)]
        fn zero(self) -> __m512 {
            // SAFETY: the token proves AVX-512F.
            unsafe { _mm512_setzero_ps() }
        }
        #[inline(always)]
        fn splat(self, v: f32) -> __m512 {
            // SAFETY: the token proves AVX-512F.
            unsafe { _mm512_set1_ps(v) }
        }
        #[inline(always)]
        fn load(self, s: &[f32]) -> __m512 {
            let s = &s[..16];
            // SAFETY: AVX-512F (the token); `s` holds the 16 f32 read (unaligned load).
            unsafe { _mm512_loadu_ps(s.as_ptr()) }
        }
        #[inline(always)]
        fn store(self, v: __m512, s: &mut [f32]) {
            let s = &mut s[..16];
            // SAFETY: AVX-512F (the token); `s` holds the 16 f32 written (unaligned store).
            unsafe { _mm512_storeu_ps(s.as_mut_ptr(), v) }
        }
        #[inline(always)]
        fn madd(self, a: __m512, b: __m512, c: __m512) -> __m512 {
            // SAFETY: the token proves AVX-512F.
            unsafe { _mm512_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        fn add(self, a: __m512, b: __m512) -> __m512 {
            // SAFETY: the token proves AVX-512F.
            unsafe { _mm512_add_ps(a, b) }
        }
        #[inline(always)]
        fn transpose(self, m: &mut [__m512; 16]) {
            // SAFETY: the token proves AVX-512F; register shuffles only.
            unsafe {
                // Interleave pairs of rows, then pairs of pairs, then 128-bit lanes twice.
                let mut t = [_mm512_setzero_ps(); 16];
                for i in 0..8 {
                    t[2 * i] = _mm512_unpacklo_ps(m[2 * i], m[2 * i + 1]);
                    t[2 * i + 1] = _mm512_unpackhi_ps(m[2 * i], m[2 * i + 1]);
                }
                for i in 0..4 {
                    let (a, b) = (4 * i, 4 * i + 2);
                    m[4 * i] = _mm512_shuffle_ps(t[a], t[b], 0x44);
                    m[4 * i + 1] = _mm512_shuffle_ps(t[a], t[b], 0xEE);
                    m[4 * i + 2] = _mm512_shuffle_ps(t[a + 1], t[b + 1], 0x44);
                    m[4 * i + 3] = _mm512_shuffle_ps(t[a + 1], t[b + 1], 0xEE);
                }
                for h in 0..2 {
                    let o = 8 * h;
                    for i in 0..4 {
                        t[o + i] = _mm512_shuffle_f32x4(m[o + i], m[o + 4 + i], 0x88);
                        t[o + 4 + i] = _mm512_shuffle_f32x4(m[o + i], m[o + 4 + i], 0xDD);
                    }
                }
                for i in 0..8 {
                    m[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
                    m[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xDD);
                }
            }
        }
    }

    impl Simd for Avx2 {
        type V = [__m256; 2];
        #[inline(always)]
        fn zero(self) -> [__m256; 2] {
            // SAFETY: the token proves AVX.
            unsafe { [_mm256_setzero_ps(); 2] }
        }
        #[inline(always)]
        fn splat(self, v: f32) -> [__m256; 2] {
            // SAFETY: the token proves AVX.
            unsafe { [_mm256_set1_ps(v); 2] }
        }
        #[inline(always)]
        fn load(self, s: &[f32]) -> [__m256; 2] {
            let s = &s[..16];
            // SAFETY: AVX (the token); `s` holds the 16 f32 read (two unaligned loads).
            unsafe { [_mm256_loadu_ps(s.as_ptr()), _mm256_loadu_ps(s[8..].as_ptr())] }
        }
        #[inline(always)]
        fn store(self, v: [__m256; 2], s: &mut [f32]) {
            let s = &mut s[..16];
            // SAFETY: AVX (the token); `s` holds the 16 f32 written (two unaligned stores).
            unsafe {
                _mm256_storeu_ps(s.as_mut_ptr(), v[0]);
                _mm256_storeu_ps(s[8..].as_mut_ptr(), v[1]);
            }
        }
        #[inline(always)]
        fn madd(self, a: [__m256; 2], b: [__m256; 2], c: [__m256; 2]) -> [__m256; 2] {
            // SAFETY: the token proves FMA.
            unsafe { [_mm256_fmadd_ps(a[0], b[0], c[0]), _mm256_fmadd_ps(a[1], b[1], c[1])] }
        }
        #[inline(always)]
        fn add(self, a: [__m256; 2], b: [__m256; 2]) -> [__m256; 2] {
            // SAFETY: the token proves AVX.
            unsafe { [_mm256_add_ps(a[0], b[0]), _mm256_add_ps(a[1], b[1])] }
        }
        #[inline(always)]
        fn transpose(self, m: &mut [[__m256; 2]; 16]) {
            // The four 8 x 8 quadrants, each transposed, the off-diagonal two swapped.
            let mut q = [[self.zero()[0]; 8]; 4];
            for r in 0..8 {
                q[0][r] = m[r][0];
                q[1][r] = m[r][1];
                q[2][r] = m[8 + r][0];
                q[3][r] = m[8 + r][1];
            }
            for b in &mut q {
                transpose8(self, b);
            }
            for c in 0..8 {
                m[c] = [q[0][c], q[2][c]];
                m[8 + c] = [q[1][c], q[3][c]];
            }
        }
    }

    /// Transposes the 8 x 8 matrix whose rows are `r` in place.
    #[inline(always)]
    fn transpose8(_: Avx2, r: &mut [__m256; 8]) {
        // SAFETY: the token proves AVX; register shuffles only.
        unsafe {
            let mut t = [_mm256_setzero_ps(); 8];
            for i in 0..4 {
                t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
            }
            let mut u = [_mm256_setzero_ps(); 8];
            for i in 0..2 {
                let (a, b) = (4 * i, 4 * i + 2);
                u[4 * i] = _mm256_shuffle_ps(t[a], t[b], 0x44);
                u[4 * i + 1] = _mm256_shuffle_ps(t[a], t[b], 0xEE);
                u[4 * i + 2] = _mm256_shuffle_ps(t[a + 1], t[b + 1], 0x44);
                u[4 * i + 3] = _mm256_shuffle_ps(t[a + 1], t[b + 1], 0xEE);
            }
            for i in 0..4 {
                r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
                r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<S: Simd>(k: S) {
        let mut m: [S::V; 16] = std::array::from_fn(|r| {
            let row: Vec<f32> = (0..16).map(|c| (r * 16 + c) as f32).collect();
            k.load(&row)
        });
        k.transpose(&mut m);
        for (r, v) in m.iter().enumerate() {
            let mut row = [0f32; 16];
            k.store(*v, &mut row);
            let want: Vec<f32> = (0..16).map(|c| (c * 16 + r) as f32).collect();
            assert_eq!(&row[..], &want[..], "row {r}");
        }
        let (a, b) = (k.splat(2.0), k.load(&[1.5; 16]));
        let mut out = [0f32; 16];
        k.store(k.add(k.madd(a, b, a), k.zero()), &mut out);
        assert_eq!(out, [5.0; 16]);
    }

    #[test]
    fn transposes_and_arithmetic_agree_on_every_instruction_set() {
        check(Scalar);
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(t) = Avx512::new() {
                // SAFETY: the token proves the features the wrapper enables.
                unsafe { check_avx512(t) };
            }
            if let Some(t) = Avx2::new() {
                // SAFETY: the token proves the features the wrapper enables.
                unsafe { check_avx2(t) };
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    fn check_avx512(t: Avx512) {
        check(t)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn check_avx2(t: Avx2) {
        check(t)
    }
}
