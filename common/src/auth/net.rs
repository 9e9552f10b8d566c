//! Address lists (`TRUSTED_PROXIES`, `CAMERA_TRUSTED_NETWORKS`) and the client address of a
//! request.
//!
//! Invariant: `X-Forwarded-For` is believed only as far as the hops that appended to it are
//! trusted proxies; a client can prepend anything, so the list is read from the right.

use std::net::IpAddr;

use ipnet::IpNet;

/// A list of networks; a bare address is a /32 or /128.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks(Vec<IpNet>);

impl Networks {
    /// Nothing: no address is in it.
    pub fn none() -> Self {
        Self(Vec::new())
    }

    /// Loopback, RFC 1918, RFC 4193 (unique local) and link-local addresses: a LAN.
    pub fn loopback_and_private() -> Self {
        Self::parse("127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,169.254.0.0/16,fc00::/7,fe80::/10")
            .expect("the built-in list parses")
    }

    /// Comma-separated CIDRs or addresses; `none` (or empty) for an empty list.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item.eq_ignore_ascii_case("none") {
                continue;
            }
            let net = match item.parse::<IpNet>() {
                Ok(n) => n.trunc(),
                Err(_) => match item.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => return Err(format!("{item:?} is not an address or a CIDR network (e.g. 10.0.0.0/8)")),
                },
            };
            nets.push(net);
        }
        Ok(Self(nets))
    }

    /// Whether `ip` (an IPv4-mapped IPv6 address counts as its IPv4 one) is in the list.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Display for Networks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let items: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&items.join(","))
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The client's address: the peer, or when the peer is a trusted proxy the rightmost
/// `X-Forwarded-For` entry that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted_proxies: &Networks) -> IpAddr {
    let peer = canonical(peer);
    if !trusted_proxies.contains(peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut client = peer;
    for hop in header.rsplit(',').map(str::trim) {
        let Some(ip) = parse_hop(hop) else {
            break; // garbage: stop believing the header here
        };
        client = canonical(ip);
        if !trusted_proxies.contains(client) {
            break;
        }
    }
    client
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `[::1]:5678` or `::1`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(sa) = hop.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    hop.strip_prefix('[').and_then(|h| h.split(']').next()).and_then(|h| h.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_ranges_contain_lan_addresses_and_not_public_ones() {
        let lan = Networks::loopback_and_private();
        for a in ["127.0.0.1", "10.1.2.3", "172.20.0.1", "192.168.1.9", "::1", "fd00::1", "::ffff:192.168.1.9"] {
            assert!(lan.contains(ip(a)), "{a}");
        }
        for a in ["8.8.8.8", "172.32.0.1", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert!(!lan.contains(ip(a)), "{a}");
        }
    }

    #[test]
    fn lists_parse_cidrs_and_addresses_and_name_what_is_wrong() {
        let n = Networks::parse("10.0.0.0/8, 192.0.2.7 ,::1").unwrap();
        assert!(n.contains(ip("10.9.9.9")) && n.contains(ip("192.0.2.7")) && !n.contains(ip("192.0.2.8")));
        assert!(Networks::parse("none").unwrap().is_empty());
        assert!(Networks::parse("10.0.0.0/33").unwrap_err().contains("10.0.0.0/33"));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = Networks::parse("10.0.0.0/8").unwrap();
        // Not a proxy: the header is the client's own words.
        assert_eq!(client_ip(ip("203.0.113.9"), Some("1.1.1.1"), &proxies), ip("203.0.113.9"));
        // Through one proxy: the hop it appended.
        assert_eq!(client_ip(ip("10.0.0.2"), Some("6.6.6.6, 198.51.100.4"), &proxies), ip("198.51.100.4"));
        // Through two proxies: skip the trusted one.
        assert_eq!(client_ip(ip("10.0.0.2"), Some("198.51.100.4, 10.0.0.3"), &proxies), ip("198.51.100.4"));
        // Ports and brackets.
        assert_eq!(client_ip(ip("10.0.0.2"), Some("[2001:db8::5]:443"), &proxies), ip("2001:db8::5"));
        // No header, or garbage: the proxy itself.
        assert_eq!(client_ip(ip("10.0.0.2"), None, &proxies), ip("10.0.0.2"));
        assert_eq!(client_ip(ip("10.0.0.2"), Some("nonsense"), &proxies), ip("10.0.0.2"));
    }
}
