//! Scratch buffers the depthwise kernels reuse between planes.

/// `v` resized to `len` zeros when its length differs, left as it is otherwise: the
/// padded buffers of one geometry keep their zeros where no pixel is ever written, so they
/// need zeroing only when first sized.
#[inline(always)]
pub(super) fn sized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() != len {
        v.clear();
        v.resize(len, 0.0);
    }
    v
}
