//! SDP for the RtpEndpoint (camera offer -> engine answer) and the small edits made to str0m's
//! answers for browsers.
//!
//! Invariant: nothing here panics on client input; a malformed offer is an `SdpError`.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::audio::{self, AudioCodec, CameraAudio};
use crate::codec_params::{h264_sprop_profile_level_id, h265_fmtp_ptl, H265Ptl};

mod fmtp;
pub use fmtp::{force_h264_fmtp, force_h265_fmtp};

/// Video codecs the engine forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    H264,
    Vp8,
    /// Forwarded as is (RFC 7798 payload), to viewers whose offer has it.
    H265,
}

impl VideoCodec {
    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "H264",
            VideoCodec::Vp8 => "VP8",
            VideoCodec::H265 => "H265",
        }
    }

    /// From an SDP encoding name (any case); `None` for codecs the engine does not forward.
    pub fn from_name(name: &str) -> Option<VideoCodec> {
        match name.to_ascii_uppercase().as_str() {
            "H264" => Some(VideoCodec::H264),
            "VP8" => Some(VideoCodec::Vp8),
            "H265" => Some(VideoCodec::H265),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdpError {
    Empty,
    Parse(String),
}

/// One m-line of an offer.
#[derive(Debug, Clone, Default)]
pub struct MediaLine {
    pub media: String,
    pub port: u16,
    pub proto: String,
    pub fmts: Vec<String>,
    pub conn: Option<IpAddr>,
    /// Attribute lines without the `a=` prefix.
    pub attrs: Vec<String>,
}

impl MediaLine {
    pub(crate) fn attr_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.attrs.iter().filter_map(move |a| a.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
    }

    pub(crate) fn rtpmap(&self, pt: &str) -> Option<(String, u32)> {
        let v = self.attr_values("rtpmap").find(|v| v.split_whitespace().next() == Some(pt))?;
        let enc = v.split_whitespace().nth(1)?;
        let mut it = enc.split('/');
        let name = it.next()?.to_string();
        let clock = it.next().and_then(|c| c.parse().ok()).unwrap_or(0);
        Some((name, clock))
    }

    pub(crate) fn fmtp(&self, pt: &str) -> Option<String> {
        self.attr_values("fmtp")
            .find(|v| v.split_whitespace().next() == Some(pt))
            .map(|v| v.split_once(' ').map_or("", |x| x.1).trim().to_string())
    }

    pub(crate) fn direction(&self) -> Option<&str> {
        self.attrs.iter().map(String::as_str).find(|a| matches!(*a, "sendonly" | "recvonly" | "sendrecv" | "inactive"))
    }
}

/// A parsed offer.
#[derive(Debug, Clone, Default)]
pub struct Offer {
    pub conn: Option<IpAddr>,
    pub media: Vec<MediaLine>,
}

pub fn parse_offer(sdp: &str) -> Result<Offer, SdpError> {
    if sdp.trim().is_empty() {
        return Err(SdpError::Empty);
    }
    let mut offer = Offer::default();
    let mut first = true;
    for raw in sdp.lines() {
        let line = raw.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        if first {
            if line != "v=0" {
                return Err(SdpError::Parse("the offer must start with v=0".into()));
            }
            first = false;
            continue;
        }
        let (key, value) = line.split_once('=').ok_or_else(|| SdpError::Parse(format!("bad line {line:?}")))?;
        match key {
            "c" => {
                let ip = parse_conn(value)?;
                match offer.media.last_mut() {
                    Some(m) => m.conn = Some(ip),
                    None => offer.conn = Some(ip),
                }
            }
            "m" => {
                let mut it = value.split_whitespace();
                let media = it.next().ok_or_else(|| SdpError::Parse("empty m-line".into()))?.to_string();
                let port = it
                    .next()
                    .and_then(|p| p.split('/').next()?.parse().ok())
                    .ok_or_else(|| SdpError::Parse(format!("bad m-line port in {line:?}")))?;
                let proto = it.next().ok_or_else(|| SdpError::Parse("m-line without protocol".into()))?.to_string();
                let fmts: Vec<String> = it.map(str::to_string).collect();
                if fmts.is_empty() {
                    return Err(SdpError::Parse("m-line without formats".into()));
                }
                offer.media.push(MediaLine { media, port, proto, fmts, conn: None, attrs: vec![] });
            }
            "a" => {
                if let Some(m) = offer.media.last_mut() {
                    m.attrs.push(value.to_string());
                }
            }
            k if k.len() == 1 => {}
            _ => return Err(SdpError::Parse(format!("bad line {line:?}"))),
        }
    }
    if first {
        return Err(SdpError::Empty);
    }
    Ok(offer)
}

fn parse_conn(value: &str) -> Result<IpAddr, SdpError> {
    let mut it = value.split_whitespace();
    let (_net, _ty, addr) = (it.next(), it.next(), it.next());
    addr.and_then(|a| a.split('/').next()?.parse().ok())
        .ok_or_else(|| SdpError::Parse(format!("bad c= line {value:?}")))
}

/// What the camera sends, as accepted from its offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraVideo {
    pub pt: u8,
    pub codec: VideoCodec,
    /// The fmtp parameters as offered (copied into the answer).
    pub fmtp: Option<String>,
    /// H.264: the `profile-level-id` of `sprop-parameter-sets`, else of the fmtp.
    pub profile_level_id: Option<u32>,
    /// H.265: profile/tier/level of `sprop-sps`/`sprop-vps`, else of the fmtp.
    pub h265_ptl: Option<H265Ptl>,
    pub packetization_mode: u8,
    /// Where PLI/FIR go: offer `c=` and `m=` port + 1, or `a=rtcp`.
    pub rtcp_remote: Option<SocketAddr>,
    /// `a=direction:active`: learn the camera's addresses from its packets.
    pub comedia: bool,
    /// The camera's own unicast address from `c=` (not `0.0.0.0`/`::`, not multicast): its RTP
    /// and RTCP are accepted only from this IP (see `media::rtp_source::SourceLatch`).
    pub source_ip: Option<IpAddr>,
    /// The offerer only receives (`a=recvonly`): the endpoint is a sink that sends the RTP
    /// of its connected source to `rtp_remote` (see `media::rtp_sink`).
    pub peer_receives_only: bool,
    /// Where the peer receives RTP: `c=` and the `m=` port (`None` for `0.0.0.0` or port 0).
    pub rtp_remote: Option<SocketAddr>,
}

/// The answer and, when the video line was accepted, the camera description.
#[derive(Debug, Clone)]
pub struct RtpAnswer {
    pub sdp: String,
    pub video: Option<CameraVideo>,
    /// The camera's audio, when an audio port was given and its line accepted.
    pub audio: Option<CameraAudio>,
    /// The codec of the first acceptable audio line (also without a port: a probe).
    pub audio_codec: Option<AudioCodec>,
}

pub use crate::codec_params::fmtp_param;

/// Parses an H.264 fmtp `profile-level-id` (6 hex digits).
pub fn parse_profile_level_id(v: &str) -> Option<u32> {
    if v.len() != 6 {
        return None;
    }
    u32::from_str_radix(v, 16).ok()
}

/// Builds the RtpEndpoint answer (PROTOCOL.md §7.3): offered profile mirrored, only H.264/VP8/H.265
/// video kept in offer order, fmtp copied, direction inverted, unsupported lines rejected with
/// port 0. `port` is the even RTP port the engine bound (RTCP on port + 1).
pub fn rtp_answer(offer: &Offer, addr: IpAddr, port: u16, ssrc: u32, session_version: u64) -> RtpAnswer {
    rtp_answer_av(offer, addr, port, None, ssrc, session_version)
}

/// [`rtp_answer`] with the camera's first G.711/Opus audio line answered on `audio_port`
/// (its RTP and RTCP carry SSRC `ssrc + 1`); without one, audio lines are rejected.
pub fn rtp_answer_av(
    offer: &Offer,
    addr: IpAddr,
    port: u16,
    audio_port: Option<u16>,
    ssrc: u32,
    session_version: u64,
) -> RtpAnswer {
    let ipv = if addr.is_ipv4() { "IP4" } else { "IP6" };
    let mut out = String::new();
    let _ = write!(out, "v=0\r\no=- {session_version} {session_version} IN {ipv} {addr}\r\ns=Kurento Media Server\r\nc=IN {ipv} {addr}\r\nt=0 0\r\n");
    let (mut video, mut audio, mut audio_codec) = (None, None, None);
    for m in &offer.media {
        if let Some(accepted) = audio::accept(m).filter(|_| audio_codec.is_none()) {
            audio_codec = Some(accepted.1);
            if let Some(p) = audio_port {
                audio = Some(audio::answer_line(&mut out, offer, m, accepted, p, ssrc.wrapping_add(1)));
                continue;
            }
        }
        let profile_ok = m.proto == "RTP/AVP" || m.proto == "RTP/AVPF";
        let accepted: Vec<(&String, VideoCodec)> = if profile_ok && m.media == "video" && video.is_none() && m.port != 0
        {
            m.fmts
                .iter()
                .filter_map(|pt| {
                    let (name, clock) = m.rtpmap(pt)?;
                    let codec = VideoCodec::from_name(&name)?;
                    (clock == 90000 && pt.parse::<u8>().is_ok_and(|p| p < 128)).then_some((pt, codec))
                })
                .collect()
        } else {
            vec![]
        };
        if accepted.is_empty() {
            let _ = write!(out, "m={} 0 {} {}\r\n", m.media, m.proto, m.fmts.join(" "));
            if let Some(mid) = m.attr_values("mid").next() {
                let _ = write!(out, "a=mid:{mid}\r\n");
            }
            let _ = write!(out, "a=inactive\r\n");
            continue;
        }
        let pts: Vec<&str> = accepted.iter().map(|(pt, _)| pt.as_str()).collect();
        let _ = write!(out, "m=video {port} {} {}\r\n", m.proto, pts.join(" "));
        let comedia = write_answer_direction(&mut out, m);
        for (pt, codec) in &accepted {
            let _ = write!(out, "a=rtpmap:{pt} {}/90000\r\n", codec.name());
            if let Some(f) = m.fmtp(pt) {
                let _ = write!(out, "a=fmtp:{pt} {f}\r\n");
            }
            if m.proto == "RTP/AVPF" {
                for fb in m.attr_values("rtcp-fb").filter(|v| v.split_whitespace().next() == Some(pt.as_str())) {
                    let kind = fb.split_once(' ').map_or("", |x| x.1).trim();
                    if matches!(kind, "nack" | "nack pli" | "ccm fir" | "goog-remb") {
                        let _ = write!(out, "a=rtcp-fb:{pt} {kind}\r\n");
                    }
                }
            }
        }
        let _ = write!(out, "a=ssrc:{ssrc} cname:camview-media-engine\r\n");
        let (pt, codec) = accepted[0];
        let fmtp = m.fmtp(pt);
        let profile_level_id = fmtp.as_deref().and_then(|f| {
            h264_sprop_profile_level_id(f)
                .or_else(|| fmtp_param(f, "profile-level-id").and_then(parse_profile_level_id))
        });
        let h265_ptl = fmtp.as_deref().filter(|_| codec == VideoCodec::H265).and_then(h265_fmtp_ptl);
        let packetization_mode =
            fmtp.as_deref().and_then(|f| fmtp_param(f, "packetization-mode")).and_then(|v| v.parse().ok()).unwrap_or(0);
        let (rtcp_remote, conn) = camera_rtcp(offer, m, comedia);
        video = Some(CameraVideo {
            pt: pt.parse().expect("filtered above to a number below 128"),
            codec,
            fmtp,
            profile_level_id,
            h265_ptl,
            packetization_mode,
            rtcp_remote,
            comedia,
            source_ip: conn.map(|ip| ip.to_canonical()).filter(|ip| is_unicast(*ip)),
            peer_receives_only: m.direction() == Some("recvonly"),
            rtp_remote: conn.filter(|ip| is_unicast(*ip)).map(|ip| SocketAddr::new(ip, m.port)),
        });
    }
    RtpAnswer { sdp: out, video, audio, audio_codec }
}

/// Where a camera's media line wants its RTCP (`c=` with `a=rtcp` or port + 1; none with
/// comedia), and its connection address.
pub(crate) fn camera_rtcp(offer: &Offer, m: &MediaLine, comedia: bool) -> (Option<SocketAddr>, Option<IpAddr>) {
    let conn = m.conn.or(offer.conn).filter(|ip| !ip.is_unspecified());
    let rtcp_port = m
        .attr_values("rtcp")
        .next()
        .and_then(|v| v.split_whitespace().next()?.parse::<u16>().ok())
        .or_else(|| m.port.checked_add(1));
    let rtcp_remote = match (conn, rtcp_port) {
        (Some(ip), Some(p)) if !comedia && p > 1 => Some(SocketAddr::new(ip, p)),
        _ => None,
    };
    (rtcp_remote, conn)
}

/// A specific unicast address: not unspecified (already filtered), multicast or broadcast.
pub(crate) fn is_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_unspecified() && !v4.is_multicast() && !v4.is_broadcast(),
        IpAddr::V6(v6) => !v6.is_unspecified() && !v6.is_multicast(),
    }
}

