//! TLS without a proxy: `TLS_CERT_FILE` + `TLS_KEY_FILE` (PEM), read and checked at start, served
//! through a rustls [`ServerConfig`] whose certificate follows the files when they change.
//!
//! Invariants:
//! - both variables or neither; every error names the variable whose file is at fault;
//! - the files are parsed at start ([`TlsSettings::from_reader`] fails on a bad chain, a bad key
//!   or a key that does not match the certificate), so a service never starts with TLS it cannot serve;
//! - the files are looked at again (modification time and size) at most every
//!   [`TlsSettings::reload_check`], on a handshake; a changed pair that loads replaces the
//!   certificate for the next handshakes, a pair that does not load is logged once and the last
//!   good certificate stays.
//!
//! The legacy variables of the original system (`API_USE_SSL` / `SIGNALING_USE_SSL` with
//! `SSL_CERT` and `SSL_KEY`) map onto the same: see [`TlsSettings::from_reader_or_legacy`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

use crate::config::{ConfigError, Reader};

/// How often, at most, the files are looked at for a change.
pub const DEFAULT_RELOAD_CHECK: Duration = Duration::from_secs(2);

/// Where the certificate chain and its key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first (`TLS_CERT_FILE`).
    pub cert_file: PathBuf,
    /// PEM private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) (`TLS_KEY_FILE`).
    pub key_file: PathBuf,
    /// Variable names for errors (the legacy ones when read from those).
    pub cert_var: &'static str,
    pub key_var: &'static str,
    /// At most this often the files are checked for a change ([`DEFAULT_RELOAD_CHECK`]).
    pub reload_check: Duration,
}

/// A certificate pair that cannot be used, naming the variable at fault.
#[derive(Debug, thiserror::Error)]
#[error("{var}={}: {reason}", path.display())]
pub struct TlsError {
    pub var: &'static str,
    pub path: PathBuf,
    pub reason: String,
}

impl From<TlsError> for ConfigError {
    fn from(e: TlsError) -> Self {
        ConfigError::new(e.var, &e.path.display().to_string(), e.reason)
    }
}

impl TlsSettings {
    /// `TLS_CERT_FILE` + `TLS_KEY_FILE`, both or neither; the pair is loaded once to check it.
    pub fn from_reader(r: &Reader<'_>) -> Result<Option<Self>, ConfigError> {
        Self::from_vars(r, "TLS_CERT_FILE", "TLS_KEY_FILE")
    }

    /// [`Self::from_reader`], else the original system's `use_ssl_var` (`API_USE_SSL` or
    /// `SIGNALING_USE_SSL`) = true with `SSL_CERT` and `SSL_KEY` (both required then).
    pub fn from_reader_or_legacy(r: &Reader<'_>, use_ssl_var: &str) -> Result<Option<Self>, ConfigError> {
        let legacy = r.bool(use_ssl_var, false)?;
        match Self::from_reader(r)? {
            Some(s) => {
                if legacy {
                    tracing::warn!("{use_ssl_var} is ignored: TLS_CERT_FILE and TLS_KEY_FILE are set");
                }
                Ok(Some(s))
            }
            None if legacy => match Self::from_vars(r, "SSL_CERT", "SSL_KEY")? {
                Some(s) => Ok(Some(s)),
                None => Err(ConfigError::new(
                    use_ssl_var,
                    "true",
                    "needs SSL_CERT and SSL_KEY (or set TLS_CERT_FILE and TLS_KEY_FILE instead)",
                )),
            },
            None => Ok(None),
        }
    }

