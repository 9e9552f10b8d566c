//! The SDP work of a WHEP resource, sans IO: the server candidates written into the answer
//! (a standard WHEP player does not take server-side trickle), the client's trickled
//! candidates read from an `application/trickle-ice-sdpfrag` body, and the ICE ufrag that
//! tells a trickle from an ICE restart.
//!
//! Invariants: nothing here panics on any input; a fragment is bounded in size and number
//! of candidates, and each candidate passes the same check as on the WebSocket path.

use camview_proto::stream::IceCandidate;
use camview_proto::viewer_input::check_candidate;

/// Largest trickle fragment accepted (a browser's is well under 4 KiB).
pub const MAX_FRAGMENT_BYTES: usize = 16 * 1024;
/// Most candidates one fragment may carry.
pub const MAX_FRAGMENT_CANDIDATES: usize = 64;

/// The `a=ice-ufrag` of an SDP or fragment (the first one; the api offers one ICE session).
pub fn ice_ufrag(sdp: &str) -> Option<&str> {
    sdp.lines().find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:")).map(str::trim)
}

/// `answer` with each candidate written at the end of its media section (by `sdpMid`, else
/// by `sdpMLineIndex`; a candidate matching no section goes to the first, which carries the
/// BUNDLE transport). Lines come out CRLF-terminated.
pub fn with_candidates(answer: &str, candidates: &[IceCandidate]) -> String {
    let lines: Vec<&str> = answer.lines().map(|l| l.trim_end_matches('\r')).filter(|l| !l.is_empty()).collect();
    // Each media section: its first line index and its mid.
    let mut sections: Vec<(usize, Option<&str>)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("m=") {
            sections.push((i, None));
        } else if let (Some(mid), Some(last)) = (line.strip_prefix("a=mid:"), sections.last_mut()) {
            last.1 = Some(mid.trim());
        }
    }
    let mut per_section: Vec<Vec<&str>> = vec![Vec::new(); sections.len()];
    for c in candidates {
        let by_mid = c.sdp_mid.as_deref().and_then(|mid| sections.iter().position(|(_, m)| *m == Some(mid)));
        let by_index = c.sdp_m_line_index.and_then(|i| usize::try_from(i).ok()).filter(|i| *i < sections.len());
        if let Some(slot) = by_mid.or(by_index).or(if sections.is_empty() { None } else { Some(0) }) {
            per_section[slot].push(c.candidate.strip_prefix("a=").unwrap_or(&c.candidate));
        }
    }
    let mut out = String::with_capacity(answer.len() + candidates.len() * 100);
    let mut section = None::<usize>;
    let flush = |out: &mut String, section: Option<usize>| {
        for c in section.map(|s| per_section[s].as_slice()).unwrap_or_default() {
            out.push_str("a=");
            out.push_str(c);
            out.push_str("\r\n");
        }
    };
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("m=") {
            flush(&mut out, section);
            section = sections.iter().position(|(start, _)| *start == i);
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    flush(&mut out, section);
    out
}

/// What a trickle `PATCH` carries.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fragment {
    /// The client's ICE ufrag, when the fragment names it.
    pub ice_ufrag: Option<String>,
    pub candidates: Vec<IceCandidate>,
}