/// Payload types of the RtpEndpoint's generated offer.
pub const OFFER_PT_H264: u8 = 96;
pub const OFFER_PT_VP8: u8 = 97;

/// The RtpEndpoint's `generateOffer`: receive-only H.264 (packetization-mode=1) and VP8 on the
/// even `port` (RTCP on port + 1) of `addr`.
pub fn rtp_offer(addr: IpAddr, port: u16, ssrc: u32, session_version: u64) -> String {
    let ipv = if addr.is_ipv4() { "IP4" } else { "IP6" };
    let (h, v) = (OFFER_PT_H264, OFFER_PT_VP8);
    format!(
        "v=0\r\no=- {session_version} {session_version} IN {ipv} {addr}\r\ns=Kurento Media Server\r\nc=IN {ipv} {addr}\r\nt=0 0\r\n\
         m=video {port} RTP/AVPF {h} {v}\r\na=recvonly\r\n\
         a=rtpmap:{h} H264/90000\r\na=fmtp:{h} packetization-mode=1\r\na=rtcp-fb:{h} nack pli\r\n\
         a=rtpmap:{v} VP8/90000\r\na=rtcp-fb:{v} nack pli\r\n\
         a=ssrc:{ssrc} cname:camview-media-engine\r\n"
    )
}

/// What the camera will send, from its answer to `rtp_offer`: the first H.264/VP8/H.265 payload type
/// of its video line, with its `c=`/port (or `a=rtcp`) for RTCP. `None`: video was rejected.
pub fn rtp_answer_video(answer: &Offer) -> Option<CameraVideo> {
    // The answer describes the camera's side exactly like an offer would: reuse the parser.
    rtp_answer(answer, IpAddr::from([0, 0, 0, 0]), 0, 0, 0).video
}

