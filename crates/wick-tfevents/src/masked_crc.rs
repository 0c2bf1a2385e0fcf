//! The masked CRC-32C that TFRecord framing stores after the length and after the data.

/// Constant added after rotating, as the TFRecord format specifies.
const MASK_DELTA: u32 = 0xA282_EAD8;

/// Masked CRC-32C (Castagnoli) of `bytes`: the CRC rotated right by 15 bits plus
/// `0xA282EAD8`, wrapping.
///
/// ```
/// assert_eq!(wick_tfevents::masked_crc32c(b""), 0xA282_EAD8);
/// ```
pub fn masked_crc32c(bytes: &[u8]) -> u32 {
    mask(crc32c::crc32c(bytes))
}

/// Applies the TFRecord mask to a raw CRC-32C value.
pub fn mask(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(MASK_DELTA)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_is_castagnoli() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn known_masked_values() {
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(masked_crc32c(&[0u8; 32]), 0x0FD7_FFFA);
        assert_eq!(masked_crc32c(b""), 0xA282_EAD8);
        assert_eq!(masked_crc32c(b"\x1a\x11CRC test, one two"), 0x5794_D08A);
        assert_eq!(masked_crc32c(&24u64.to_le_bytes()), 0x224B_7FA3);
        assert_eq!(masked_crc32c(&46u64.to_le_bytes()), 0xFA57_CBC5);
        assert_eq!(masked_crc32c(&0u64.to_le_bytes()), 0x0798_0329);
    }
}
