//! Optional viewer tokens: HS256 JWTs whose `camera` claim names the camera (or `*`).
//!
//! Invariant: with a secret set, a join without a valid, unexpired token for its camera is
//! refused; without one, every join is allowed (the service logs this loudly at start).

use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::error::SessionError;

/// Claims a viewer token must carry; `exp` is checked by the validation.
#[derive(Debug, Deserialize)]
struct Claims {
    camera: String,
}

/// How joins are authorized.
#[derive(Clone)]
pub enum Auth {
    Off,
    Hs256 {
        key: Box<DecodingKey>,
        validation: Box<Validation>,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::Off => "Auth::Off",
            Auth::Hs256 { .. } => "Auth::Hs256",
        })
    }
}

impl Auth {
    /// `AUTH_JWT_SECRET` set: HS256 with a required `exp`; unset: off.
    pub fn from_secret(secret: Option<&str>) -> Self {
        match secret {
            None => Auth::Off,
            Some(secret) => {
                let mut validation = Validation::new(Algorithm::HS256);
                validation.set_required_spec_claims(&["exp"]);
                validation.leeway = 30;
                // Tokens are scoped by their `camera` claim; an `aud` set by the issuer is not checked.
                validation.validate_aud = false;
                Auth::Hs256 {
                    key: Box::new(DecodingKey::from_secret(secret.as_bytes())),
                    validation: Box::new(validation),
                }
            }
        }
    }

    pub fn is_enabled(&self) -> bool {
        matches!(self, Auth::Hs256 { .. })
    }

    /// Allows a join for `camera` with `token`, or says why not.
    pub fn authorize(&self, token: Option<&str>, camera: &str) -> Result<(), SessionError> {
        let Auth::Hs256 { key, validation } = self else {
            return Ok(());
        };
        let Some(token) = token else {
            return Err(SessionError::Unauthorized("a token is required".into()));
        };
        if token.len() > 8 * 1024 {
            return Err(SessionError::Unauthorized("token is too long".into()));
        }
        let data = decode::<Claims>(token, key, validation)
            .map_err(|e| SessionError::Unauthorized(format!("invalid token: {e}")))?;
        if data.claims.camera == camera || data.claims.camera == "*" {
            Ok(())
        } else {
            Err(SessionError::Unauthorized(
                "token is not valid for this camera".into(),
            ))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

    pub(crate) fn token(secret: &str, camera: &str, exp_from_now: i64) -> String {
        let exp = jsonwebtoken::get_current_timestamp() as i64 + exp_from_now;
        let claims = serde_json::json!({"camera": camera, "exp": exp});
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn without_a_secret_every_join_is_allowed() {
        assert!(Auth::from_secret(None).authorize(None, "cam").is_ok());
    }

    #[test]
    fn a_token_for_the_camera_or_for_every_camera_is_accepted() {
        let auth = Auth::from_secret(Some("s3cret"));
        assert!(auth
            .authorize(Some(&token("s3cret", "cam", 60)), "cam")
            .is_ok());
        assert!(auth
            .authorize(Some(&token("s3cret", "*", 60)), "cam")
            .is_ok());
    }

    #[test]
    fn a_token_with_an_audience_is_accepted() {
        let exp = jsonwebtoken::get_current_timestamp() + 60;
        let claims = serde_json::json!({"camera": "cam", "exp": exp, "aud": "camview-viewer"});
        let t = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap();
        assert!(Auth::from_secret(Some("s3cret"))
            .authorize(Some(&t), "cam")
            .is_ok());
    }

    #[test]
    fn missing_foreign_expired_or_forged_tokens_are_refused() {
        let auth = Auth::from_secret(Some("s3cret"));
        for t in [
            None,
            Some(token("s3cret", "other", 60)),
            Some(token("s3cret", "cam", -3600)),
            Some(token("wrong", "cam", 60)),
            Some("garbage".into()),
        ] {
            let err = auth.authorize(t.as_deref(), "cam").unwrap_err();
            assert_eq!(err.code(), camview_proto::ErrorCode::Unauthorized, "{t:?}");
        }
    }
}
