//! The counting receive path (`--receive count`): once a viewer's SRTP session is up, large SRTP
//! media packets are counted from their clear RTP header (SRTP encrypts only the payload) and
//! never decrypted, so one load-generator core can watch thousands of viewers. Everything else
//! (ICE, DTLS, RTCP, the first packets, and every small packet, which is where the
//! glass-to-glass stamps are) still goes through str0m. The viewers' NACKs are suppressed
//! (str0m would see a gap where packets were only counted and ask for them again).

/// Packets str0m decrypts before the counting path starts (sets up its receive stream).
pub const WARMUP_PACKETS: u64 = 20;
/// SRTP packets up to this size always go to str0m: a stamp is 12 header + up to ~40 bytes of
/// header extensions + 36 payload + 16 tag bytes.
pub const SMALL: usize = 160;

/// The RTP sequence number of a datagram the counting path may take, or None if str0m must
/// handle it. Only packets of `media_ssrc` (the stream str0m has decrypted media from) count:
/// servers also send padding and retransmissions on an RTX SSRC, which are not media.
pub fn countable(datagram: &[u8], decrypted_so_far: u64, media_ssrc: Option<u32>) -> Option<u16> {
    let ssrc = media_ssrc?;
    if decrypted_so_far < WARMUP_PACKETS || datagram.len() <= SMALL {
        return None;
    }
    if datagram[8..12] != ssrc.to_be_bytes() {
        return None;
    }
    let (b0, b1) = (datagram[0], datagram[1]);
    // RTP version 2 (RFC 7983: 128..=191), and not RTCP (payload types 192..=223 with the
    // marker bit's position).
    if !(128..=191).contains(&b0) || (192..=223).contains(&b1) {
        return None;
    }
    // Padding (P bit): bandwidth probes carry no media; str0m drops them.
    if b0 & 0x20 != 0 {
        return None;
    }
    Some(u16::from_be_bytes([datagram[2], datagram[3]]))
}

/// Which of the last [`Seen::SPAN`] sequence numbers arrived, to tell duplicates (a server's
/// retransmissions) from new packets.
#[derive(Debug, Default)]
pub struct Seen {
    bits: [u64; 16],
    max: Option<u64>,
}

impl Seen {
    pub const SPAN: u64 = 1024;

    /// Records `seq`; false if it was seen before (or is too old to tell).
    pub fn insert(&mut self, seq: u64) -> bool {
        let max = *self.max.get_or_insert(seq);
        if seq > max {
            for s in (max + 1)..=seq.min(max + Self::SPAN) {
                self.clear(s);
            }
            self.max = Some(seq);
        } else if max - seq >= Self::SPAN {
            return false;
        }
        let (word, bit) = ((seq % Self::SPAN) / 64, seq % 64);
        let fresh = self.bits[word as usize] & (1 << bit) == 0;
        self.bits[word as usize] |= 1 << bit;
        fresh
    }

    fn clear(&mut self, seq: u64) {
        self.bits[((seq % Self::SPAN) / 64) as usize] &= !(1 << (seq % 64));
    }
}

/// Extends a 16-bit sequence number to the 64-bit value nearest to `last`.
pub fn extend(last: Option<u64>, seq: u16) -> u64 {
    let Some(last) = last else { return u64::from(seq) };
    let base = last & !0xffff;
    let candidates = [base.wrapping_sub(0x1_0000), base, base + 0x1_0000].map(|b| b | u64::from(seq));
    *candidates.iter().filter(|c| **c < u64::MAX / 2).min_by_key(|c| c.abs_diff(last)).expect("three candidates")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SSRC: Option<u32> = Some(0x0102_0304);

    fn rtp(len: usize, b1: u8, seq: u16) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x80;
        p[1] = b1;
        p[2..4].copy_from_slice(&seq.to_be_bytes());
        p[8..12].copy_from_slice(&SSRC.unwrap().to_be_bytes());
        p
    }

    #[test]
    fn only_large_srtp_media_of_the_media_ssrc_after_the_warmup_is_counted() {
        assert_eq!(countable(&rtp(1200, 96, 7), WARMUP_PACKETS, SSRC), Some(7));
        assert_eq!(countable(&rtp(1200, 96, 7), WARMUP_PACKETS, None), None, "no media seen yet");
        assert_eq!(countable(&rtp(1200, 97, 7), WARMUP_PACKETS, Some(9)), None, "RTX or padding SSRC");
        assert_eq!(countable(&rtp(1200, 96, 7), WARMUP_PACKETS - 1, SSRC), None, "warm-up");
        assert_eq!(countable(&rtp(SMALL, 96, 7), WARMUP_PACKETS, SSRC), None, "small: could be a stamp");
        assert_eq!(countable(&rtp(1200, 200, 7), WARMUP_PACKETS, SSRC), None, "RTCP sender report");
        let mut dtls = rtp(1200, 96, 7);
        dtls[0] = 23;
        assert_eq!(countable(&dtls, WARMUP_PACKETS, SSRC), None, "DTLS");
    }

    #[test]
    fn duplicates_are_told_from_new_and_late_packets() {
        let mut s = Seen::default();
        assert!(s.insert(10) && s.insert(12) && s.insert(11), "new, gap, late fill");
        assert!(!s.insert(12) && !s.insert(10), "duplicates");
        assert!(s.insert(10 + Seen::SPAN), "a slot reused after a full span");
        assert!(!s.insert(10), "too old to tell: not counted");
        assert!(s.insert(100_000) && !s.insert(100_000));
    }

    #[test]
    fn padding_goes_to_str0m() {
        let mut p = rtp(1200, 96, 7);
        p[0] |= 0x20;
        assert_eq!(countable(&p, WARMUP_PACKETS, SSRC), None);
    }

    #[test]
    fn sequence_numbers_extend_across_wraps_both_ways() {
        assert_eq!(extend(None, 65535), 65535);
        assert_eq!(extend(Some(65535), 0), 65536);
        assert_eq!(extend(Some(65536), 65535), 65535);
        assert_eq!(extend(Some(0x2_0005), 3), 0x2_0003);
        assert_eq!(extend(Some(5), 65530), 65530, "no value below zero");
    }
}
