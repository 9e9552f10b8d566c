//! UDP port allocation inside the configured range.

use std::net::{IpAddr, SocketAddr, UdpSocket};

use rand::Rng;

/// Binds an even RTP port and the RTCP port above it, both inside `[min, max]`.
pub fn bind_rtp_pair(ip: IpAddr, min: u16, max: u16) -> std::io::Result<(UdpSocket, UdpSocket)> {
    let lo = (min + 1) & !1; // first even port >= min
    let slots = ((max.saturating_sub(lo)) / 2) as usize + usize::from(max > lo);
    if slots == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "empty port range"));
    }
    let start = rand::thread_rng().gen_range(0..slots);
    for i in 0..slots.min(512) {
        let port = lo + (((start + i) % slots) * 2) as u16;
        if port.checked_add(1).is_none_or(|p| p > max) {
            continue;
        }
        let Ok(rtp) = UdpSocket::bind(SocketAddr::new(ip, port)) else { continue };
        let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(ip, port + 1)) else { continue };
        return Ok((rtp, rtcp));
    }
    Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, format!("no free even port pair in {min}..={max}")))
}

/// Binds one port inside `[min, max]` on every address of `ips` (the same port on each).
pub fn bind_any_in_range(ips: &[IpAddr], min: u16, max: u16) -> std::io::Result<Vec<UdpSocket>> {
    let span = (max - min) as usize + 1;
    let start = rand::thread_rng().gen_range(0..span);
    'ports: for i in 0..span.min(512) {
        let port = min + ((start + i) % span) as u16;
        let mut socks = vec![];
        for ip in ips {
            match UdpSocket::bind(SocketAddr::new(*ip, port)) {
                Ok(s) => socks.push(s),
                Err(_) => continue 'ports,
            }
        }
        return Ok(socks);
    }
    Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, format!("no free port in {min}..={max}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_pairs_are_even_and_in_range() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..5 {
            let (a, b) = bind_rtp_pair(ip, 30001, 30099).unwrap();
            let p = a.local_addr().unwrap().port();
            assert_eq!(p % 2, 0);
            assert!((30002..=30098).contains(&p));
            assert_eq!(b.local_addr().unwrap().port(), p + 1);
        }
    }
}
