//! Password hashes (argon2id with the argon2 crate's defaults, OWASP's m=19 MiB, t=2, p=1)
//! and random secrets.
//!
//! Invariant: a password is never stored, logged or compared in clear; verifying an unknown
//! user costs as much as verifying a known one, so timing does not tell which names exist.

use std::sync::LazyLock;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Shortest accepted password.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest accepted password (argon2 takes any length; this bounds the work per login).
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Checks a new password's length; the message names the rule.
pub fn check_new_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(format!("a password needs at least {MIN_PASSWORD_LEN} characters"));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(format!("a password has at most {MAX_PASSWORD_LEN} bytes"));
    }
    Ok(())
}

/// The argon2id PHC string of `password` with a fresh salt. CPU-heavy: call it off the
/// async executor (`spawn_blocking`).
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        // Only fails for parameters or salts out of range; the defaults and a generated salt are in range.
        .expect("argon2 defaults hash any password")
        .to_string()
}

/// A hash of nothing anybody knows, verified for unknown users to even out timing.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash(&random_token(32)));

/// Whether `password` matches the PHC string `phc`; `None` verifies against a dummy hash
/// and answers false. CPU-heavy: call it off the async executor.
pub fn verify(password: &str, phc: Option<&str>) -> bool {
    let phc = phc.unwrap_or(DUMMY_HASH.as_str());
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let ok = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
    ok && !std::ptr::eq(phc, DUMMY_HASH.as_str())
}

/// `bytes` random bytes from the OS, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Lower-case hex SHA-256, for high-entropy secrets (camera secrets, one-time codes).
pub fn sha256_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `secret` hashes to `expected_hex`, in constant time.
pub fn secret_matches(secret: &str, expected_hex: &str) -> bool {
    sha256_hex(secret).as_bytes().ct_eq(expected_hex.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_and_verifies_only_its_password() {
        let h = hash("correct horse");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse", Some(&h)));
        assert!(!verify("correct horsE", Some(&h)));
        assert_ne!(hash("correct horse"), h, "salted");
    }

    #[test]
    fn an_unknown_user_or_a_corrupt_hash_never_verifies() {
        assert!(!verify("anything", None));
        assert!(!verify("anything", Some("not a phc string")));
    }

    #[test]
    fn new_passwords_need_eight_characters() {
        assert!(check_new_password("1234567").is_err());
        assert!(check_new_password("12345678").is_ok());
        assert!(check_new_password(&"x".repeat(2000)).is_err());
    }

    #[test]
    fn secrets_match_their_digest_only() {
        let s = random_token(32);
        assert_eq!(s.len(), 43);
        let d = sha256_hex(&s);
        assert!(secret_matches(&s, &d));
        assert!(!secret_matches("other", &d));
    }
}
