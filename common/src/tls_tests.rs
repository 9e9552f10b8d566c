use std::collections::HashMap;

use super::*;
use crate::testing::tls_ca::{replace, TestCa};

struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("camview-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        Self(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn read(vars: &[(&str, &Path)]) -> Result<Option<TlsSettings>, ConfigError> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), v.display().to_string())).collect();
    TlsSettings::from_reader(&Reader::new(&map))
}

fn leaf_der(key: &CertifiedKey) -> Vec<u8> {
    key.end_entity_cert().expect("a leaf").to_vec()
}

#[test]
fn neither_variable_means_no_tls() {
    assert_eq!(read(&[]).unwrap(), None);
}

#[test]
fn one_variable_without_the_other_names_the_missing_one() {
    let dir = Dir::new();
    let (cert, key) = TestCa::new("ca").server("one").write_to(&dir.0);
    assert_eq!(read(&[("TLS_CERT_FILE", &cert)]).unwrap_err().name, "TLS_KEY_FILE");
    assert_eq!(read(&[("TLS_KEY_FILE", &key)]).unwrap_err().name, "TLS_CERT_FILE");
}

#[test]
fn a_good_pair_is_read_at_start() {
    let dir = Dir::new();
    let leaf = TestCa::new("ca").server("one");
    let (cert, key) = leaf.write_to(&dir.0);
    let s = read(&[("TLS_CERT_FILE", &cert), ("TLS_KEY_FILE", &key)]).unwrap().expect("TLS on");
    assert_eq!(s.cert_file, cert);
    let loaded = s.load().unwrap();
    assert_eq!(leaf_der(&loaded), leaf.cert_der);
    assert_eq!(loaded.cert.len(), 2, "the chain keeps the CA after the leaf");
    s.server_config().expect("a server config");
}

#[test]
fn each_bad_file_is_reported_under_its_own_variable() {
    let dir = Dir::new();
    let ca = TestCa::new("ca");
    let (cert, key) = ca.server("one").write_to(&dir.0);
    let other_key = dir.0.join("other-key.pem");
    replace(&other_key, ca.server("two").key_pem.as_bytes());
    let garbage = dir.0.join("garbage.pem");
    replace(&garbage, b"not a pem file\n");
    let missing = dir.0.join("missing.pem");
    for (c, k, var) in [
        (&missing, &key, "TLS_CERT_FILE"),
        (&cert, &missing, "TLS_KEY_FILE"),
        (&garbage, &key, "TLS_CERT_FILE"),
        (&key, &key, "TLS_CERT_FILE"),
        (&cert, &garbage, "TLS_KEY_FILE"),
        (&cert, &cert, "TLS_KEY_FILE"),
        (&cert, &other_key, "TLS_KEY_FILE"),
    ] {
        let err = read(&[("TLS_CERT_FILE", c), ("TLS_KEY_FILE", k)]).unwrap_err();
        assert_eq!(err.name, var, "{} + {}: {err}", c.display(), k.display());
        assert!(err.to_string().contains(var), "{err}");
    }
}

#[test]
fn the_legacy_use_ssl_variables_map_onto_the_same_files() {
    let dir = Dir::new();
    let (cert, key) = TestCa::new("ca").server("one").write_to(&dir.0);
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    let legacy = |vars: &[(&str, &str)]| {
        let map: HashMap<String, String> = vars.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect();
        TlsSettings::from_reader_or_legacy(&Reader::new(&map), "API_USE_SSL")
    };
    let s = legacy(&[("API_USE_SSL", "true"), ("SSL_CERT", &c), ("SSL_KEY", &k)]).unwrap().expect("TLS on");
    assert_eq!((s.cert_file.clone(), s.key_file.clone()), (cert.clone(), key.clone()));
    assert_eq!(legacy(&[("API_USE_SSL", "true")]).unwrap_err().name, "API_USE_SSL");
    assert_eq!(legacy(&[("API_USE_SSL", "true"), ("SSL_CERT", &c)]).unwrap_err().name, "SSL_KEY");
    assert_eq!(legacy(&[("API_USE_SSL", "false"), ("SSL_CERT", &c), ("SSL_KEY", &k)]).unwrap(), None);
    let modern = legacy(&[("TLS_CERT_FILE", &c), ("TLS_KEY_FILE", &k)]).unwrap().expect("TLS on");
    assert_eq!(modern.cert_var, "TLS_CERT_FILE");
}

#[test]
fn a_replaced_pair_is_served_after_the_check_interval_and_a_bad_one_keeps_the_old() {
    let dir = Dir::new();
    let ca = TestCa::new("ca");
    let first = ca.server("first");
    let (cert, key) = first.write_to(&dir.0);
    let mut s = read(&[("TLS_CERT_FILE", &cert), ("TLS_KEY_FILE", &key)]).unwrap().expect("TLS on");
    s.reload_check = Duration::from_secs(5);
    let reloading = ReloadingCert::new(s).unwrap();
    let t0 = Instant::now();
    assert_eq!(leaf_der(&reloading.current_at(t0)), first.cert_der);

    let second = ca.server("second");
    second.write_to(&dir.0);
    assert_eq!(
        leaf_der(&reloading.current_at(t0 + Duration::from_secs(1))),
        first.cert_der,
        "not looked at before the interval"
    );
    assert_eq!(leaf_der(&reloading.current_at(t0 + Duration::from_secs(6))), second.cert_der, "reloaded after it");

    // Half a renewal (a new certificate, the old key) does not load: the last good pair stays.
    let third = ca.server("third");
    replace(&cert, third.cert_pem.as_bytes());
    assert_eq!(leaf_der(&reloading.current_at(t0 + Duration::from_secs(12))), second.cert_der);
    // ... until the key follows.
    replace(&key, third.key_pem.as_bytes());
    assert_eq!(leaf_der(&reloading.current_at(t0 + Duration::from_secs(18))), third.cert_der);

    // Garbage keeps the last good one too.
    replace(&cert, b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n");
    assert_eq!(leaf_der(&reloading.current_at(t0 + Duration::from_secs(24))), third.cert_der);
}
