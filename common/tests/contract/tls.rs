//! Redis over TLS with real parts: a TLS-only redis-server whose certificates rcgen makes
//! here, and clients configured the way services are (`REDIS_URL`, `REDIS_TLS_*`, through
//! `Backend::connect`).

use camview_proto::{CameraId, ViewerId};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine;
use camview_common::bus::envelope;
use camview_common::config::{Reader, RedisConfig};
use camview_common::redis_client::RedisTls;
use camview_common::testing::{random_prefix, RedisServer, TlsMode};
use camview_common::{Backend, BackendError, DEFAULT_REDIS_CONNECT_TIMEOUT};
use camview_proto::bus::{Message, StreamEnded};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use crate::registry::stream;

/// Long enough for a TLS handshake on a loaded box, and well under the services' default
/// connect timeout: a refused handshake must not be retried until that runs out.
const CONNECT_DEADLINE: Duration = Duration::from_secs(15);
const EVENTUALLY: Duration = Duration::from_secs(5);

/// A certificate authority that exists only for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A PEM certificate and its PEM private key.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().expect("a CA key");
        Self { issuer: CertifiedIssuer::self_signed(params, key).expect("a self-signed CA") }
    }

    pub fn cert_pem(&self) -> String {
        pem("CERTIFICATE", self.issuer.der())
    }

    /// A server certificate for `127.0.0.1`, what [`RedisServer::url`] connects to.
    pub fn server(&self) -> Leaf {
        self.leaf(vec!["127.0.0.1".into(), "localhost".into()], "redis-server", ExtendedKeyUsagePurpose::ServerAuth)
    }

    pub fn client(&self) -> Leaf {
        self.leaf(Vec::new(), "camview-test-client", ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn leaf(&self, names: Vec<String>, common_name: &str, purpose: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params = CertificateParams::new(names).expect("leaf parameters");
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![purpose];
        let key = KeyPair::generate().expect("a leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("a signed leaf");
        Leaf { cert_pem: pem("CERTIFICATE", cert.der()), key_pem: pem("PRIVATE KEY", &key.serialize_der()) }
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> =
        body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).expect("base64 is ASCII")).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// A directory of PEM files, removed on drop.
pub struct Files {
    dir: PathBuf,
}

impl Files {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("camview-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("create a directory for PEM files");
        Self { dir }
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, contents).expect("write a PEM file");
        path
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts a TLS-only server presenting a certificate from `server_ca` and checking client
/// certificates against `client_ca` when `auth_clients`.
fn tls_server(files: &Files, server_ca: &TestCa, client_ca: &TestCa, auth_clients: bool) -> RedisServer {
    let leaf = server_ca.server();
    RedisServer::start_tls(TlsMode {
        cert_file: files.write("server.pem", &leaf.cert_pem),
        key_file: files.write("server.key", &leaf.key_pem),
        ca_file: files.write("clients-ca.pem", &client_ca.cert_pem()),
        auth_clients,
    })
}

/// The configuration a service would read from these variables.
fn config(vars: &[(&str, &Path)], url: &str) -> RedisConfig {
    let mut env: HashMap<String, String> =
        vars.iter().map(|(k, v)| ((*k).to_owned(), v.display().to_string())).collect();
    env.insert("REDIS_URL".into(), url.into());
    env.insert("REDIS_KEY_PREFIX".into(), random_prefix());
    RedisConfig::from_reader(&Reader::new(&env)).expect("a valid Redis configuration")
}

/// Connects as a service does, with its default connect timeout.
async fn connect(config: &RedisConfig) -> Result<Backend, BackendError> {
    assert!(CONNECT_DEADLINE < DEFAULT_REDIS_CONNECT_TIMEOUT);
    tokio::time::timeout(CONNECT_DEADLINE, Backend::connect(Some(config), DEFAULT_REDIS_CONNECT_TIMEOUT))
        .await
        .expect("a refused TLS handshake fails at once instead of being retried")
}

/// A stream round-trips through the registry and an envelope through the bus.
async fn assert_round_trips(backend: &Backend) {
    backend.registry.put_stream(&stream("cam-tls")).await.expect("put over TLS");
    assert_eq!(
        backend.registry.get_stream(&CameraId::from_static("cam-tls")).await.expect("get over TLS"),
        Some(stream("cam-tls"))
    );
    let mut sub = backend.bus.subscribe("sig-tls").await.expect("subscribe over TLS");
    let sent = envelope(
        Message::StreamEnded(StreamEnded {
            viewer_id: ViewerId::from_static("v1"),
            camera_id: CameraId::from_static("cam-tls"),
        }),
        None,
        None,
    );
    backend.bus.publish("sig-tls", &sent).await.expect("publish over TLS");
    let got =
        tokio::time::timeout(EVENTUALLY, sub.recv()).await.expect("the envelope in time").expect("subscription open");
    assert_eq!(got, sent);
}

fn assert_tls_failure_mentioning(err: &BackendError, cause: &str) {
    let text = err.to_string();
    assert!(matches!(err, BackendError::Tls { .. }), "a TLS failure, not {text}");
    assert!(
        text.contains("TLS") && text.contains(cause),
        "the error should say TLS failed because of {cause:?}: {text}"
    );
}

/// The TLS-only server the contract suite's `redis_tls` cases share, and the trust that
/// reaches it.
pub struct SharedTlsServer {
    pub server: RedisServer,
    pub trust: RedisTls,
    _files: Files,
}

impl SharedTlsServer {
    pub fn get() -> &'static Self {
        static SHARED: OnceLock<SharedTlsServer> = OnceLock::new();
        SHARED.get_or_init(|| {
            let files = Files::new();
            let ca = TestCa::new("camview contract CA");
            let server = tls_server(&files, &ca, &ca, false);
            let trust = RedisTls { ca_pem: Some(ca.cert_pem().into_bytes()), client: None };
            Self { server, trust, _files: files }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_and_registry_work_over_rediss_trusting_the_ca_in_redis_tls_ca_file() {
    let files = Files::new();
    let ca = TestCa::new("camview test CA");
    let server = tls_server(&files, &ca, &ca, false);
    let ca_file = files.write("ca.pem", &ca.cert_pem());

    let backend = connect(&config(&[("REDIS_TLS_CA_FILE", &ca_file)], &server.url())).await.expect("connect over TLS");

    assert_round_trips(&backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_from_another_ca_is_refused_at_once_with_a_tls_error_naming_the_certificate() {
    let files = Files::new();
    let (trusted, rogue) = (TestCa::new("camview trusted CA"), TestCa::new("someone else's CA"));
    let server = tls_server(&files, &rogue, &rogue, false);
    let ca_file = files.write("ca.pem", &trusted.cert_pem());

    let err = connect(&config(&[("REDIS_TLS_CA_FILE", &ca_file)], &server.url()))
        .await
        .err()
        .expect("the server must be refused");

    assert_tls_failure_mentioning(&err, "invalid peer certificate: UnknownIssuer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_tls_ca_file_only_the_system_roots_are_trusted() {
    let files = Files::new();
    let ca = TestCa::new("camview private CA");
    let server = tls_server(&files, &ca, &ca, false);

    let err = connect(&config(&[], &server.url())).await.err().expect("a private CA is not a system root");

    assert_tls_failure_mentioning(&err, "invalid peer certificate: UnknownIssuer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_requires_client_certificates_refuses_a_client_without_one_with_a_tls_error() {
    let files = Files::new();
    let ca = TestCa::new("camview mTLS CA");
    let server = tls_server(&files, &ca, &ca, true);
    let ca_file = files.write("ca.pem", &ca.cert_pem());

    let err = connect(&config(&[("REDIS_TLS_CA_FILE", &ca_file)], &server.url()))
        .await
        .err()
        .expect("no client certificate, no entry");

    assert_tls_failure_mentioning(&err, "CertificateRequired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_from_redis_tls_cert_and_key_file_is_let_in_by_a_server_that_requires_one() {
    let files = Files::new();
    let ca = TestCa::new("camview mTLS CA");
    let server = tls_server(&files, &ca, &ca, true);
    let client = ca.client();
    let vars = [
        ("REDIS_TLS_CA_FILE", files.write("ca.pem", &ca.cert_pem())),
        ("REDIS_TLS_CERT_FILE", files.write("client.pem", &client.cert_pem)),
        ("REDIS_TLS_KEY_FILE", files.write("client.key", &client.key_pem)),
    ];
    let vars: Vec<(&str, &Path)> = vars.iter().map(|(k, v)| (*k, v.as_path())).collect();

    let backend = connect(&config(&vars, &server.url())).await.expect("connect with a client certificate");

    assert_round_trips(&backend).await;
}
