//! The moving test picture: 75% colour bars, a box sweeping across them and the frame number and
//! wall-clock time burnt in, so that a viewer can tell at a glance that video is live, smooth and
//! how late it is.

use openh264::formats::YUVSource;

use crate::font::{clock_text, Plane};

/// BT.601 limited-range Y, U, V of 75% colour bars: white, yellow, cyan, green, magenta, red, blue.
const BARS: [(u8, u8, u8); 7] =
    [(180, 128, 128), (162, 44, 142), (131, 156, 44), (112, 72, 58), (84, 184, 198), (65, 100, 212), (35, 212, 114)];

/// An I420 picture (full-size Y plane, quarter-size U and V planes).
#[derive(Debug, Clone)]
pub struct I420Frame {
    width: usize,
    height: usize,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl I420Frame {
    /// Width and height must be even (checked by [`crate::CameraConfig::validate`]).
    pub fn new(width: usize, height: usize) -> Self {
        let chroma = (width / 2) * (height / 2);
        Self { width, height, y: vec![16; width * height], u: vec![128; chroma], v: vec![128; chroma] }
    }

    pub fn luma(&self) -> &[u8] {
        &self.y
    }
}

impl YUVSource for I420Frame {
    fn dimensions(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn strides(&self) -> (usize, usize, usize) {
        (self.width, self.width / 2, self.width / 2)
    }

    fn y(&self) -> &[u8] {
        &self.y
    }

    fn u(&self) -> &[u8] {
        &self.u
    }

    fn v(&self) -> &[u8] {
        &self.v
    }
}

/// Renders frames of the test pattern into a reused buffer.
#[derive(Debug)]
pub struct TestPattern {
    /// The static colour bars, copied under every frame's moving parts.
    bars: I420Frame,
    frame: I420Frame,
    fps: u32,
}

impl TestPattern {
    /// Sizes are rounded down to even and at least 2, as I420 needs.
    pub fn new(width: u32, height: u32, fps: u32) -> Self {
        let even = |v: u32| (v.max(2) & !1) as usize;
        let bars = colour_bars(even(width), even(height));
        Self { frame: bars.clone(), bars, fps: fps.max(1) }
    }

    /// Draws frame `frame_number` stamped with `unix_millis` (wall clock) and returns it.
    pub fn render(&mut self, frame_number: u64, unix_millis: u128) -> &I420Frame {
        let (w, h) = (self.frame.width, self.frame.height);
        let (cw, ch) = (w / 2, h / 2);
        self.frame.y.copy_from_slice(&self.bars.y);
        self.frame.u.copy_from_slice(&self.bars.u);
        self.frame.v.copy_from_slice(&self.bars.v);

        // The box crosses the picture every 4 s and bounces back, so motion is steady at any fps.
        let side = (h / 6).max(4) & !1;
        let travel = w.saturating_sub(side).max(1) as u64;
        let period = 4 * u64::from(self.fps);
        let phase = frame_number % (2 * period);
        let pos = if phase < period { phase * travel / period } else { (2 * period - phase) * travel / period };
        let (bx, by) = ((pos as usize) & !1, (h / 2).saturating_sub(side / 2) & !1);
        let mut luma = Plane { data: &mut self.frame.y, width: w, height: h };
        luma.fill(bx, by, side, side, 235);
        for plane in [&mut self.frame.u, &mut self.frame.v] {
            Plane { data: plane, width: cw, height: ch }.fill(bx / 2, by / 2, side / 2, side / 2, 128);
        }

        let scale = (h / 120).max(1);
        let line = 10 * scale;
        let mut luma = Plane { data: &mut self.frame.y, width: w, height: h };
        let margin = 2 * scale;
        let widths = [
            luma.text(margin, margin, "CAMERA SIM", scale),
            luma.text(margin, margin + line, &format!("FRAME {frame_number:06}"), scale),
            luma.text(margin, margin + 2 * line, &clock_text(unix_millis), scale),
        ];
        // Text boxes are neutral in chroma so they read as black and white over any bar.
        let text_cols = (margin + widths.iter().max().copied().unwrap_or(0)).div_ceil(2);
        let text_rows = (margin + 2 * line + 8 * scale).div_ceil(2);
        for plane in [&mut self.frame.u, &mut self.frame.v] {
            Plane { data: plane, width: cw, height: ch }.fill(0, 0, text_cols, text_rows, 128);
        }
        &self.frame
    }
}

fn colour_bars(width: usize, height: usize) -> I420Frame {
    let mut frame = I420Frame::new(width, height);
    let luma_row: Vec<u8> = (0..width).map(|x| BARS[x * BARS.len() / width].0).collect();
    for row in frame.y.chunks_mut(width) {
        row.copy_from_slice(&luma_row);
    }
    let chroma_width = width / 2;
    let u_row: Vec<u8> = (0..chroma_width).map(|x| BARS[x * 2 * BARS.len() / width].1).collect();
    let v_row: Vec<u8> = (0..chroma_width).map(|x| BARS[x * 2 * BARS.len() / width].2).collect();
    for (u, v) in frame.u.chunks_mut(chroma_width).zip(frame.v.chunks_mut(chroma_width)) {
        u.copy_from_slice(&u_row);
        v.copy_from_slice(&v_row);
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_frames_differ_so_the_picture_moves() {
        let mut p = TestPattern::new(320, 240, 30);
        let a = p.render(0, 0).luma().to_vec();
        let b = p.render(1, 33).luma().to_vec();
        assert_ne!(a, b);
        assert_eq!(p.render(0, 0).luma(), &a[..], "rendering is deterministic");
    }

    #[test]
    fn planes_have_i420_sizes_and_bars_have_their_colours() {
        let mut p = TestPattern::new(640, 480, 30);
        let f = p.render(0, 0);
        assert_eq!(f.dimensions(), (640, 480));
        assert_eq!((f.y().len(), f.u().len(), f.v().len()), (640 * 480, 320 * 240, 320 * 240));
        // Bottom-right pixel lies in the blue bar, away from text and box.
        assert_eq!(f.y()[640 * 480 - 1], 35);
        assert_eq!(f.u()[320 * 240 - 1], 212);
    }

    #[test]
    fn tiny_and_odd_pictures_render_without_panicking() {
        for (w, h) in [(16, 16), (0, 0), (3, 5)] {
            let mut p = TestPattern::new(w, h, 1);
            for n in 0..20 {
                p.render(n, 86_399_999);
            }
        }
    }
}
