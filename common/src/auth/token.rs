//! Session and share tokens: HS256 JWTs signed with the deployment's key.
//!
//! Invariants: only HS256 is accepted (so `alg: none` and key-confusion tokens fail),
//! `exp` and `iss` are required, and a token proves only who it was issued to: what it may
//! do is decided against the store at every use ([`super::Authenticator`]).

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use camview_proto::auth::Role;

/// The `iss` of every token.
pub const ISSUER: &str = "camview";
/// Longest token looked at; longer ones are refused before parsing.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A logged-in user (`sub` = username).
    Session,
    /// A share link (`sub` = share id).
    Share,
}

/// The claims of a camview token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub kind: TokenKind,
    pub role: Role,
    /// Cameras this token was issued for (informational; the store decides).
    #[serde(default)]
    pub grants: Vec<String>,
    /// The user's token version at issue time; 0 for shares.
    #[serde(default)]
    pub ver: u64,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
}

/// Why a token is not accepted (the text is safe to show the client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is too long")]
    TooLong,
    #[error("token has expired")]
    Expired,
    #[error("invalid token")]
    Invalid,
}

/// Signs and checks tokens with one HS256 key.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(<redacted>)")
    }
}

impl TokenKeys {
    pub fn from_secret(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.set_issuer(&[ISSUER]);
        validation.validate_aud = false;
        validation.leeway = 5;
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), validation }
    }

    pub fn sign(&self, claims: &Claims) -> String {
        // HS256 with an in-memory key and serializable claims cannot fail.
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding).expect("HS256 signing of plain claims")
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLong);
        }
        decode::<Claims>(token, &self.decoding, &self.validation).map(|d| d.claims).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn claims(exp_from_now: i64) -> Claims {
        let now = jsonwebtoken::get_current_timestamp();
        Claims {
            iss: ISSUER.into(),
            sub: "ann".into(),
            kind: TokenKind::Session,
            role: Role::Viewer,
            grants: vec!["cam1".into()],
            ver: 1,
            iat: now,
            exp: (now as i64 + exp_from_now) as u64,
            jti: "j".into(),
        }
    }

    #[test]
    fn a_signed_token_verifies_with_its_key_only() {
        let keys = TokenKeys::from_secret(b"k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1");
        let t = keys.sign(&claims(60));
        assert_eq!(keys.verify(&t).unwrap(), claims_of(&t));
        let other = TokenKeys::from_secret(b"k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2k2");
        assert_eq!(other.verify(&t), Err(TokenError::Invalid));
    }

    fn claims_of(t: &str) -> Claims {
        let payload = t.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn expired_unsigned_and_foreign_issuer_tokens_are_refused() {
        let keys = TokenKeys::from_secret(b"k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1");
        assert_eq!(keys.verify(&keys.sign(&claims(-60))), Err(TokenError::Expired));
        // alg: none, the claims of a valid token, no signature.
        let b64 = |v: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg":"none","typ":"JWT"})),
            b64(&serde_json::to_value(claims(60)).unwrap())
        );
        assert_eq!(keys.verify(&none), Err(TokenError::Invalid));
        let mut foreign = claims(60);
        foreign.iss = "someone-else".into();
        assert_eq!(keys.verify(&keys.sign(&foreign)), Err(TokenError::Invalid));
        assert_eq!(keys.verify(&"x".repeat(MAX_TOKEN_LEN + 1)), Err(TokenError::TooLong));
        assert_eq!(keys.verify("garbage"), Err(TokenError::Invalid));
    }

    mod props {
        use proptest::prelude::*;

        use super::*;

        const KEY: &[u8] = b"k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1k1";

        proptest! {
            #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

            /// Any text, including JWT-shaped text, is refused without a panic.
            #[test]
            fn arbitrary_text_never_verifies(text in prop_oneof!["[A-Za-z0-9_-]{0,60}\\.[A-Za-z0-9_-]{0,200}\\.[A-Za-z0-9_-]{0,60}", any::<String>()]) {
                prop_assert!(TokenKeys::from_secret(KEY).verify(&text).is_err());
            }

            /// A valid token with any one character changed is refused (or, when the change
            /// decodes to the same bytes, verifies to the same claims).
            #[test]
            fn a_token_with_one_character_changed_is_refused(at in any::<prop::sample::Index>(), with in "[A-Za-z0-9_.=-]") {
                let keys = TokenKeys::from_secret(KEY);
                let token = keys.sign(&claims(60));
                let i = at.index(token.len());
                let mut bytes = token.clone().into_bytes();
                bytes[i] = with.as_bytes()[0];
                let changed = String::from_utf8(bytes).unwrap();
                if let Ok(c) = keys.verify(&changed) {
                    prop_assert_eq!(c, claims_of(&token));
                }
            }
        }
    }
}
