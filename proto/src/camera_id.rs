//! A camera id, the one rule every entry point applies (the api's paths, signaling's `join`).
//!
//! Invariant: 1 to 64 characters out of `[A-Za-z0-9_-]`, so it is safe in Redis key names,
//! URLs and log lines.

use std::fmt;

/// Longest accepted camera id.
pub const MAX_LEN: usize = 64;

/// A validated camera id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CameraId(String);

/// Why a camera id was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CameraIdError {
    #[error("camera id is empty")]
    Empty,
    #[error("camera id is longer than {MAX_LEN} characters")]
    TooLong,
    #[error("camera id may only contain letters, digits, '_' and '-'")]
    BadCharacter,
}

impl CameraIdError {
    /// The reason, as a static text (for error types that carry `&'static str`).
    pub fn message(&self) -> &'static str {
        match self {
            CameraIdError::Empty => "camera id is empty",
            CameraIdError::TooLong => "camera id is longer than 64 characters",
            CameraIdError::BadCharacter => "camera id may only contain letters, digits, '_' and '-'",
        }
    }
}

impl CameraId {
    pub fn parse(raw: &str) -> Result<Self, CameraIdError> {
        if raw.is_empty() {
            return Err(CameraIdError::Empty);
        }
        if raw.len() > MAX_LEN {
            return Err(CameraIdError::TooLong);
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(CameraIdError::BadCharacter);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for CameraId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CameraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_camera_id_is_accepted() {
        let id = CameraId::parse("56C1CADCF1FA4C6CAEBA3E2FD85EFEBF").unwrap();
        assert_eq!(id.as_str(), "56C1CADCF1FA4C6CAEBA3E2FD85EFEBF");
    }

    #[test]
    fn letters_digits_underscore_and_dash_are_accepted_up_to_64() {
        assert!(CameraId::parse("a").is_ok());
        assert!(CameraId::parse("cam_1-front").is_ok());
        assert!(CameraId::parse(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn empty_long_and_odd_ids_are_rejected() {
        assert_eq!(CameraId::parse(""), Err(CameraIdError::Empty));
        assert_eq!(CameraId::parse(&"x".repeat(65)), Err(CameraIdError::TooLong));
        for bad in ["a b", "a/b", "a:b", "../x", "ca\u{e9}", "a*", "a\0", "a.b", "{x}"] {
            assert_eq!(CameraId::parse(bad), Err(CameraIdError::BadCharacter), "{bad:?}");
        }
    }

    #[test]
    fn each_error_message_is_its_display() {
        for e in [CameraIdError::Empty, CameraIdError::TooLong, CameraIdError::BadCharacter] {
            assert_eq!(e.message(), e.to_string());
        }
    }

    #[test]
    fn multibyte_ids_do_not_panic_on_the_length_check() {
        assert!(CameraId::parse(&"\u{e9}".repeat(40)).is_err());
    }
}
