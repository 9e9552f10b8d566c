//! The ids every component passes around, validated once where they enter and typed from there
//! on: in REST paths, signaling frames, bus envelopes, registry records and Redis key names.
//!
//! Invariant of both: 1 to 64 characters out of `[A-Za-z0-9_-]`, so an id is safe in Redis key
//! names, URLs and log lines. Deserializing checks it too, so a record or envelope holding a bad
//! id is refused as a whole rather than carried on.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;

/// Longest accepted id.
pub const MAX_LEN: usize = 64;

/// Why an id was rejected (the same rule for every id kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{0} is longer than 64 characters")]
    TooLong(&'static str),
    #[error("{0} may only contain letters, digits, '_' and '-'")]
    BadCharacter(&'static str),
}

fn check(raw: &str, what: &'static str) -> Result<(), IdError> {
    if raw.is_empty() {
        return Err(IdError::Empty(what));
    }
    if raw.len() > MAX_LEN {
        return Err(IdError::TooLong(what));
    }
    if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(IdError::BadCharacter(what));
    }
    Ok(())
}

macro_rules! validated_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        #[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema), schema(value_type = String, pattern = "^[A-Za-z0-9_-]{1,64}$"))]
        pub struct $name(String);

        impl $name {
            /// What the id names, in error messages.
            pub const KIND: &'static str = $what;

            /// Checks `raw` against the id rule.
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                check(raw, $what).map(|()| Self(raw.to_owned()))
            }

            /// An id written in the source (tests, fixed names). Panics if it breaks the rule,
            /// as `http::HeaderValue::from_static` does.
            pub fn from_static(raw: &'static str) -> Self {
                match Self::parse(raw) {
                    Ok(id) => id,
                    Err(e) => panic!("{raw:?} is not a valid {}: {e}", $what),
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(raw: String) -> Result<Self, IdError> {
                check(&raw, $what).map(|()| Self(raw))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(raw: &str) -> Result<Self, IdError> {
                Self::parse(raw)
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

validated_id!(
    /// A camera: the `{camera_id}` of every REST path, the `camera` of a signaling `join`.
    CameraId,
    "camera id"
);

validated_id!(
    /// One viewer's session with one camera, made by the component the viewer joined through
    /// (signaling for the WebSocket path, the api for WHEP) and kept across a renegotiation.
    ViewerId,
    "viewer id"
);

impl ViewerId {
    /// A new, unguessable viewer id (a random UUID).
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
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
        assert_eq!(CameraId::parse(""), Err(IdError::Empty("camera id")));
        assert_eq!(CameraId::parse(&"x".repeat(65)), Err(IdError::TooLong("camera id")));
        for bad in ["a b", "a/b", "a:b", "../x", "ca\u{e9}", "a*", "a\0", "a.b", "{x}"] {
            assert_eq!(CameraId::parse(bad), Err(IdError::BadCharacter("camera id")), "{bad:?}");
            assert_eq!(ViewerId::parse(bad), Err(IdError::BadCharacter("viewer id")), "{bad:?}");
        }
    }

    #[test]
    fn multibyte_ids_do_not_panic_on_the_length_check() {
        assert!(CameraId::parse(&"\u{e9}".repeat(40)).is_err());
    }

    #[test]
    fn ids_serialize_as_plain_strings_and_bad_ones_do_not_deserialize() {
        let id = CameraId::from_static("cam-1");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"cam-1\"");
        assert_eq!(serde_json::from_str::<CameraId>("\"cam-1\"").unwrap(), id);
        let err = serde_json::from_str::<ViewerId>("\"../x\"").unwrap_err();
        assert!(err.to_string().contains("viewer id may only contain"), "{err}");
    }

    #[test]
    fn random_viewer_ids_follow_the_rule_and_differ() {
        let (a, b) = (ViewerId::random(), ViewerId::random());
        assert_ne!(a, b);
        assert_eq!(ViewerId::parse(a.as_str()), Ok(a));
    }

    #[test]
    #[should_panic(expected = "is not a valid camera id")]
    fn a_bad_static_id_panics_at_once() {
        CameraId::from_static("a b");
    }
}