/// Reads an `application/trickle-ice-sdpfrag` body (RFC 8840): `a=ice-ufrag`/`a=ice-pwd`,
/// then per media `m=` and `a=mid:` lines followed by `a=candidate:` lines and maybe
/// `a=end-of-candidates` (which needs no action). Unknown lines are skipped.
pub fn parse_fragment(body: &str) -> Result<Fragment, &'static str> {
    if body.len() > MAX_FRAGMENT_BYTES {
        return Err("the fragment is larger than 16 KiB");
    }
    let mut fragment = Fragment { ice_ufrag: ice_ufrag(body).map(str::to_owned), candidates: Vec::new() };
    let (mut index, mut mid) = (None::<u32>, None::<String>);
    for line in body.lines().map(str::trim_end) {
        if line.starts_with("m=") {
            index = Some(index.map_or(0, |i| i.saturating_add(1)));
            mid = None;
        } else if let Some(m) = line.strip_prefix("a=mid:") {
            mid = Some(m.trim().to_owned());
        } else if let Some(candidate) = line.strip_prefix("a=").filter(|l| l.starts_with("candidate:")) {
            if fragment.candidates.len() == MAX_FRAGMENT_CANDIDATES {
                return Err("the fragment carries more than 64 candidates");
            }
            let c = IceCandidate {
                candidate: candidate.to_owned(),
                sdp_mid: mid.clone(),
                sdp_m_line_index: index.or(if mid.is_none() { Some(0) } else { None }),
            };
            check_candidate(&c)?;
            fragment.candidates.push(c);
        }
    }
    Ok(fragment)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=ice-ufrag:srv\r\na=recvonly\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:1\r\na=inactive\r\n";

    fn cand(line: &str, mid: Option<&str>, index: Option<u32>) -> IceCandidate {
        IceCandidate { candidate: line.into(), sdp_mid: mid.map(Into::into), sdp_m_line_index: index }
    }

    #[test]
    fn server_candidates_land_at_the_end_of_their_media_section() {
        let host = "candidate:1 1 UDP 2015363327 127.0.0.1 40128 typ host";
        let audio = "candidate:2 1 UDP 2015363327 127.0.0.1 40129 typ host";
        let out = with_candidates(ANSWER, &[cand(host, Some("0"), Some(0)), cand(audio, None, Some(1))]);
        let video_end = out.find("a=recvonly\r\n").unwrap() + "a=recvonly\r\n".len();
        assert!(out[video_end..].starts_with(&format!("a={host}\r\nm=audio")), "{out}");
        assert!(out.ends_with(&format!("a=inactive\r\na={audio}\r\n")), "{out}");
        assert_eq!(ice_ufrag(&out), Some("srv"));
    }

    #[test]
    fn a_candidate_of_an_unknown_section_goes_to_the_first_and_lf_answers_become_crlf() {
        let lf = ANSWER.replace("\r\n", "\n");
        let line = "a=candidate:1 1 UDP 2015363327 127.0.0.1 40128 typ host";
        let out = with_candidates(&lf, &[cand(line, Some("x"), None)]);
        assert!(out.contains(&format!("a=recvonly\r\n{line}\r\nm=audio")), "{out}");
        assert!(!out.contains("a=a=") && !out.replace("\r\n", "").contains('\n'), "{out}");
        assert_eq!(with_candidates("garbage", &[cand(line, None, Some(0))]), "garbage\r\n");
    }

    #[test]
    fn a_browser_fragment_gives_its_candidates_with_their_media() {
        let body = "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n\
            a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0\r\n\
            a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0\r\n\
            a=end-of-candidates\r\n";
        let f = parse_fragment(body).unwrap();
        assert_eq!(f.ice_ufrag.as_deref(), Some("EsAw"));
        assert_eq!(f.candidates.len(), 2);
        assert_eq!(f.candidates[0].sdp_mid.as_deref(), Some("0"));
        assert_eq!(f.candidates[0].sdp_m_line_index, Some(0));
        assert!(f.candidates[1].candidate.starts_with("candidate:3471623853 "));
        let end_only = parse_fragment("a=ice-ufrag:EsAw\r\nm=video 9 RTP/AVP 0\r\na=mid:0\r\na=end-of-candidates\r\n");
        assert_eq!(end_only.unwrap().candidates, vec![]);
    }

    #[test]
    fn bad_fragments_are_refused_with_a_reason() {
        assert!(parse_fragment("a=candidate:garbage\r\n").is_err());
        assert!(parse_fragment(&"a=x\r\n".repeat(MAX_FRAGMENT_BYTES)).is_err());
        let many = "a=candidate:1 1 udp 1 192.0.2.1 9 typ host\r\n".repeat(MAX_FRAGMENT_CANDIDATES + 1);
        assert_eq!(parse_fragment(&many), Err("the fragment carries more than 64 candidates"));
        assert_eq!(parse_fragment(""), Ok(Fragment::default()));
    }
}
