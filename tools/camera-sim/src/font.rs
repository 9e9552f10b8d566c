//! A tiny 5x7 bitmap font, enough for frame counters and clocks: digits, `:`, `.`, `-`, space
//! and the letters of "CAMERA SIM FRAME UTC". Unknown characters draw as blanks so that any
//! string is safe to render.

/// Glyph width and height in font pixels.
pub const GLYPH_WIDTH: usize = 5;
pub const GLYPH_HEIGHT: usize = 7;

/// Rows top to bottom; bit 4 is the leftmost column.
fn glyph(c: char) -> [u8; GLYPH_HEIGHT] {
    match c.to_ascii_uppercase() {
        '0' => [0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e],
        '1' => [0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e],
        '2' => [0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f],
        '3' => [0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e],
        '4' => [0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02],
        '5' => [0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e],
        '6' => [0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e],
        '7' => [0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e],
        '9' => [0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c],
        ':' => [0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c],
        '-' => [0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00],
        'A' => [0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11],
        'C' => [0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e],
        'E' => [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f],
        'F' => [0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10],
        'I' => [0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e],
        'M' => [0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11],
        'R' => [0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11],
        'S' => [0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e],
        'T' => [0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e],
        _ => [0; GLYPH_HEIGHT],
    }
}

/// A luma plane to draw into.
pub struct Plane<'a> {
    pub data: &'a mut [u8],
    pub width: usize,
    pub height: usize,
}

impl Plane<'_> {
    /// Fills a rectangle, clipped to the plane.
    pub fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, value: u8) {
        let x_end = x.saturating_add(w).min(self.width);
        if x >= x_end {
            return;
        }
        for row in y..y.saturating_add(h).min(self.height) {
            if let Some(span) = self.data.get_mut(row * self.width + x..row * self.width + x_end) {
                span.fill(value);
            }
        }
    }

    /// Draws `text` at `(x, y)` with each font pixel `scale` plane pixels wide, on a dark box
    /// so it stays legible over the colour bars. Clipped to the plane. Returns the text width.
    pub fn text(&mut self, x: usize, y: usize, text: &str, scale: usize) -> usize {
        let advance = (GLYPH_WIDTH + 1) * scale;
        let width = text.chars().count() * advance;
        self.fill(x.saturating_sub(scale), y.saturating_sub(scale), width + scale, (GLYPH_HEIGHT + 2) * scale, 16);
        for (i, c) in text.chars().enumerate() {
            let rows = glyph(c);
            for (row, bits) in rows.iter().enumerate() {
                for col in 0..GLYPH_WIDTH {
                    if bits & (0x10 >> col) != 0 {
                        self.fill(x + i * advance + col * scale, y + row * scale, scale, scale, 235);
                    }
                }
            }
        }
        width
    }
}

/// `HH:MM:SS.mmm` (UTC) of a wall-clock time given as milliseconds since the Unix epoch.
pub fn clock_text(unix_millis: u128) -> String {
    let ms = unix_millis % 1000;
    let secs = unix_millis / 1000 % 86_400;
    format!("{:02}:{:02}:{:02}.{:03}", secs / 3600, secs / 60 % 60, secs % 60, ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str, scale: usize) -> (Vec<u8>, usize, usize) {
        let (w, h) = (80, 20);
        let mut data = vec![100u8; w * h];
        Plane { data: &mut data, width: w, height: h }.text(1, 1, text, scale);
        (data, w, h)
    }

    #[test]
    fn every_supported_character_has_a_distinct_non_empty_glyph() {
        let chars = "0123456789:.-ACEFIMRSTU";
        for a in chars.chars() {
            assert_ne!(glyph(a), [0; GLYPH_HEIGHT], "{a}");
            for b in chars.chars().filter(|&b| b != a) {
                assert_ne!(glyph(a), glyph(b), "{a} vs {b}");
            }
        }
        assert_eq!(glyph('?'), [0; GLYPH_HEIGHT]);
    }

    #[test]
    fn a_digit_is_drawn_as_bright_pixels_on_a_dark_box() {
        let (data, w, _) = render("1", 1);
        // The 1's vertical stroke is column 2 of the glyph, rows 0..7.
        for row in 0..7 {
            assert_eq!(data[(1 + row) * w + 1 + 2], 235);
        }
        assert_eq!(data[w + 1], 16, "box background");
        assert_eq!(data[19 * w + 79], 100, "outside untouched");
    }

    #[test]
    fn text_running_off_the_plane_is_clipped_without_panicking() {
        let (data, _, _) = render("12:34:56.789 FRAME 123456", 3);
        assert!(data.contains(&235));
        let mut tiny = [0u8; 4];
        Plane { data: &mut tiny, width: 2, height: 2 }.text(5, 5, "0", 4);
    }

    #[test]
    fn the_clock_is_rendered_as_hours_minutes_seconds_and_millis() {
        // 2026-11-24T01:02:03.045Z
        assert_eq!(clock_text(1_795_482_123_045), "01:02:03.045");
        assert_eq!(clock_text(0), "00:00:00.000");
    }
}
