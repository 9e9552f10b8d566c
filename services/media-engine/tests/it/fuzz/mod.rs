//! Property-based fuzzing of every parser that takes untrusted input, seeded with real inputs
//! (packets as cameras and str0m send them, offers as str0m and Chrome write them, the frames a
//! Kurento client sends) and then mutated: bytes flipped or overwritten, cut short, spliced with
//! another seed, runs inserted or repeated. Zero panics is the bar; each case count is bounded so
//! the whole set stays well under a minute in a debug build. The longer, coverage-guided run is
//! `services/media-engine/fuzz/` (cargo-fuzz, see the engine README).
//!
//! An input any of these runs (or the cargo-fuzz targets) finds to break something becomes a named
//! regression test next to the property it broke.

mod parsers;
mod rpc;
mod udp;

use proptest::prelude::*;

/// One edit of a seed; positions are taken modulo the current length.
#[derive(Debug, Clone)]
pub enum Edit {
    Flip(usize, u8),
    Set(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    /// Splices the tail of seed `seed` (from `from`) in at `at`.
    Splice {
        at: usize,
        seed: usize,
        from: usize,
    },
    /// Repeats `len` bytes at `at`.
    Repeat {
        at: usize,
        len: usize,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<usize>(), 1u8..=255).prop_map(|(p, b)| Edit::Flip(p, b)),
        2 => (any::<usize>(), prop_oneof![Just(0u8), Just(0xff), Just(0x7f), Just(0x80), any::<u8>()]).prop_map(|(p, b)| Edit::Set(p, b)),
        1 => any::<usize>().prop_map(Edit::Truncate),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(p, v)| Edit::Insert(p, v)),
        1 => (any::<usize>(), any::<usize>(), any::<usize>()).prop_map(|(at, seed, from)| Edit::Splice { at, seed, from }),
        1 => (any::<usize>(), 1usize..64).prop_map(|(at, len)| Edit::Repeat { at, len }),
    ]
}

/// Applies `edits` to a copy of `seeds[pick]`.
pub fn mutate(seeds: &[Vec<u8>], pick: usize, edits: &[Edit]) -> Vec<u8> {
    let mut d = seeds[pick % seeds.len()].clone();
    for e in edits {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % (len + 1) };
        match e {
            Edit::Flip(p, b) if !d.is_empty() => {
                let i = p % d.len();
                d[i] ^= b;
            }
            Edit::Set(p, b) if !d.is_empty() => {
                let i = p % d.len();
                d[i] = *b;
            }
            Edit::Truncate(p) => d.truncate(at(*p, d.len())),
            Edit::Insert(p, v) => {
                let i = at(*p, d.len());
                d.splice(i..i, v.iter().copied());
            }
            Edit::Splice { at: a, seed, from } => {
                let other = &seeds[seed % seeds.len()];
                let i = at(*a, d.len());
                let f = if other.is_empty() { 0 } else { from % other.len() };
                d.truncate(i);
                d.extend_from_slice(&other[f..]);
            }
            Edit::Repeat { at: a, len } if !d.is_empty() => {
                let i = a % d.len();
                let j = (i + len).min(d.len());
                let run = d[i..j].to_vec();
                d.splice(j..j, run);
            }
            _ => {}
        }
    }
    d
}

/// A seed index and up to `max_edits` edits: `mutate` turns them into an input.
pub fn mutations(max_edits: usize) -> impl Strategy<Value = (usize, Vec<Edit>)> {
    (any::<usize>(), proptest::collection::vec(edit(), 0..=max_edits))
}

/// Text seeds mutated as bytes, then read back as (lossy) UTF-8, as a server reading a socket would.
pub fn mutate_text(seeds: &[String], pick: usize, edits: &[Edit]) -> String {
    let bytes: Vec<Vec<u8>> = seeds.iter().map(|s| s.as_bytes().to_vec()).collect();
    String::from_utf8_lossy(&mutate(&bytes, pick, edits)).into_owned()
}