/// Removes `a=candidate` / `a=end-of-candidates` lines (Kurento answers carry candidates only
/// when gathering ran before the offer was processed).
pub fn strip_candidates(sdp: &str) -> String {
    sdp.split("\r\n")
        .filter(|l| !l.starts_with("a=candidate") && !l.starts_with("a=end-of-candidates"))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The codecs a browser offer carries in its first video line (upper-cased names).
pub fn offered_video_codecs(offer: &Offer) -> Vec<String> {
    offer
        .media
        .iter()
        .find(|m| m.media == "video")
        .map(|m| m.fmts.iter().filter_map(|pt| m.rtpmap(pt)).map(|(n, _)| n.to_ascii_uppercase()).collect())
        .unwrap_or_default()
}

/// The first `a=mid` of the offer, used as `sdpMid` of our candidates.
pub fn first_mid(offer: &Offer) -> Option<String> {
    offer.media.first().and_then(|m| m.attr_values("mid").next()).map(str::to_string)
}

/// Writes an answer's `a=mid`, its direction (the offer's mirrored) and, for a camera that
/// asked to be learnt from its packets (`a=direction:active`, RFC 4145), `a=direction:passive`;
/// returns whether it asked.
pub(crate) fn write_answer_direction(out: &mut String, m: &MediaLine) -> bool {
    if let Some(mid) = m.attr_values("mid").next() {
        let _ = write!(out, "a=mid:{mid}\r\n");
    }
    let dir = match m.direction() {
        Some("sendonly") => "recvonly",
        Some("recvonly") => "sendonly",
        Some("inactive") => "inactive",
        _ => "sendrecv",
    };
    let _ = write!(out, "a={dir}\r\n");
    let comedia = m.attr_values("direction").any(|d| d.trim() == "active");
    if comedia {
        let _ = write!(out, "a=direction:passive\r\n");
    }
    comedia
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAMERA: &str = "v=0\r\no=- 0 0 IN IP4 192.0.2.50\r\ns=cam-01\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\nm=video 5004 RTP/AVPF 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=4d001f\r\na=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 transport-cc\r\na=sendonly\r\n";

    #[test]
    fn camera_offer_gets_a_mirrored_answer() {
        let offer = parse_offer(CAMERA).unwrap();
        let a = rtp_answer(&offer, "192.0.2.10".parse().unwrap(), 40012, 7, 1);
        assert!(a.sdp.contains("c=IN IP4 192.0.2.10\r\n"));
        assert!(a.sdp.contains("m=video 40012 RTP/AVPF 96\r\n"));
        assert!(a.sdp.contains("a=recvonly\r\n"));
        assert!(a.sdp.contains("a=fmtp:96 packetization-mode=1;profile-level-id=4d001f\r\n"));
        assert!(a.sdp.contains("a=rtcp-fb:96 nack pli\r\n"));
        assert!(!a.sdp.contains("transport-cc"));
        let v = a.video.unwrap();
        assert_eq!(
            (v.pt, v.codec, v.profile_level_id, v.packetization_mode),
            (96, VideoCodec::H264, Some(0x4d001f), 1)
        );
        assert_eq!(v.rtcp_remote, Some("192.0.2.50:5005".parse().unwrap()));
    }

    #[test]
    fn unsupported_profiles_and_codecs_get_port_zero() {
        let savp = CAMERA.replace("RTP/AVPF", "RTP/SAVPF");
        let a = rtp_answer(&parse_offer(&savp).unwrap(), "192.0.2.10".parse().unwrap(), 40012, 7, 1);
        assert!(a.sdp.contains("m=video 0 RTP/SAVPF 96"));
        assert!(a.video.is_none());
        let mp2t = CAMERA.replace("H264/90000", "MP2T/90000");
        assert!(rtp_answer(&parse_offer(&mp2t).unwrap(), "192.0.2.10".parse().unwrap(), 40012, 7, 1).video.is_none());
    }

    #[test]
    fn an_h265_camera_is_accepted_with_its_profile_from_sprop_sps() {
        // libx265 Main 10 level 4 (see codec_params.rs), as ffmpeg's RTP muxer writes it.
        let h265 = "v=0\r\no=- 0 0 IN IP4 192.0.2.50\r\ns=cam\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\nm=video 5004 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\na=fmtp:96 sprop-vps=QAEMAf//AiAAAAMAkAAAAwAAAwB4lZgJ; sprop-sps=QgEBAiAAAAMAkAAAAwAAAwB4oAPAgBDk2WVmkkyvAWgIAAADAAgAAAMAyEA=; sprop-pps=RAHBcrRiQA==\r\na=sendonly\r\n";
        let a = rtp_answer(&parse_offer(h265).unwrap(), "192.0.2.10".parse().unwrap(), 40012, 7, 1);
        assert!(a.sdp.contains("a=rtpmap:96 H265/90000\r\n"), "{}", a.sdp);
        let v = a.video.unwrap();
        assert_eq!(v.codec, VideoCodec::H265);
        assert_eq!(v.h265_ptl, Some(H265Ptl { profile_id: 2, tier_flag: 0, level_id: 120 }));
        assert_eq!(v.profile_level_id, None);
    }

    #[test]
    fn h264_sprop_parameter_sets_outrank_a_claimed_profile_level_id() {
        // libx264 main 3.1's SPS; the fmtp claims constrained baseline.
        let o = CAMERA.replace(
            "profile-level-id=4d001f",
            "profile-level-id=42e01f;sprop-parameter-sets=Z01AH+ygUBf8uAiAAAADAIAAABkHjBjL,aOvjyyA=",
        );
        let v = rtp_answer(&parse_offer(&o).unwrap(), "192.0.2.10".parse().unwrap(), 40012, 7, 1).video.unwrap();
        assert_eq!(v.profile_level_id, Some(0x4d401f));
    }

    #[test]
    fn rtcp_attribute_and_comedia_are_honoured() {
        let o = CAMERA.replace("a=sendonly", "a=sendonly\r\na=rtcp:6000");
        let v = rtp_answer(&parse_offer(&o).unwrap(), "192.0.2.10".parse().unwrap(), 40012, 7, 1).video.unwrap();
        assert_eq!(v.rtcp_remote, Some("192.0.2.50:6000".parse().unwrap()));
        let o = CAMERA.replace("a=sendonly", "a=sendonly\r\na=direction:active");
        let a = rtp_answer(&parse_offer(&o).unwrap(), "192.0.2.10".parse().unwrap(), 40012, 7, 1);
        assert!(a.sdp.contains("a=direction:passive"));
        assert!(a.video.unwrap().comedia);
    }

    #[test]
    fn the_generated_offer_lists_h264_and_vp8_and_reads_the_camera_answer() {
        let o = rtp_offer("192.0.2.10".parse().unwrap(), 40020, 7, 1);
        assert!(
            o.contains("c=IN IP4 192.0.2.10\r\n") && o.contains("m=video 40020 RTP/AVPF 96 97\r\na=recvonly\r\n"),
            "{o}"
        );
        assert!(
            o.contains("a=fmtp:96 packetization-mode=1\r\n")
                && o.contains("a=rtpmap:97 VP8/90000\r\na=rtcp-fb:97 nack pli\r\n"),
            "{o}"
        );
        let answer = "v=0\r\no=- 0 0 IN IP4 192.0.2.50\r\ns=cam\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\nm=video 5004 RTP/AVPF 97\r\na=rtpmap:97 VP8/90000\r\na=sendonly\r\n";
        let v = rtp_answer_video(&parse_offer(answer).unwrap()).unwrap();
        assert_eq!((v.pt, v.codec, v.rtcp_remote), (97, VideoCodec::Vp8, Some("192.0.2.50:5005".parse().unwrap())));
        assert!(rtp_answer_video(&parse_offer(&answer.replace("5004", "0")).unwrap()).is_none());
    }

    #[test]
    fn only_a_specific_unicast_connection_address_pins_the_camera_source() {
        let source = |sdp: &str| {
            rtp_answer(&parse_offer(sdp).unwrap(), "192.0.2.10".parse().unwrap(), 40012, 7, 1).video.unwrap().source_ip
        };
        assert_eq!(source(CAMERA), Some("192.0.2.50".parse().unwrap()));
        assert_eq!(source(&CAMERA.replace("c=IN IP4 192.0.2.50", "c=IN IP4 0.0.0.0")), None);
        assert_eq!(source(&CAMERA.replace("c=IN IP4 192.0.2.50", "c=IN IP4 239.1.2.3")), None, "multicast");
        assert_eq!(source(&CAMERA.replace("c=IN IP4 192.0.2.50", "c=IN IP6 ::")), None);
        assert_eq!(
            source(&CAMERA.replace("c=IN IP4 192.0.2.50", "c=IN IP6 2001:db8::5")),
            Some("2001:db8::5".parse().unwrap())
        );
        assert_eq!(
            source(&CAMERA.replace("c=IN IP4 192.0.2.50", "c=IN IP6 ::ffff:192.0.2.5")),
            Some("192.0.2.5".parse().unwrap()),
            "IPv4-mapped"
        );
        let answer = "v=0\r\no=- 0 0 IN IP4 192.0.2.50\r\ns=cam\r\nc=IN IP4 192.0.2.51\r\nt=0 0\r\nm=video 5004 RTP/AVPF 97\r\na=rtpmap:97 VP8/90000\r\na=sendonly\r\n";
        assert_eq!(
            rtp_answer_video(&parse_offer(answer).unwrap()).unwrap().source_ip,
            Some("192.0.2.51".parse().unwrap()),
            "processAnswer pins too"
        );
    }

    #[test]
    fn garbage_is_a_parse_error() {
        assert_eq!(parse_offer("").unwrap_err(), SdpError::Empty);
        assert!(parse_offer("hello").is_err());
        assert!(parse_offer("v=0\r\nm=video x RTP/AVP 96\r\n").is_err());
        assert!(parse_offer("v=0\r\nm=video 5000 RTP/AVP\r\n").is_err());
    }
}
