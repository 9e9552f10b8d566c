//! ICE servers for browsers, with TURN REST API ephemeral credentials.
//!
//! The credential scheme is the one coturn's `use-auth-secret` checks:
//! username = `<unix expiry>:camview`, credential = base64(HMAC-SHA1(secret, username)).

use camview_proto::rest::{IceServer, IceServersResponse};

use crate::config::{IceSettings, TurnSettings};

/// The user part of every TURN username.
pub const TURN_USER: &str = "camview";

/// A TURN username and password valid until `expires_at` (unix seconds).
pub fn turn_credentials(secret: &str, expires_at: i64) -> (String, String) {
    camview_common::turn::credentials(secret, Some(TURN_USER), expires_at)
}

/// What `GET /ice-servers` answers at unix time `now`.
pub fn ice_servers(settings: &IceSettings, now: i64) -> IceServersResponse {
    let mut ice_servers = Vec::new();
    if !settings.stun_servers.is_empty() {
        ice_servers.push(IceServer { urls: settings.stun_servers.clone(), username: None, credential: None });
    }
    if let Some(TurnSettings { urls, secret, ttl }) = &settings.turn {
        let expires_at = now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
        let (username, credential) = turn_credentials(secret, expires_at);
        ice_servers.push(IceServer { urls: urls.clone(), username: Some(username), credential: Some(credential) });
    }
    IceServersResponse { ice_servers }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn turn_credentials_match_a_known_vector() {
        // echo -n "1700086400:camview" | openssl dgst -sha1 -hmac "north-sea-secret" -binary | base64
        let (user, pass) = turn_credentials("north-sea-secret", 1_700_086_400);
        assert_eq!(user, "1700086400:camview");
        assert_eq!(pass, "r+jgpMvHOmjmzDpc1uoYFqFA4Ak=");
    }

    #[test]
    fn stun_and_turn_are_separate_entries_and_turn_expires_after_the_ttl() {
        let settings = IceSettings {
            stun_servers: vec!["stun:a:3478".into()],
            turn: Some(TurnSettings {
                urls: vec!["turn:t:3478".into()],
                secret: "north-sea-secret".into(),
                ttl: Duration::from_secs(86_400),
            }),
        };
        let r = ice_servers(&settings, 1_700_000_000);
        assert_eq!(r.ice_servers.len(), 2);
        assert_eq!(r.ice_servers[0], IceServer { urls: vec!["stun:a:3478".into()], username: None, credential: None });
        assert_eq!(r.ice_servers[1].username.as_deref(), Some("1700086400:camview"));
        assert_eq!(r.ice_servers[1].credential.as_deref(), Some("r+jgpMvHOmjmzDpc1uoYFqFA4Ak="));
    }

    #[test]
    fn no_servers_configured_gives_an_empty_list() {
        let r = ice_servers(&IceSettings { stun_servers: vec![], turn: None }, 0);
        assert!(r.ice_servers.is_empty());
    }
}
