//! TensorFlow's `padding="same"` rule: how many zeros go before and after an axis.

/// `(before, after)` zeros for an axis of `size` under a `kernel`-wide window moving by
/// `stride`, as TensorFlow / Keras `padding="same"` pads (and the PyTorch ports of TF
/// networks with "static same padding"): the output has `ceil(size / stride)` positions and
/// the total `max((out − 1)·stride + kernel − size, 0)` is split with the extra zero after.
pub fn same_padding(size: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let stride = stride.max(1);
    let out = size.div_ceil(stride);
    let total = ((out.saturating_sub(1)) * stride + kernel).saturating_sub(size);
    (total / 2, total - total / 2)
}

#[cfg(test)]
mod tests {
    use super::same_padding;

    #[test]
    fn matches_tensorflow() {
        // 224 → 112 with a 3×3 stride-2 window: one zero after, none before.
        assert_eq!(same_padding(224, 3, 2), (0, 1));
        assert_eq!(same_padding(28, 5, 2), (1, 2));
        assert_eq!(same_padding(14, 5, 1), (2, 2));
        assert_eq!(same_padding(7, 3, 2), (1, 1));
        assert_eq!(same_padding(8, 1, 1), (0, 0));
    }
}
