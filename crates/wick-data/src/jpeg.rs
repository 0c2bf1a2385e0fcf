//! JPEG decoding through zune-jpeg directly, the decoder `image` 0.25 wraps.
//!
//! The result is byte-for-byte what `image::load_from_memory_with_format(.., Jpeg)` gives
//! (same decoder, same options, same output colour type), without its overheads: `image`
//! copies the whole input, parses the headers twice (building the Huffman tables twice)
//! and feeds the decoder through `ZCursor`'s slow `io::Read` path (see
//! [`crate::slice_reader`]). At 128² this decodes ≈ 15 % faster. The completeness check
//! ([`jpeg_is_complete`]) lives here too.

use image::{DynamicImage, ImageBuffer};
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

use crate::slice_reader::SliceReader;

/// `image`'s default allocation limit (`image::Limits::default().max_alloc`), kept so that
/// a file `image` would refuse is refused here too.
const MAX_ALLOC: usize = 512 * 1024 * 1024;

/// True when a JPEG stream has an end-of-image marker (`FF D9`) after its last
/// start-of-scan marker (`FF DA`). Neither pair can occur inside entropy-coded data
/// (there `FF` is followed by `00` or a restart marker), so a file cut anywhere in or
/// after its last scan fails this test, while trailing bytes after EOI are tolerated.
///
/// Equivalently: the last EOI exists, no SOS follows it, and some SOS precedes it. Both
/// scans touch only the ends of the file (the EOI is near the end, the first SOS near
/// the start), not the entropy-coded middle.
pub fn jpeg_is_complete(bytes: &[u8]) -> bool {
    const SOS: [u8; 2] = [0xFF, 0xDA];
    const EOI: [u8; 2] = [0xFF, 0xD9];
    let Some(eoi) = bytes.windows(2).rposition(|w| w == EOI) else {
        return false;
    };
    let sos_after = bytes[eoi..].windows(2).any(|w| w == SOS);
    let sos_before = bytes[..eoi].windows(2).any(|w| w == SOS);
    sos_before && !sos_after
}

/// The output colour space `image` asks zune-jpeg for: the file's own when `image` has
/// a matching colour type, else RGB (CMYK, YCCK, … are converted by zune-jpeg).
fn output_space(input: ColorSpace) -> ColorSpace {
    match input {
        ColorSpace::RGB | ColorSpace::RGBA | ColorSpace::Luma | ColorSpace::LumaA => input,
        _ => ColorSpace::RGB,
    }
}

/// The options `image` 0.25 decodes with (non-strict, no size cap), for `space` output.
fn options(space: ColorSpace) -> DecoderOptions {
    DecoderOptions::default()
        .jpeg_set_out_colorspace(space)
        .set_strict_mode(false)
        .set_max_width(usize::MAX)
        .set_max_height(usize::MAX)
}

/// Where [`decode_jpeg_into`] left the pixels: interleaved u8 in the first
/// `width * height * channels` bytes of the caller's buffer.
pub(crate) struct DecodedJpeg {
    /// Width in pixels.
    pub(crate) width: usize,
    /// Height in pixels.
    pub(crate) height: usize,
    /// The output colour space: RGB, RGBA, Luma or LumaA (what `image` would return).
    pub(crate) space: ColorSpace,
    /// Bytes written: `width * height * channels`.
    pub(crate) len: usize,
}

