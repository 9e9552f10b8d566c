//! How camview opens Redis: the one place a [`redis::Client`] is built, in plain text for
//! `redis://` and `unix://`, over rustls for `rediss://`, and the TLS material that needs.
//!
//! Invariants: TLS material is read from its files and checked (PEM parses, a client key
//! belongs to its certificate) once at start, by [`RedisTls::from_reader`], so a bad file
//! stops the service naming its variable rather than surfacing as "Redis unreachable".
//! `REDIS_TLS_CA_FILE` replaces the system roots (what redis-rs does with a root
//! certificate): a private CA then vouches for the server, and nothing else does.

use std::sync::Arc;

use redis::{Client, ClientTlsConfig, IntoConnectionInfo, RedisError, TlsCertificates};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::{ConfigError, Reader};

pub const TLS_CA_FILE: &str = "REDIS_TLS_CA_FILE";
pub const TLS_CERT_FILE: &str = "REDIS_TLS_CERT_FILE";
pub const TLS_KEY_FILE: &str = "REDIS_TLS_KEY_FILE";

/// TLS material for `rediss://` beyond the system roots, loaded once at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisTls {
    /// PEM CA certificates trusted for the server instead of the system roots.
    pub ca_pem: Option<Vec<u8>>,
    /// A client certificate for servers that require one (mutual TLS).
    pub client: Option<ClientIdentity>,
}

/// A PEM certificate chain and its PEM private key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("cert_pem", &format!("{} bytes", self.cert_pem.len()))
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

impl RedisTls {
    /// Reads `REDIS_TLS_CA_FILE`, `REDIS_TLS_CERT_FILE` and `REDIS_TLS_KEY_FILE`; `None`
    /// when none is set. Any of them with a `url` that is not `rediss://` is an error, as
    /// is a certificate without its key or the other way round.
    pub fn from_reader(r: &Reader<'_>, url: &str) -> Result<Option<Self>, ConfigError> {
        let (ca, cert, key) = (r.raw(TLS_CA_FILE), r.raw(TLS_CERT_FILE), r.raw(TLS_KEY_FILE));
        let set = [(TLS_CA_FILE, &ca), (TLS_CERT_FILE, &cert), (TLS_KEY_FILE, &key)];
        let Some((name, path)) = set.iter().find_map(|(name, v)| v.as_ref().map(|p| (*name, p))) else {
            return Ok(None);
        };
        if !url.starts_with("rediss://") {
            return Err(ConfigError::new(
                name,
                path,
                format!("TLS settings need a rediss:// REDIS_URL, not {}", scheme(url)),
            ));
        }
        let ca_pem = ca.map(|path| read_ca(&path)).transpose()?;
        let client = match (cert, key) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new(TLS_KEY_FILE, "", format!("must be set when {TLS_CERT_FILE} is")))
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(TLS_CERT_FILE, "", format!("must be set when {TLS_KEY_FILE} is")))
            }
            (Some(cert), Some(key)) => Some(read_identity(&cert, &key)?),
        };
        Ok(Some(Self { ca_pem, client }))
    }

    fn certificates(&self) -> TlsCertificates {
        TlsCertificates {
            client_tls: self
                .client
                .as_ref()
                .map(|c| ClientTlsConfig { client_cert: c.cert_pem.clone(), client_key: c.key_pem.clone() }),
            root_cert: self.ca_pem.clone(),
        }
    }
}

/// A client for `url`, with `tls` material when given (which needs a `rediss://` URL).
/// Connecting is left to the caller; this only parses.
pub fn client(url: &str, tls: Option<&RedisTls>) -> Result<Client, RedisError> {
    if url.starts_with("rediss://") {
        install_crypto_provider();
    }
    match tls {
        None => Client::open(url),
        Some(tls) => Client::build_with_tls(url, tls.certificates()),
    }
}

/// Checks that redis-rs can parse `url`, without connecting.
pub fn check_url(url: &str) -> Result<(), String> {
    url.into_connection_info().map(drop).map_err(|e| e.to_string())
}

/// Whether a Redis error's text is rustls refusing the connection: a certificate that does
/// not verify, an alert from the server (such as a missing client certificate), or a peer
/// that answers with something other than TLS. Retrying does not fix these. (A plain-text
/// redis-server just waits, so a `rediss://` URL for one ends as a timeout instead.) The bus and registry keep errors
/// as text, so this matches rustls's own messages.
pub fn is_tls_failure(error: &str) -> bool {
    const RUSTLS_MESSAGES: [&str; 7] = [
        "invalid peer certificate",
        "received fatal alert",
        "peer sent no certificates",
        "peer is incompatible",
        "peer misbehaved",
        "received corrupt message",
        "presented server name type",
    ];
    RUSTLS_MESSAGES.iter().any(|m| error.contains(m))
}

