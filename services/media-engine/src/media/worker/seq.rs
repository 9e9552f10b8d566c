//! The sequence numbers of one viewer's video follow the camera's (sans-IO).
//!
//! Counting packets as they arrive would hide what happened on the camera's link: a lost
//! packet would vanish without a gap, a late one would land out of place, a duplicate would
//! be shown twice, and the viewer could neither ask for a keyframe in time nor put things
//! back in order. So the output number moves by the camera's own steps: a gap stays a gap
//! (the viewer sees the loss and asks for a keyframe), a late packet takes the place it had,
//! and a repeat of the newest is dropped. Packets the engine makes itself (the re-timed
//! parameter sets of a fast start) just take the next number, and a jump too large for a loss
//! (a camera that restarted) continues the count.

/// A jump forward of up to this many is a loss; beyond, the camera restarted its count.
const MAX_GAP: i16 = 1000;
/// A packet up to this many behind the newest (a negative step) is late, and keeps its place.
const MOST_LATE: i16 = -500;

#[derive(Debug)]
pub struct SeqMap {
    /// The number of the newest packet written.
    newest: u64,
    /// The camera's number of the newest camera packet written.
    camera: Option<u16>,
}

impl SeqMap {
    /// Numbers start after `start` (random, as RTP wants). They are extended numbers, whose
    /// high part is SRTP's rollover counter: it must start at 0 (what a receiver assumes), so
    /// a late packet before the very first one is dropped rather than numbered below it.
    pub fn new(start: u16) -> Self {
        Self { newest: u64::from(start), camera: None }
    }

    /// The number of a packet the engine made: the next one.
    pub fn synthesized(&mut self) -> u64 {
        self.newest += 1;
        self.newest
    }

    /// The number for a camera packet numbered `camera`, or `None` to drop it (a repeat).
    pub fn camera(&mut self, camera: u16) -> Option<u64> {
        let Some(previous) = self.camera else {
            self.camera = Some(camera);
            return Some(self.synthesized());
        };
        match camera.wrapping_sub(previous) as i16 {
            0 => None,
            step @ 1..=MAX_GAP => {
                self.newest += step as u64;
                self.camera = Some(camera);
                Some(self.newest)
            }
            back @ MOST_LATE..=-1 => self.newest.checked_sub(u64::from(back.unsigned_abs())),
            _ => {
                self.camera = Some(camera);
                Some(self.synthesized())
            }
        }
    }

    /// A new source (another camera endpoint): its numbers start a new count.
    pub fn new_source(&mut self) {
        self.camera = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(map: &mut SeqMap, camera: &[u16]) -> Vec<Option<u64>> {
        let base = map.newest;
        camera.iter().map(|&c| map.camera(c).map(|n| n - base)).collect()
    }

    #[test]
    fn consecutive_packets_get_consecutive_numbers_across_the_wrap() {
        let mut m = SeqMap::new(7);
        assert_eq!(run(&mut m, &[65534, 65535, 0, 1]), [Some(1), Some(2), Some(3), Some(4)]);
    }

    #[test]
    fn a_loss_on_the_camera_link_stays_a_gap_for_the_viewer() {
        let mut m = SeqMap::new(0);
        assert_eq!(run(&mut m, &[10, 11, 14, 15]), [Some(1), Some(2), Some(5), Some(6)]);
    }

    #[test]
    fn a_late_packet_takes_its_place_and_a_repeat_of_the_newest_is_dropped() {
        let mut m = SeqMap::new(0);
        assert_eq!(run(&mut m, &[10, 12, 11, 13, 13]), [Some(1), Some(3), Some(2), Some(4), None]);
    }

    #[test]
    fn a_camera_that_restarts_its_count_continues_the_viewers() {
        let mut m = SeqMap::new(0);
        assert_eq!(run(&mut m, &[100, 101, 30000, 30001]), [Some(1), Some(2), Some(3), Some(4)]);
        m.new_source();
        let next = m.camera(5).unwrap();
        assert_eq!(next, m.newest, "a new source continues where the old one ended");
    }

    #[test]
    fn packets_the_engine_made_take_the_next_numbers() {
        let mut m = SeqMap::new(0);
        let a = m.synthesized();
        let b = m.synthesized();
        assert_eq!(b, a + 1);
        assert_eq!(m.camera(500), Some(b + 1));
    }
}