/// Decodes a JPEG held in memory into `pixels` (resized as needed, never shrunk; the
/// bytes used are zeroed first, as a fresh buffer would be, so a damaged file that the
/// decoder only partly fills gives the same bytes as before). Errors are the decoder's
/// message. May panic on hostile input like any decoder; the caller contains that.
pub(crate) fn decode_jpeg_into(bytes: &[u8], pixels: &mut Vec<u8>) -> Result<DecodedJpeg, String> {
    let mut decoder = JpegDecoder::new_with_options(SliceReader::new(bytes), options(ColorSpace::RGB));
    decoder.decode_headers().map_err(|e| e.to_string())?;
    let input = decoder.input_colorspace().ok_or("no colour space after the headers")?;
    let space = output_space(input);
    if space != ColorSpace::RGB {
        // The colour converter is chosen while parsing the headers: start over (rare).
        decoder = JpegDecoder::new_with_options(SliceReader::new(bytes), options(space));
        decoder.decode_headers().map_err(|e| e.to_string())?;
    }
    let (width, height) = decoder.dimensions().ok_or("no dimensions after the headers")?;
    let len = decoder.output_buffer_size().ok_or("the image size overflows")?;
    if len > MAX_ALLOC {
        return Err(format!("{width}x{height} needs {len} bytes, over the 512 MiB decode limit"));
    }
    if pixels.len() < len {
        pixels.resize(len, 0);
    }
    let out = &mut pixels[..len];
    out.fill(0);
    decoder.decode_into(out).map_err(|e| e.to_string())?;
    Ok(DecodedJpeg { width, height, space, len })
}

/// Decodes a JPEG held in memory to the `DynamicImage` `image` would return (`Rgb8`,
/// `Rgba8`, `L8` or `La8`). Errors are the decoder's message. May panic on hostile input
/// like any decoder; the caller contains that.
pub(crate) fn decode_jpeg(bytes: &[u8]) -> Result<DynamicImage, String> {
    let mut pixels = Vec::new();
    let d = decode_jpeg_into(bytes, &mut pixels)?;
    pixels.truncate(d.len);
    into_dynamic(pixels, d.width, d.height, d.space)
}

