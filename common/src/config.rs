//! Environment-variable parsing shared by every service: typed values, validated at
//! start, with the variable's name in every error.

use std::fmt::Display;
use std::str::FromStr;

use crate::auth::Networks;
use crate::redis_client::{self, RedisTls};

/// A bad or missing configuration value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {name}={value:?}: {reason}")]
pub struct ConfigError {
    pub name: String,
    pub value: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(name: &str, value: &str, reason: impl Into<String>) -> Self {
        Self { name: name.into(), value: value.into(), reason: reason.into() }
    }
}

/// Where configuration values come from; the process environment in production, a map in tests.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct Env;

impl Source for Env {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Source for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).cloned()
    }
}

impl<const N: usize> Source for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }
}

/// Typed, validated reads from a [`Source`]. Empty values count as unset.
pub struct Reader<'a> {
    source: &'a dyn Source,
}

impl<'a> Reader<'a> {
    pub fn new(source: &'a dyn Source) -> Self {
        Self { source }
    }

    /// The raw value, if set and not empty.
    pub fn raw(&self, name: &str) -> Option<String> {
        self.source.get(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// A string with a default.
    pub fn string(&self, name: &str, default: &str) -> String {
        self.raw(name).unwrap_or_else(|| default.to_owned())
    }

    /// A value parsed with `FromStr`, or `default` when unset.
    pub fn parse<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.raw(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e: T::Err| ConfigError::new(name, &v, e.to_string())),
        }
    }

    /// An optional value parsed with `FromStr`.
    pub fn parse_opt<T>(&self, name: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.raw(name).map(|v| v.parse().map_err(|e: T::Err| ConfigError::new(name, &v, e.to_string()))).transpose()
    }

    /// An integer within `min..=max`.
    pub fn ranged<T>(&self, name: &str, default: T, min: T, max: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Display + Copy,
        T::Err: Display,
    {
        let v = self.parse(name, default)?;
        if v < min || v > max {
            return Err(ConfigError::new(name, &v.to_string(), format!("must be between {min} and {max}")));
        }
        Ok(v)
    }

    /// A boolean: true/false, 1/0, yes/no, on/off.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.raw(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) => match v.as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(ConfigError::new(name, &v, "expected true or false")),
            },
        }
    }

    /// A comma-separated list of networks ([`Networks::parse`]: CIDRs, addresses or `none`),
    /// or `default` when unset.
    pub fn networks(&self, name: &str, default: Networks) -> Result<Networks, ConfigError> {
        match self.raw(name) {
            None => Ok(default),
            Some(v) => Networks::parse(&v).map_err(|e| ConfigError::new(name, &v, e)),
        }
    }

    /// A comma-separated list of browser origins, each `http(s)://host[:port]` without
    /// credentials, path, query or fragment, normalized as browsers send them (lower case,
    /// default port dropped); empty when unset. `*` is refused: these lists guard requests
    /// that carry credentials.
    pub fn origins(&self, name: &str) -> Result<Vec<String>, ConfigError> {
        self.list(name)
            .into_iter()
            .map(|item| {
                let bad = |why: &str| ConfigError::new(name, &item, format!("{why}; expected origins like https://cams.example.com or http://host:8000, comma separated"));
                if item == "*" {
                    return Err(bad("`*` is refused: requests carry credentials, list each origin"));
                }
                let url = url::Url::parse(&item).map_err(|e| bad(&format!("not an absolute URL ({e})")))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(bad("the scheme must be http or https"));
                }
                if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
                    return Err(bad("an origin needs a host and has no credentials"));
                }
                if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
                    return Err(bad("an origin has no path, query or fragment"));
                }
                Ok(url.origin().ascii_serialization())
            })
            .collect()
    }

    /// A comma-separated list; empty when unset.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.raw(name)
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

/// `REDIS_URL`, the key prefix and the `REDIS_TLS_*` material, as every Redis-backed
/// service reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    pub url: String,
    pub prefix: String,
    /// Certificates from the `REDIS_TLS_*` files; `None` when none is set (a `rediss://`
    /// URL then trusts the system roots).
    pub tls: Option<RedisTls>,
}

