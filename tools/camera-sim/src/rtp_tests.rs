use super::*;

fn nal(kind: u8, len: usize) -> Vec<u8> {
    let mut n = vec![0x60 | kind];
    n.extend((0..len - 1).map(|i| (i % 251) as u8));
    n
}

fn parse_all(packets: &[Vec<u8>]) -> Vec<RtpPacket<'_>> {
    packets.iter().map(|p| RtpPacket::parse(p).unwrap()).collect()
}

#[test]
fn small_nal_units_go_out_as_single_packets_with_the_marker_only_on_the_last() {
    let mut p = Packetizer::new(0x1234_5678, 100, 96, 1200);
    let au = [nal(7, 10), nal(8, 4), nal(5, 500)];
    let packets = p.packetize(&au, 9000);
    let parsed = parse_all(&packets);
    assert_eq!(parsed.len(), 3);
    for (k, pkt) in parsed.iter().enumerate() {
        assert_eq!(pkt.payload, &au[k][..]);
        assert_eq!(pkt.sequence, 100 + k as u16);
        assert_eq!(pkt.timestamp, 9000);
        assert_eq!(pkt.ssrc, 0x1234_5678);
        assert_eq!(pkt.payload_type, 96);
        assert_eq!(pkt.marker, k == 2);
    }
}

#[test]
fn a_large_nal_unit_is_split_into_fu_a_with_start_and_end_bits_and_reassembles_to_the_input() {
    let mut p = Packetizer::new(1, 0, 96, 1200);
    let big = nal(5, 5000);
    let packets = p.packetize(std::slice::from_ref(&big), 3000);
    let parsed = parse_all(&packets);
    assert_eq!(parsed.len(), 5);
    for (k, pkt) in parsed.iter().enumerate() {
        assert!(pkt.payload.len() <= 1200);
        assert_eq!(pkt.payload[0], 0x60 | NAL_FU_A, "indicator keeps NRI");
        assert_eq!(pkt.payload[1] & 0x1f, 5);
        assert_eq!(pkt.payload[1] & 0x80 != 0, k == 0, "start bit");
        assert_eq!(pkt.payload[1] & 0x40 != 0, k == 4, "end bit");
        assert_eq!(pkt.marker, k == 4);
    }
    let mut d = Depacketizer::new();
    let mut units = Vec::new();
    for pkt in &parsed {
        units.extend(d.push(pkt).unwrap());
    }
    assert_eq!(units, vec![AccessUnit { timestamp: 3000, nals: vec![big], complete: true }]);
}

#[test]
fn a_nal_unit_of_exactly_the_mtu_is_not_fragmented() {
    let mut p = Packetizer::new(1, 0, 96, 1200);
    assert_eq!(p.packetize(&[nal(5, 1200)], 0).len(), 1);
    assert_eq!(p.packetize(&[nal(5, 1201)], 0).len(), 2);
}

#[test]
fn sequence_numbers_wrap_from_65535_to_0() {
    let mut p = Packetizer::new(1, 65534, 96, 1200);
    let parsed_seq: Vec<u16> =
        p.packetize(&[nal(5, 3000)], 0).iter().map(|b| RtpPacket::parse(b).unwrap().sequence).collect();
    assert_eq!(parsed_seq, vec![65534, 65535, 0]);
    assert_eq!(p.next_sequence(), 1);
}

#[test]
fn stap_a_aggregates_sps_and_pps_and_the_depacketizer_splits_them_again() {
    let mut p = Packetizer::new(1, 0, 96, 1200).with_stap_a(true);
    let au = [nal(7, 12), nal(8, 4), nal(5, 3000)];
    let packets = p.packetize(&au, 0);
    let parsed = parse_all(&packets);
    assert_eq!(parsed[0].payload[0] & 0x1f, NAL_STAP_A);
    assert_eq!(parsed.len(), 1 + 3);
    let mut d = Depacketizer::new();
    let units: Vec<AccessUnit> = parsed.iter().flat_map(|pkt| d.push(pkt).unwrap()).collect();
    assert_eq!(units.len(), 1);
    assert_eq!(units[0].nals, au.to_vec());
}

#[test]
fn the_depacketizer_flushes_on_a_timestamp_change_and_flags_sequence_gaps() {
    let mut p = Packetizer::new(1, 0, 96, 1200);
    let first = p.packetize(&[nal(5, 3000)], 0);
    let second = p.packetize(&[nal(1, 100)], 3000);
    let mut d = Depacketizer::new();
    // Drop the middle fragment of the first unit and its marker-carrying end.
    assert!(d.push(&RtpPacket::parse(&first[0]).unwrap()).unwrap().is_empty());
    let units = d.push(&RtpPacket::parse(&second[0]).unwrap()).unwrap();
    assert_eq!(units.len(), 1, "the new unit completes at its marker");
    assert_eq!(units[0].timestamp, 3000);
    assert!(!units[0].complete);
}

#[test]
fn malformed_packets_are_errors_not_panics() {
    assert_eq!(RtpPacket::parse(&[0x80, 96]), Err(RtpError::Truncated(2)));
    assert_eq!(RtpPacket::parse(&[0; 12]), Err(RtpError::BadVersion(0)));
    // Extension header announced but missing.
    assert!(RtpPacket::parse(&[0x90, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
    // Padding count larger than the packet.
    assert!(RtpPacket::parse(&[0xa0, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 200]).is_err());
    let mut d = Depacketizer::new();
    let header = [0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    for payload in [
        &[][..],
        &[NAL_STAP_A, 0, 9, 1][..],
        &[NAL_STAP_A, 0][..],
        &[NAL_FU_A][..],
        &[NAL_FU_A, 0x05, 1][..],
        &[30][..],
    ] {
        let mut buf = header.to_vec();
        buf.extend_from_slice(payload);
        assert!(d.push(&RtpPacket::parse(&buf).unwrap()).is_err(), "{payload:?}");
    }
}
