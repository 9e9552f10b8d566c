//! What the api and signaling read from an HTTP request alike: the client's address and the
//! session cookie.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::HttpRequest;

use camview_common::auth::token::MAX_TOKEN_LEN;
use camview_common::auth::{client_ip, Networks, COOKIE_NAME};

/// The client's address: the peer, or the `X-Forwarded-For` entry a trusted proxy vouches
/// for ([`client_ip`]).
pub fn request_client_ip(req: &HttpRequest, trusted_proxies: &Networks) -> IpAddr {
    // actix sets the peer for every TCP connection; the fallback only serves test requests.
    let peer = req.peer_addr().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    client_ip(peer, forwarded, trusted_proxies)
}

/// The token in the session cookie, if any (an empty or oversized value counts as none).
pub fn cookie_token(req: &HttpRequest) -> Option<String> {
    req.cookie(COOKIE_NAME).map(|c| c.value().to_owned()).filter(|v| !v.is_empty() && v.len() <= MAX_TOKEN_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::cookie::Cookie;
    use actix_web::test::TestRequest;

    #[test]
    fn the_forwarded_address_counts_only_from_a_trusted_proxy() {
        let req = TestRequest::default()
            .peer_addr("10.0.0.2:5000".parse().unwrap())
            .insert_header(("x-forwarded-for", "198.51.100.4"))
            .to_http_request();
        assert_eq!(request_client_ip(&req, &Networks::none()), "10.0.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(
            request_client_ip(&req, &Networks::parse("10.0.0.0/8").unwrap()),
            "198.51.100.4".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn an_empty_or_oversized_cookie_is_no_token() {
        let with = |v: &str| TestRequest::default().cookie(Cookie::new(COOKIE_NAME, v.to_owned())).to_http_request();
        assert_eq!(cookie_token(&with("abc")).as_deref(), Some("abc"));
        assert_eq!(cookie_token(&with("")), None);
        assert_eq!(cookie_token(&with(&"a".repeat(MAX_TOKEN_LEN + 1))), None);
        assert_eq!(cookie_token(&TestRequest::default().to_http_request()), None);
    }
}