/// Wraps interleaved pixels of `space` (RGB, RGBA, Luma or LumaA) as a `DynamicImage`.
pub(crate) fn into_dynamic(
    pixels: Vec<u8>,
    width: usize,
    height: usize,
    space: ColorSpace,
) -> Result<DynamicImage, String> {
    let (w, h) = (width as u32, height as u32);
    let image = match space {
        ColorSpace::RGBA => ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageRgba8),
        ColorSpace::Luma => ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        ColorSpace::LumaA => ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageLumaA8),
        _ => ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
    };
    image.ok_or_else(|| "the decoded buffer does not match the image size".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{write_image, ImageFileFormat};
    use image::{GrayImage, Luma, Rgb, RgbImage};
    use rand::{Rng as _, SeedableRng};
    use zune_core::bytestream::ZCursor;

    fn encode(image: DynamicImage, format: ImageFileFormat) -> Vec<u8> {
        if let (DynamicImage::ImageLuma8(g), ImageFileFormat::Jpeg { quality }) = (&image, format) {
            let mut bytes = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality).encode_image(g).unwrap();
            return bytes;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        write_image(&path, &image.to_rgb8(), format).unwrap();
        std::fs::read(path).unwrap()
    }

    /// Noisy test pictures: RGB of a few sizes (odd ones too) and a grey one.
    fn pictures(format: ImageFileFormat) -> Vec<Vec<u8>> {
        let mut rng = crate::rng::Rng::seed_from_u64(5);
        let mut out = Vec::new();
        for (w, h) in [(1, 1), (7, 5), (33, 17), (128, 128)] {
            let img = RgbImage::from_fn(w, h, |x, y| {
                Rgb([(x * 9) as u8 ^ (rng.random::<u8>() / 4), (y * 7) as u8, rng.random()])
            });
            out.push(encode(DynamicImage::ImageRgb8(img), format));
        }
        let grey = GrayImage::from_fn(40, 24, |x, y| Luma([((x + y) * 5) as u8 ^ (rng.random::<u8>() / 8)]));
        out.push(encode(DynamicImage::ImageLuma8(grey), format));
        out
    }

    #[test]
    fn direct_decode_equals_image_pixel_for_pixel() {
        for (format, kind) in [
            (ImageFileFormat::Jpeg { quality: 90 }, image::ImageFormat::Jpeg),
            (ImageFileFormat::Png, image::ImageFormat::Png),
        ] {
            for bytes in pictures(format) {
                let want = image::load_from_memory_with_format(&bytes, kind).unwrap();
                let got = crate::decode::decode_bytes(std::path::Path::new("x"), &bytes).unwrap();
                assert_eq!(got.color(), want.color());
                assert_eq!((got.width(), got.height()), (want.width(), want.height()));
                assert_eq!(got.as_bytes(), want.as_bytes(), "{kind:?} {}x{}", want.width(), want.height());
            }
        }
    }

    /// zune-jpeg over `ZCursor` (what `image` uses): pixels or an error.
    fn via_zcursor(bytes: &[u8]) -> Option<Vec<u8>> {
        let mut d = JpegDecoder::new_with_options(ZCursor::new(bytes), options(ColorSpace::RGB));
        d.decode_headers().ok()?;
        let mut out = vec![0; d.output_buffer_size()?];
        d.decode_into(&mut out).ok().map(|()| out)
    }

    fn via_slice_reader(bytes: &[u8]) -> Option<Vec<u8>> {
        let mut d = JpegDecoder::new_with_options(SliceReader::new(bytes), options(ColorSpace::RGB));
        d.decode_headers().ok()?;
        let mut out = vec![0; d.output_buffer_size()?];
        d.decode_into(&mut out).ok().map(|()| out)
    }

    #[test]
    fn slice_reader_decodes_damaged_files_like_zcursor() {
        let mut rng = crate::rng::Rng::seed_from_u64(9);
        let (mut ok, mut failed) = (0, 0);
        for original in pictures(ImageFileFormat::Jpeg { quality: 75 }) {
            for round in 0..150 {
                let mut bytes = original.clone();
                match round % 5 {
                    0 => bytes.truncate(rng.random_range(0..bytes.len())),
                    1 => {
                        for _ in 0..rng.random_range(1..4) {
                            let i = rng.random_range(0..bytes.len());
                            bytes[i] = rng.random();
                        }
                    }
                    2 => {
                        let i = rng.random_range(0..bytes.len());
                        bytes.insert(i, 0xFF);
                    }
                    3 => {
                        let i = rng.random_range(2..bytes.len());
                        bytes.drain(i..(i + rng.random_range(1..32)).min(bytes.len()));
                    }
                    _ => bytes.extend((0..rng.random_range(1..64)).map(|_| rng.random::<u8>())),
                }
                let want = std::panic::catch_unwind(|| via_zcursor(&bytes));
                let got = std::panic::catch_unwind(|| via_slice_reader(&bytes));
                match (want, got) {
                    (Ok(w), Ok(g)) => {
                        assert_eq!(g, w, "round {round}");
                        if w.is_some() {
                            ok += 1
                        } else {
                            failed += 1
                        }
                    }
                    (Err(_), Err(_)) => {}
                    _ => panic!("round {round}: one decoder panicked, the other did not"),
                }
            }
        }
        assert!(ok > 50 && failed > 50, "both outcomes exercised: {ok} decoded, {failed} refused");
    }

    #[test]
    fn marker_order_cases() {
        // Trailing bytes after EOI are fine; a scan after the last EOI is not.
        assert!(jpeg_is_complete(&[0xFF, 0xDA, 0xFF, 0xD9, 0, 0]));
        assert!(!jpeg_is_complete(&[0xFF, 0xDA, 0xFF, 0xD9, 0xFF, 0xDA, 1]));
        assert!(!jpeg_is_complete(&[0xFF, 0xD8, 0xFF, 0xD9]));
        assert!(!jpeg_is_complete(&[]));
    }

    /// The old definition, kept as the oracle.
    fn complete_reference(bytes: &[u8]) -> bool {
        let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
        match last_sos {
            Some(sos) => bytes[sos..].windows(2).any(|w| w == [0xFF, 0xD9]),
            None => false,
        }
    }

    #[test]
    fn completeness_matches_the_last_scan_definition() {
        use rand::{Rng as _, SeedableRng};
        let mut rng = crate::rng::Rng::seed_from_u64(7);
        for _ in 0..20_000 {
            let len = rng.random_range(0..12);
            // Few distinct bytes so that markers appear often.
            let bytes: Vec<u8> = (0..len).map(|_| [0xFF, 0xDA, 0xD9, 0x00][rng.random_range(0..4)]).collect();
            assert_eq!(jpeg_is_complete(&bytes), complete_reference(&bytes), "{bytes:02X?}");
        }
    }
}