    fn from_vars(r: &Reader<'_>, cert_var: &'static str, key_var: &'static str) -> Result<Option<Self>, ConfigError> {
        let settings = match (r.raw(cert_var), r.raw(key_var)) {
            (None, None) => return Ok(None),
            (Some(_), None) => {
                return Err(ConfigError::new(key_var, "", format!("must be set when {cert_var} is set")))
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(cert_var, "", format!("must be set when {key_var} is set")))
            }
            (Some(cert), Some(key)) => Self {
                cert_file: PathBuf::from(cert),
                key_file: PathBuf::from(key),
                cert_var,
                key_var,
                reload_check: DEFAULT_RELOAD_CHECK,
            },
        };
        settings.load()?;
        Ok(Some(settings))
    }

    /// Reads and parses both files now.
    pub fn load(&self) -> Result<CertifiedKey, TlsError> {
        let cert_err = |reason: String| TlsError { var: self.cert_var, path: self.cert_file.clone(), reason };
        let key_err = |reason: String| TlsError { var: self.key_var, path: self.key_file.clone(), reason };
        let cert_pem = std::fs::read(&self.cert_file).map_err(|e| cert_err(format!("cannot be read: {e}")))?;
        let key_pem = std::fs::read(&self.key_file).map_err(|e| key_err(format!("cannot be read: {e}")))?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| cert_err(format!("is not a PEM certificate chain: {e}")))?;
        if chain.is_empty() {
            return Err(cert_err("holds no PEM CERTIFICATE".into()));
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| key_err(format!("holds no PEM private key (PKCS#8, RSA or EC): {e}")))?;
        CertifiedKey::from_der(chain, key, &provider())
            .map_err(|e| key_err(format!("does not fit the certificate in {}: {e}", self.cert_file.display())))
    }

    /// A rustls server configuration (TLS 1.2 and 1.3, no client certificates) whose certificate
    /// follows the files. actix-web adds the ALPN protocols itself.
    pub fn server_config(&self) -> Result<ServerConfig, TlsError> {
        let resolver = ReloadingCert::new(self.clone())?;
        let config = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError { var: self.cert_var, path: self.cert_file.clone(), reason: e.to_string() })?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
        Ok(config)
    }
}

fn provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// What identifies a version of the files: modification time and size of each.
type Stamp = Option<((SystemTime, u64, u64), (SystemTime, u64, u64))>;

fn stamp(settings: &TlsSettings) -> Stamp {
    let meta = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len(), std::os::unix::fs::MetadataExt::ino(&m))))
    };
    // The inode too: file times have the kernel's coarse clock (a few ms), so two renames in
    // a row can leave the same time and size; a rename always brings a new inode.
    let (c, k) = (meta(&settings.cert_file)?, meta(&settings.key_file)?);
    Some((c, k))
}

/// The current certificate, re-read when the files change (checked at most every `reload_check`).
#[derive(Debug)]
pub struct ReloadingCert {
    settings: TlsSettings,
    state: Mutex<ReloadState>,
}

#[derive(Debug)]
struct ReloadState {
    current: Arc<CertifiedKey>,
    /// The files' stamp when last tried (loaded or not): a failed version is not retried.
    seen: Stamp,
    checked_at: Instant,
}

impl ReloadingCert {
    /// Loads the files now.
    pub fn new(settings: TlsSettings) -> Result<Self, TlsError> {
        let seen = stamp(&settings);
        let current = Arc::new(settings.load()?);
        Ok(Self { settings, state: Mutex::new(ReloadState { current, seen, checked_at: Instant::now() }) })
    }

    /// The certificate to present now; looks at the files first if `reload_check` has passed.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current_at(Instant::now())
    }

    fn current_at(&self, now: Instant) -> Arc<CertifiedKey> {
        // A poisoned lock only means another handshake panicked mid-check; the state is whole.
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if now.saturating_duration_since(st.checked_at) >= self.settings.reload_check {
            st.checked_at = now;
            let now_stamp = stamp(&self.settings);
            if now_stamp.is_some() && now_stamp != st.seen {
                st.seen = now_stamp;
                match self.settings.load() {
                    Ok(key) => {
                        st.current = Arc::new(key);
                        tracing::info!(cert = %self.settings.cert_file.display(), "TLS certificate reloaded");
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "TLS certificate not reloaded: keeping the previous one")
                    }
                }
            }
        }
        st.current.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
