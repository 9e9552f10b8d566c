use super::*;

const STEP: u64 = 6000; // 15 fps at 90 kHz

/// A test stream: frames of packets with consecutive sequence numbers, 66 ms apart.
struct Stream {
    watch: FrameWatch,
    t0: Instant,
    seq: u64,
    frame: u64,
    /// Milliseconds since `t0`: 66 per frame, plus idle time.
    ms: u64,
    requests: u64,
}

impl Stream {
    fn new() -> Self {
        Stream { watch: FrameWatch::new(), t0: Instant::now(), seq: 100, frame: 0, ms: 0, requests: 0 }
    }

    fn now(&self) -> Instant {
        self.t0 + Duration::from_millis(self.ms)
    }

    /// Sends one frame of `payloads` (the last with the marker), skipping the indices in `lose`;
    /// then lets the watch judge what is old enough.
    fn frame(&mut self, payloads: &[&[u8]], lose: &[usize]) {
        let (now, ts) = (self.now(), self.frame * STEP);
        for (i, p) in payloads.iter().enumerate() {
            if !lose.contains(&i) {
                self.watch.on_packet(now, self.seq, ts, i + 1 == payloads.len(), p);
            }
            self.seq += 1;
        }
        self.next_frame();
    }

    fn lose_frame(&mut self, packets: u64) {
        self.seq += packets;
        self.next_frame();
    }

    fn next_frame(&mut self) {
        self.frame += 1;
        self.ms += 66;
        self.poll();
    }

    fn poll(&mut self) {
        if self.watch.poll(self.now()) {
            self.requests += 1;
        }
    }

    /// Lets `ms` pass with nothing arriving.
    fn idle(&mut self, ms: u64) {
        for _ in 0..ms / 33 {
            self.ms += 33;
            self.poll();
        }
    }
}

const IDR: [&[u8]; 4] = [&[0x67, 1], &[0x7c, 0x85, 1], &[0x7c, 0x05, 2], &[0x7c, 0x45, 3]];
const P: [&[u8]; 2] = [&[0x5c, 0x81, 1], &[0x5c, 0x41, 2]];

#[test]
fn a_clean_stream_plays_every_frame_and_asks_for_nothing() {
    let mut s = Stream::new();
    s.frame(&IDR, &[]);
    for _ in 0..30 {
        s.frame(&P, &[]);
    }
    s.idle(500);
    let c = s.watch.counts();
    assert_eq!((c.frames, c.keyframes, c.decodable, c.broken), (31, 1, 31, 0));
    assert_eq!((s.requests, c.keyframe_requests), (0, 0));
    assert!(s.watch.playing());
}

#[test]
fn a_lost_fragment_breaks_the_picture_until_the_next_keyframe_which_it_asks_for() {
    let mut s = Stream::new();
    s.frame(&IDR, &[]);
    s.frame(&P, &[]);
    s.frame(&P, &[0]); // the start of the FU-A run is lost
    for _ in 0..5 {
        s.frame(&P, &[]);
    }
    s.idle(300);
    assert!(!s.watch.playing());
    assert_eq!(s.requests, 1, "one keyframe request at once");
    s.frame(&IDR, &[]);
    s.frame(&P, &[]);
    s.idle(300);
    let c = s.watch.counts();
    assert!(s.watch.playing());
    assert_eq!((c.frames, c.keyframes, c.broken), (10, 2, 1));
    assert_eq!(c.decodable, 2 + 2, "before the loss, and from the keyframe on: not the five whole frames after it");
    assert_eq!(c.recoveries.len(), 1);
}

#[test]
fn a_lost_middle_fragment_or_end_is_noticed() {
    for lose in [1, 2] {
        let mut s = Stream::new();
        s.frame(&IDR, &[]);
        s.frame(&[&[0x5c, 0x81], &[0x5c, 0x01], &[0x5c, 0x41]], &[lose]);
        s.frame(&P, &[]);
        s.idle(300);
        assert!(!s.watch.playing(), "losing packet {lose} of a frame breaks it");
    }
}

#[test]
fn a_whole_lost_frame_is_seen_in_the_timestamps() {
    let mut s = Stream::new();
    s.frame(&IDR, &[]);
    s.frame(&P, &[]);
    s.frame(&P, &[]);
    s.lose_frame(2);
    s.frame(&P, &[]);
    s.idle(300);
    assert!(!s.watch.playing());
    assert_eq!(s.watch.counts().broken, 1);
}

#[test]
fn a_packet_repaired_within_the_wait_keeps_the_frame_whole() {
    let mut s = Stream::new();
    s.frame(&IDR, &[]);
    let (now, ts, seq) = (s.now(), s.frame * STEP, s.seq);
    s.watch.on_packet(now, seq + 1, ts, true, P[1]);
    s.watch.on_packet(now + Duration::from_millis(100), seq, ts, false, P[0]); // the retransmission
    s.seq += 2;
    s.frame += 1;
    s.ms += 66;
    s.frame(&P, &[]);
    s.idle(300);
    assert!(s.watch.playing());
    assert_eq!(s.watch.counts().broken, 0);
}

#[test]
fn while_no_keyframe_comes_the_request_is_repeated_every_second_not_more() {
    let mut s = Stream::new();
    s.frame(&IDR, &[]);
    s.frame(&P, &[1]);
    for _ in 0..45 {
        s.frame(&P, &[]); // three seconds of undecodable frames
    }
    assert!((3..=4).contains(&s.requests), "requests {}", s.requests);
}

#[test]
fn a_stap_a_carrying_an_idr_is_a_keyframe() {
    let mut s = Stream::new();
    s.frame(&[&[0x78, 0, 2, 0x67, 1, 0, 2, 0x68, 2], &[0x65, 9]], &[]);
    s.idle(300);
    assert_eq!(s.watch.counts().keyframes, 1);
    let mut s = Stream::new();
    s.frame(&[&[0x78, 0, 2, 0x67, 1, 0, 2, 0x68, 2]], &[]);
    s.idle(300);
    assert_eq!(s.watch.counts().keyframes, 0, "parameter sets alone are no keyframe");
}