impl RedisConfig {
    pub fn from_reader(r: &Reader<'_>) -> Result<Self, ConfigError> {
        let url = r.string("REDIS_URL", "redis://127.0.0.1:6379");
        if !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("unix://")) {
            return Err(ConfigError::new("REDIS_URL", &url, "must start with redis://, rediss:// or unix://"));
        }
        redis_client::check_url(&url).map_err(|reason| ConfigError::new("REDIS_URL", &url, reason))?;
        let prefix = r.string("REDIS_KEY_PREFIX", camview_proto::keys::DEFAULT_PREFIX);
        let tls = RedisTls::from_reader(r, &url)?;
        Ok(Self { url, prefix, tls })
    }

    /// A client for this configuration (see [`redis_client::client`]).
    pub fn client(&self) -> Result<redis::Client, redis::RedisError> {
        redis_client::client(&self.url, self.tls.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_number_names_the_variable() {
        let src = [("API_SERVER_PORT", "eighty")];
        let err = Reader::new(&src).parse::<u16>("API_SERVER_PORT", 8080).unwrap_err();
        assert_eq!(err.name, "API_SERVER_PORT");
        assert!(err.to_string().contains("API_SERVER_PORT"), "{err}");
    }

    #[test]
    fn unset_and_empty_values_take_the_default() {
        let src = [("A", "  ")];
        let r = Reader::new(&src);
        assert_eq!(r.parse::<u16>("A", 7).unwrap(), 7);
        assert_eq!(r.parse::<u16>("B", 8).unwrap(), 8);
    }

    #[test]
    fn ranged_values_outside_the_range_are_rejected() {
        let src = [("MAX_VIEWERS_PER_STREAM", "0")];
        let err = Reader::new(&src).ranged::<u32>("MAX_VIEWERS_PER_STREAM", 10, 1, 10_000).unwrap_err();
        assert!(err.reason.contains("between 1 and 10000"), "{err}");
    }

    #[test]
    fn booleans_and_lists_parse() {
        let src = [("X", "yes"), ("Y", "maybe"), ("L", "stun:a:3478, stun:b:3478,")];
        let r = Reader::new(&src);
        assert!(r.bool("X", false).unwrap());
        assert_eq!(r.bool("Y", false).unwrap_err().name, "Y");
        assert_eq!(r.list("L"), ["stun:a:3478", "stun:b:3478"]);
    }

    #[test]
    fn redis_url_must_be_a_redis_url() {
        let src = [("REDIS_URL", "http://x")];
        assert_eq!(RedisConfig::from_reader(&Reader::new(&src)).unwrap_err().name, "REDIS_URL");
        let ok = RedisConfig::from_reader(&Reader::new(&[("REDIS_KEY_PREFIX", "t:")])).unwrap();
        assert_eq!(ok, RedisConfig { url: "redis://127.0.0.1:6379".into(), prefix: "t:".into(), tls: None });
    }

    #[test]
    fn origins_are_normalized_and_anything_but_a_bare_http_origin_names_the_variable() {
        let src = [("O", "https://Cams.Example, http://localhost:3000/, https://x.example:443")];
        assert_eq!(
            Reader::new(&src).origins("O").unwrap(),
            ["https://cams.example", "http://localhost:3000", "https://x.example"]
        );
        assert!(Reader::new(&[("O", "")]).origins("O").unwrap().is_empty());
        for bad in [
            "*",
            "https://a.example,*",
            "a.example",
            "ftp://a.example",
            "https://a.example/path",
            "https://u:p@a.example",
            "https://a.example/?q",
            "null",
            "ws://a.example",
        ] {
            let err = Reader::new(&[("O", bad)]).origins("O").unwrap_err();
            assert_eq!(err.name, "O", "{bad}");
        }
    }

    #[test]
    fn networks_default_when_unset_and_name_the_variable_when_bad() {
        let lan = Networks::loopback_and_private();
        assert_eq!(Reader::new(&[("N", "")]).networks("N", lan.clone()).unwrap(), lan);
        assert!(Reader::new(&[("N", "none")]).networks("N", lan.clone()).unwrap().is_empty());
        assert_eq!(Reader::new(&[("N", "10.0.0.0/33")]).networks("N", lan).unwrap_err().name, "N");
    }
}
