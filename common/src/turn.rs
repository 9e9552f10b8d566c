//! TURN REST API ephemeral credentials, as coturn's `use-auth-secret` checks them:
//! username `<unix expiry>[:<user>]`, password base64(HMAC-SHA1(secret, username)).
//! Browsers (through the API) and the media server (through the controller) both get them.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// A username and password valid until `expires_at` (unix seconds). Without `user` the
/// username is the bare expiry, which Kurento's `user:password@host` URL format needs.
pub fn credentials(secret: &str, user: Option<&str>, expires_at: i64) -> (String, String) {
    let username = match user {
        Some(u) => format!("{expires_at}:{u}"),
        None => expires_at.to_string(),
    };
    // Invariant: HMAC accepts keys of any length, so new_from_slice cannot fail.
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(username.as_bytes());
    let password = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    (username, password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_match_a_known_vector() {
        // echo -n "1700086400:camview" | openssl dgst -sha1 -hmac "north-sea-secret" -binary | base64
        let (user, pass) = credentials("north-sea-secret", Some("camview"), 1_700_086_400);
        assert_eq!(user, "1700086400:camview");
        assert_eq!(pass, "r+jgpMvHOmjmzDpc1uoYFqFA4Ak=");
    }

    #[test]
    fn without_a_user_the_username_is_the_expiry() {
        let (user, pass) = credentials("north-sea-secret", None, 1_700_086_400);
        assert_eq!(user, "1700086400");
        assert_ne!(pass, credentials("north-sea-secret", Some("camview"), 1_700_086_400).1);
    }
}