/// rustls needs a process-wide crypto provider when redis-rs builds its config; several
/// may be compiled in (reqwest, str0m), so pick one rather than let rustls panic.
fn install_crypto_provider() {
    if CryptoProvider::get_default().is_none() {
        // Err means another thread installed one first: that one is as good.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

fn scheme(url: &str) -> &str {
    url.split_once("://").map_or(url, |(scheme, _)| scheme)
}

fn read(name: &str, path: &str) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| ConfigError::new(name, path, format!("cannot read the file: {e}")))
}

/// PEM certificates in `pem`; at least one, all well-formed.
fn certificates(name: &str, path: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::new(name, path, format!("not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(ConfigError::new(name, path, "no PEM CERTIFICATE in the file"));
    }
    Ok(certs)
}

fn read_ca(path: &str) -> Result<Vec<u8>, ConfigError> {
    let pem = read(TLS_CA_FILE, path)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(TLS_CA_FILE, path, &pem)? {
        roots
            .add(cert)
            .map_err(|e| ConfigError::new(TLS_CA_FILE, path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(pem)
}

fn read_identity(cert_path: &str, key_path: &str) -> Result<ClientIdentity, ConfigError> {
    let cert_pem = read(TLS_CERT_FILE, cert_path)?;
    let chain = certificates(TLS_CERT_FILE, cert_path, &cert_pem)?;
    let key_pem = read(TLS_KEY_FILE, key_path)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| ConfigError::new(TLS_KEY_FILE, key_path, format!("no usable PEM private key: {e}")))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::sign::CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
        ConfigError::new(TLS_KEY_FILE, key_path, format!("does not go with the certificate in {TLS_CERT_FILE}: {e}"))
    })?;
    Ok(ClientIdentity { cert_pem, key_pem })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use base64::Engine;

    use super::*;
    use crate::config::RedisConfig;

    const TLS_URL: &str = "rediss://redis.example:6380/";

    /// A directory of test files, removed on drop.
    struct Dir(PathBuf);

    impl Dir {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("camview-tls-config-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).expect("create a test directory");
            Self(dir)
        }

        fn write(&self, name: &str, contents: &str) -> String {
            let path = self.0.join(name);
            std::fs::write(&path, contents).expect("write a test file");
            path.display().to_string()
        }

        fn missing(&self, name: &str) -> String {
            self.0.join(name).display().to_string()
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn pem(label: &str, der: &[u8]) -> String {
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----\n")
    }

    /// A self-signed certificate and its key, as PEM.
    fn cert_and_key() -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("a key");
        let cert = rcgen::CertificateParams::new(vec!["camview-test".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("a certificate");
        (pem("CERTIFICATE", cert.der()), pem("PRIVATE KEY", &key.serialize_der()))
    }

    fn read(vars: &[(&str, &str)]) -> Result<RedisConfig, ConfigError> {
        let env: std::collections::HashMap<String, String> =
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        RedisConfig::from_reader(&Reader::new(&env))
    }

    fn error_naming(vars: &[(&str, &str)], name: &str) -> ConfigError {
        let err = read(vars).expect_err("the configuration must be refused");
        assert_eq!(err.name, name, "{err}");
        assert!(err.to_string().contains(name), "{err}");
        err
    }

    #[test]
    fn ca_cert_and_key_files_are_loaded_into_the_config_and_make_a_client() {
        let dir = Dir::new();
        let (ca, _) = cert_and_key();
        let (cert, key) = cert_and_key();
        let vars = [
            ("REDIS_URL", TLS_URL),
            (TLS_CA_FILE, &dir.write("ca.pem", &ca)),
            (TLS_CERT_FILE, &dir.write("client.pem", &cert)),
            (TLS_KEY_FILE, &dir.write("client.key", &key)),
        ];
        let config = read(&vars).unwrap();
        drop(dir); // loaded once: the files are not needed any more
        let tls = config.tls.as_ref().expect("TLS material");
        assert_eq!(tls.ca_pem.as_deref(), Some(ca.as_bytes()));
        assert_eq!(tls.client, Some(ClientIdentity { cert_pem: cert.into_bytes(), key_pem: key.into_bytes() }));
        config.client().expect("a TLS client");
    }

    #[test]
    fn a_rediss_url_without_tls_files_has_no_tls_material() {
        assert_eq!(read(&[("REDIS_URL", TLS_URL)]).unwrap().tls, None);
    }

    #[test]
    fn tls_files_with_a_plain_redis_url_are_refused_naming_the_tls_variable() {
        let err = error_naming(&[("REDIS_URL", "redis://r:6379"), (TLS_CA_FILE, "/etc/ssl/ca.pem")], TLS_CA_FILE);
        assert!(err.reason.contains("rediss://"), "{err}");
        error_naming(
            &[("REDIS_URL", "unix:///run/redis.sock"), (TLS_CERT_FILE, "/c.pem"), (TLS_KEY_FILE, "/k.pem")],
            TLS_CERT_FILE,
        );
        error_naming(&[(TLS_KEY_FILE, "/k.pem")], TLS_KEY_FILE); // the default URL is redis://
    }

    #[test]
    fn a_missing_ca_file_is_refused_naming_redis_tls_ca_file() {
        let dir = Dir::new();
        let err = error_naming(&[("REDIS_URL", TLS_URL), (TLS_CA_FILE, &dir.missing("nope.pem"))], TLS_CA_FILE);
        assert!(err.reason.contains("cannot read"), "{err}");
    }

    #[test]
    fn a_ca_file_without_pem_certificates_is_refused_naming_redis_tls_ca_file() {
        let dir = Dir::new();
        let err = error_naming(
            &[("REDIS_URL", TLS_URL), (TLS_CA_FILE, &dir.write("ca.pem", "not a certificate\n"))],
            TLS_CA_FILE,
        );
        assert!(err.reason.contains("no PEM CERTIFICATE"), "{err}");
        let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        error_naming(&[("REDIS_URL", TLS_URL), (TLS_CA_FILE, &dir.write("broken.pem", broken))], TLS_CA_FILE);
    }

    #[test]
    fn a_client_certificate_without_its_key_is_refused_naming_redis_tls_key_file() {
        let dir = Dir::new();
        let (cert, key) = cert_and_key();
        error_naming(&[("REDIS_URL", TLS_URL), (TLS_CERT_FILE, &dir.write("c.pem", &cert))], TLS_KEY_FILE);
        error_naming(&[("REDIS_URL", TLS_URL), (TLS_KEY_FILE, &dir.write("k.pem", &key))], TLS_CERT_FILE);
    }

    #[test]
    fn a_missing_client_certificate_file_is_refused_naming_redis_tls_cert_file() {
        let dir = Dir::new();
        let (_, key) = cert_and_key();
        error_naming(
            &[
                ("REDIS_URL", TLS_URL),
                (TLS_CERT_FILE, &dir.missing("c.pem")),
                (TLS_KEY_FILE, &dir.write("k.pem", &key)),
            ],
            TLS_CERT_FILE,
        );
    }

    #[test]
    fn a_key_file_without_a_pem_key_is_refused_naming_redis_tls_key_file() {
        let dir = Dir::new();
        let (cert, _) = cert_and_key();
        let vars = [
            ("REDIS_URL", TLS_URL),
            (TLS_CERT_FILE, &dir.write("c.pem", &cert)),
            (TLS_KEY_FILE, &dir.write("k.pem", &cert)),
        ];
        error_naming(&vars, TLS_KEY_FILE);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_naming_redis_tls_key_file() {
        let dir = Dir::new();
        let (cert, _) = cert_and_key();
        let (_, other_key) = cert_and_key();
        let vars = [
            ("REDIS_URL", TLS_URL),
            (TLS_CERT_FILE, &dir.write("c.pem", &cert)),
            (TLS_KEY_FILE, &dir.write("k.pem", &other_key)),
        ];
        let err = error_naming(&vars, TLS_KEY_FILE);
        assert!(err.reason.contains(TLS_CERT_FILE), "{err}");
    }

    #[test]
    fn a_redis_url_redis_cannot_parse_is_refused_naming_redis_url() {
        error_naming(&[("REDIS_URL", "redis://host:notaport/")], "REDIS_URL");
    }

    #[test]
    fn rustls_refusals_count_as_tls_failures_and_connection_errors_do_not() {
        assert!(is_tls_failure("the bus is unavailable: invalid peer certificate: UnknownIssuer"));
        assert!(is_tls_failure("the bus is unavailable: received fatal alert: CertificateRequired"));
        assert!(!is_tls_failure("the bus is unavailable: Connection refused (os error 111)"));
    }
}
