//! The confusion-matrix image `evaluate` logs: row-normalised coloured cells with their
//! counts, class names on both axes and the axis titles, in an 8×8 bitmap font.

use font8x8::legacy::BASIC_LEGACY;

/// Margin around the picture and between its parts, in pixels.
const PAD: usize = 8;
/// Longest label drawn; longer class names are cut and end in `..`.
const MAX_LABEL: usize = 20;
/// Above this many classes the text is drawn at 1× (8 px) instead of 2× (16 px).
const LARGE_MATRIX: usize = 20;
const WHITE: [u8; 3] = [255, 255, 255];
const GRID: [u8; 3] = [160, 160, 160];
const INK: [u8; 3] = [20, 20, 20];
/// Row title (vertical, at the left) and column title (above the columns).
const TRUE_TITLE: &str = "true class";
const PREDICTED_TITLE: &str = "predicted class";

/// An RGB picture of a confusion matrix (see [`confusion_image`]) and where its cells are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionImage {
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// `height × width × 3` bytes, row-major (HWC), as `Image::from_u8_hwc` takes them.
    pub pixels: Vec<u8>,
    /// Top-left pixel of the grid (its outer line).
    grid: (usize, usize),
    /// Grid pitch: a cell's interior is `cell - 1` pixels square.
    cell: usize,
}

impl ConfusionImage {
    /// The interior of the cell of true class `t` and predicted class `p`, as
    /// `(x, y, width, height)` in pixels (the grid lines excluded).
    pub fn cell_rect(&self, t: usize, p: usize) -> (usize, usize, usize, usize) {
        (self.grid.0 + p * self.cell + 1, self.grid.1 + t * self.cell + 1, self.cell - 1, self.cell - 1)
    }

    /// The RGB value at `(x, y)`.
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }

    fn fill(&mut self, (x, y, w, h): (usize, usize, usize, usize), rgb: [u8; 3]) {
        for row in y..(y + h).min(self.height) {
            for col in x..(x + w).min(self.width) {
                let i = (row * self.width + col) * 3;
                self.pixels[i..i + 3].copy_from_slice(&rgb);
            }
        }
    }

    /// Draws `text` at `scale`: left to right from top-left `(x, y)`, or, `vertical`,
    /// rotated a quarter turn to read bottom to top, from bottom-left `(x, y)`.
    fn text(&mut self, x: usize, y: usize, text: &str, scale: usize, vertical: bool, rgb: [u8; 3]) {
        for (i, ch) in text.chars().enumerate() {
            let glyph = BASIC_LEGACY[if ch.is_ascii() { ch as usize } else { '?' as usize }];
            for (gy, bits) in glyph.iter().enumerate() {
                for gx in 0..8 {
                    if bits & (1 << gx) == 0 {
                        continue;
                    }
                    // Column gx (bit 0 leftmost) of row gy of the i-th glyph.
                    let (px, py) = if vertical {
                        (x + gy * scale, (y + 1).saturating_sub((i * 8 + gx + 1) * scale))
                    } else {
                        (x + (i * 8 + gx) * scale, y + gy * scale)
                    };
                    self.fill((px, py, scale, scale), rgb);
                }
            }
        }
    }
}

/// A class name as drawn: at most [`MAX_LABEL`] characters.
fn label(name: &str) -> String {
    if name.chars().count() <= MAX_LABEL {
        name.to_string()
    } else {
        name.chars().take(MAX_LABEL - 2).chain("..".chars()).collect()
    }
}