/// A deterministic proptest config with `cases` cases (CI runs are reproducible; set
/// `PROPTEST_CASES` to run more).
pub fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// H.264 and VP8 camera packets as a camera sends them (RTP header + payload).
pub fn camera_packets() -> Vec<Vec<u8>> {
    let rtp = |pt: u8, marker: bool, seq: u16, payload: &[u8]| {
        let mut v = vec![0x80, pt | if marker { 0x80 } else { 0 }];
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&90_000u32.to_be_bytes());
        v.extend_from_slice(&0x0a0b0c0du32.to_be_bytes());
        v.extend_from_slice(payload);
        v
    };
    let sps = crate::helpers::SPS;
    let pps = crate::helpers::PPS;
    let mut stap = vec![24];
    for n in [sps, pps] {
        stap.extend_from_slice(&(n.len() as u16).to_be_bytes());
        stap.extend_from_slice(n);
    }
    let mut fu_start = vec![0x7c, 0x85];
    fu_start.extend_from_slice(&[0xab; 60]);
    let mut fu_end = vec![0x7c, 0x45];
    fu_end.extend_from_slice(&[0xab; 40]);
    let mut ext = rtp(96, true, 9, &[0x41, 0x9a, 0x11, 0x22]);
    // Header extension (one-byte form) and padding bits set, as some cameras send.
    ext[0] = 0xb0;
    ext.splice(12..12, [0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0]);
    ext.extend_from_slice(&[0, 0, 3]);
    vec![
        rtp(96, false, 1, sps),
        rtp(96, false, 2, pps),
        rtp(96, false, 3, &stap),
        rtp(96, false, 4, &fu_start),
        rtp(96, true, 5, &fu_end),
        rtp(96, true, 6, &[0x65, 0x88, 0x84, 0x00]),
        ext,
        rtp(100, false, 7, &[0x10, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01]),
        rtp(100, true, 8, &[0x90, 0x80, 0x05, 0x01]),
    ]
}

/// RTCP as cameras and browsers send it: SR, RR, SDES, BYE, PLI, FIR, NACK, compound.
pub fn rtcp_packets() -> Vec<Vec<u8>> {
    let sr = vec![
        0x80, 200, 0, 6, 0x0a, 0x0b, 0x0c, 0x0d, 0xe8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x5f, 0x90, 0, 0, 0, 10, 0, 0, 4, 0,
    ];
    let rr = vec![
        0x81, 201, 0, 7, 0, 0, 0, 1, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let sdes = vec![0x81, 202, 0, 3, 0x0a, 0x0b, 0x0c, 0x0d, 1, 3, b'c', b'a', b'm', 0, 0, 0];
    let bye = vec![0x81, 203, 0, 1, 0x0a, 0x0b, 0x0c, 0x0d];
    let pli = vec![0x81, 206, 0, 2, 0, 0, 0, 1, 0x0a, 0x0b, 0x0c, 0x0d];
    let fir = vec![0x84, 206, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0x0a, 0x0b, 0x0c, 0x0d, 1, 0, 0, 0];
    let nack = vec![0x81, 205, 0, 3, 0, 0, 0, 1, 0x0a, 0x0b, 0x0c, 0x0d, 0, 5, 0, 3];
    let mut compound = sr.clone();
    compound.extend_from_slice(&sdes);
    vec![sr, rr, sdes, bye, pli, fir, nack, compound]
}

/// DTLS-looking records: a ClientHello's start, a ChangeCipherSpec, an alert, application data.
pub fn dtls_records() -> Vec<Vec<u8>> {
    let record = |ty: u8, epoch: u16, body: &[u8]| {
        let mut v = vec![ty, 0xfe, 0xfd];
        v.extend_from_slice(&epoch.to_be_bytes());
        v.extend_from_slice(&[0, 0, 0, 0, 0, 1]);
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    };
    let mut hello = vec![1, 0, 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 60, 0xfe, 0xfd];
    hello.extend_from_slice(&[0x42; 32]);
    hello.extend_from_slice(&[0, 0, 0, 4, 0xc0, 0x2b, 0xc0, 0x2f, 1, 0]);
    vec![
        record(22, 0, &hello),
        record(20, 0, &[1]),
        record(21, 1, &[2, 40]),
        record(23, 1, &[0x55; 48]),
        record(22, 1, &[0x66; 64]),
    ]
}