/// The confusion matrix (`confusion[true][predicted]`) as an RGB image: true classes down,
/// predicted classes across, in label order; each cell coloured by its share of the row
/// (white 0 to blue 1) and showing its count; class names beside the rows and above the
/// columns (turned a quarter when wider than a cell); the axis titles "true class" (left)
/// and "predicted class" (top). Text is 16 px high (8 px above 20 classes), from the
/// public-domain 8×8 font of `font8x8`. A class without a name in `class_names` is shown
/// by its index.
pub fn confusion_image(confusion: &[Vec<usize>], class_names: &[String]) -> ConfusionImage {
    let k = confusion.len();
    let scale = if k > LARGE_MATRIX { 1 } else { 2 };
    let glyph = 8 * scale;
    let names: Vec<String> = (0..k).map(|i| label(class_names.get(i).map_or(&i.to_string(), |n| n.as_str()))).collect();
    let digits = confusion.iter().flatten().map(|n| n.to_string().len()).max().unwrap_or(1);
    // Room for the longest count and a glyph of margin; at least 3 glyphs.
    let cell = (digits + 1).max(3) * glyph;
    let name_width = names.iter().map(|n| n.chars().count() * glyph).max().unwrap_or(0);
    // Column names fit across a cell, or stand turned (reading upwards).
    let vertical_columns = name_width > cell - 2;
    let column_band = if vertical_columns { name_width } else { glyph };
    let grid_side = k * cell + 1;
    let grid_x = PAD + glyph + PAD + name_width + PAD;
    let grid_y = PAD + glyph + PAD + column_band + PAD;
    let predicted_len = PREDICTED_TITLE.len() * glyph;
    // Each title keeps clear of the other's band: "predicted class" right of the left
    // band, "true class" below the top one.
    let band = PAD + glyph + PAD;
    let predicted_x = (grid_x + grid_side / 2).saturating_sub(predicted_len / 2).max(band);
    let width = (grid_x + grid_side + PAD).max(predicted_x + predicted_len + PAD);
    let true_len = TRUE_TITLE.len() * glyph;
    let height = (grid_y + grid_side + PAD).max(band + true_len + PAD);
    let mut img = ConfusionImage { height, width, pixels: WHITE.repeat(width * height), grid: (grid_x, grid_y), cell };

    img.fill((grid_x, grid_y, grid_side, grid_side), GRID);
    for (t, row) in confusion.iter().enumerate() {
        let total: usize = row.iter().sum();
        for (p, &n) in row.iter().enumerate() {
            let v = if total == 0 { 0.0 } else { n as f64 / total as f64 };
            let rgb = [(255.0 * (1.0 - 0.9 * v)) as u8, (255.0 * (1.0 - 0.7 * v)) as u8, 255u8];
            let rect = img.cell_rect(t, p);
            img.fill(rect, rgb);
            let text = n.to_string();
            let ink = if v > 0.55 { WHITE } else { INK };
            let (x, y, w, h) = rect;
            img.text(x + (w - text.len() * glyph) / 2, y + (h - glyph) / 2, &text, scale, false, ink);
        }
    }
    for (i, name) in names.iter().enumerate() {
        let len = name.chars().count() * glyph;
        // Row names end at the grid, centred on their row.
        let row_y = grid_y + i * cell + (cell - glyph) / 2;
        img.text(grid_x - PAD - len, row_y, name, scale, false, INK);
        let col_x = grid_x + i * cell + (cell - glyph) / 2;
        if vertical_columns {
            img.text(col_x, grid_y - PAD - 1, name, scale, true, INK);
        } else {
            img.text(grid_x + i * cell + (cell - len) / 2, grid_y - PAD - glyph, name, scale, false, INK);
        }
    }
    img.text(predicted_x, PAD, PREDICTED_TITLE, scale, false, INK);
    let true_bottom = (grid_y + grid_side / 2 + true_len / 2).min(height - PAD - 1).max(band + true_len - 1);
    img.text(PAD, true_bottom, TRUE_TITLE, scale, true, INK);
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    /// Pixels of `rect` that differ from its fill (the cell's own colour, at its corner).
    fn text_pixels(img: &ConfusionImage, (x, y, w, h): (usize, usize, usize, usize)) -> usize {
        let fill = img.pixel(x, y);
        (y..y + h).flat_map(|r| (x..x + w).map(move |c| (c, r))).filter(|&(c, r)| img.pixel(c, r) != fill).count()
    }

    /// Non-white pixels of the band `x0..x1` × `y0..y1`.
    fn ink(img: &ConfusionImage, x0: usize, x1: usize, y0: usize, y1: usize) -> usize {
        (y0..y1).flat_map(|r| (x0..x1).map(move |c| (c, r))).filter(|&(c, r)| img.pixel(c, r) != WHITE).count()
    }

    #[test]
    fn every_cell_shows_its_count() {
        let confusion = vec![vec![12, 0, 3], vec![1, 9, 0], vec![0, 0, 250]];
        let img = confusion_image(&confusion, &names(&["a", "b", "c"]));
        assert_eq!(img.pixels.len(), img.width * img.height * 3);
        for (t, row) in confusion.iter().enumerate() {
            for (p, &count) in row.iter().enumerate() {
                let rect = img.cell_rect(t, p);
                let n = text_pixels(&img, rect);
                assert!(n > 0, "cell ({t}, {p}) with count {count} has no text pixels");
                // A one-digit count is one 16 px glyph: fewer pixels than a three-digit one.
                if count < 10 {
                    assert!(n < text_pixels(&img, img.cell_rect(2, 2)), "({t}, {p})");
                }
            }
        }
        // The diagonal of a well-classified row is dark blue with white digits.
        let (x, y, _, _) = img.cell_rect(2, 2);
        assert!(img.pixel(x, y)[0] < 60, "{:?}", img.pixel(x, y));
    }

    #[test]
    fn longer_names_make_the_image_larger() {
        let confusion = vec![vec![1, 2], vec![3, 4]];
        let short = confusion_image(&confusion, &names(&["a", "b"]));
        let long = confusion_image(&confusion, &names(&["triangle", "b"]));
        assert!(long.width > short.width, "{} vs {}", long.width, short.width);
        assert!(long.height > short.height, "column names turned upright: {} vs {}", long.height, short.height);
        // The cells themselves keep their size.
        assert_eq!(short.cell_rect(0, 0).2, long.cell_rect(0, 0).2);
        let cut = confusion_image(&confusion, &names(&["a_class_name_far_too_long_to_draw_whole", "b"]));
        assert!(cut.width < long.width + 16 * MAX_LABEL);
        assert_eq!(label("a_class_name_far_too_long_to_draw_whole").chars().count(), MAX_LABEL);
    }

    #[test]
    fn names_and_titles_are_drawn_beside_the_grid() {
        let confusion = vec![vec![5, 0], vec![0, 5]];
        let img = confusion_image(&confusion, &names(&["circle", "star"]));
        let (gx, gy, w, _) = img.cell_rect(0, 0);
        // Row names left of the grid, level with each row.
        for t in 0..2 {
            let (_, y, _, h) = img.cell_rect(t, 0);
            assert!(ink(&img, 2 * PAD + 16, gx - 1, y, y + h) > 0, "no name beside row {t}");
        }
        // Column names above the grid, over each column.
        for p in 0..2 {
            let (x, _, _, _) = img.cell_rect(0, p);
            assert!(ink(&img, x, x + w, PAD + 16 + PAD, gy - 1) > 0, "no name above column {p}");
        }
        // The titles: "predicted class" in the top band, "true class" in the left one,
        // apart (the corner where the bands cross stays empty), also for a small matrix.
        for img in [&img, &confusion_image(&[vec![1]], &names(&["a"]))] {
            let band = PAD + 16 + PAD;
            assert!(ink(img, band, img.width, 0, band) > 0, "no column title");
            assert!(ink(img, 0, band, band, img.height) > 0, "no row title");
            assert_eq!(ink(img, 0, band, 0, band), 0, "the titles overlap");
        }
        // Empty rows and names given for fewer classes draw without panicking.
        let img = confusion_image(&[vec![0, 0, 0], vec![0, 0, 0], vec![0, 0, 7]], &names(&["x"]));
        assert!(text_pixels(&img, img.cell_rect(1, 1)) > 0);
    }

    #[test]
    fn many_classes_use_the_small_font() {
        let k = LARGE_MATRIX + 1;
        let confusion: Vec<Vec<usize>> = (0..k).map(|t| (0..k).map(|p| usize::from(t == p) * 3).collect()).collect();
        let img = confusion_image(&confusion, &[]);
        assert_eq!(img.cell_rect(0, 0).2, 3 * 8 - 1);
        assert!(text_pixels(&img, img.cell_rect(k - 1, k - 1)) > 0);
    }
}
