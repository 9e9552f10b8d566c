//! Test harness: a real `redis-server` on a free loopback port (plain, or TLS-only with
//! certificates the test provides), random key prefixes so tests share one server, and a
//! deadline-polling helper. [`peer`] is a browser-like WebRTC peer (recovering from loss as
//! a browser does with [`watch`]); [`relay`] is a UDP relay that impairs traffic ([`impair`]).
//!
//! The server runs under a small `sh` wrapper that kills it when its stdin closes, so a
//! server held in a `static` (whose `Drop` never runs) still dies with the test binary;
//! the wrapper exits with the server, so a server that could not start is noticed.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use camview_proto::keys::Keys;

pub mod impair;
mod metrics;
pub mod peer;
pub mod relay;
pub mod rtsp;
pub mod tls_ca;
pub mod watch;
pub use metrics::{sample, samples, series, Sample, TestMetrics};

/// Every REST route that needs a login (method, path with sample ids), for the suites that
/// prove a stranger is refused everywhere: the api's attacker suite and the outsider probes
/// against the real binaries. A new protected route belongs here.
pub const PROTECTED_ROUTES: &[(&str, &str)] = &[
    ("POST", "/auth/logout"),
    ("GET", "/auth/me"),
    ("POST", "/auth/refresh"),
    ("GET", "/streams"),
    ("GET", "/streams/cam1"),
    ("GET", "/streams/cam1/snapshot.jpg"),
    ("POST", "/streams/cam1/start"),
    ("POST", "/streams/cam1/stop"),
    ("GET", "/viewers"),
    ("GET", "/viewers/cam1"),
    ("GET", "/nodes"),
    ("GET", "/ice-servers"),
    ("GET", "/users"),
    ("POST", "/users"),
    ("DELETE", "/users/admin"),
    ("PUT", "/users/admin/password"),
    ("PUT", "/users/admin/grants"),
    ("POST", "/cameras/cam1/shares"),
    ("GET", "/cameras/cam1/shares"),
    ("DELETE", "/shares/abc"),
    ("POST", "/cameras/cam1/secret"),
    ("DELETE", "/cameras/cam1/secret"),
    ("POST", "/whep/cam1"),
    ("PATCH", "/whep/cam1/abc"),
    ("DELETE", "/whep/cam1/abc"),
];

/// How long a fresh server may take to answer PING.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// Runs redis-server with the wrapper's arguments and kills it when stdin reaches EOF,
/// i.e. when the harness drops it or the test process exits.
/// (A background job's stdin is /dev/null, hence the copy on fd 3.)
const WRAPPER: &str =
    r#"exec 3<&0; redis-server "$@" & pid=$!; (cat <&3 >/dev/null; kill $pid 2>/dev/null) & wait $pid"#;

/// What redis-server logs once it accepts connections; tells our server from another
/// process that might answer on the same port.
const READY_LINE: &str = "Ready to accept connections";

/// A `redis-server` child process listening on `127.0.0.1:port`.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    tls: Option<TlsMode>,
    /// Append-only file on (fsync always): a restart comes back with the data.
    persistent: bool,
}

/// What a TLS-only server presents and whom it lets in (PEM files).
#[derive(Debug, Clone)]
pub struct TlsMode {
    /// The server's certificate chain; its names must cover `127.0.0.1`.
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The CA client certificates must chain to (redis-server wants one even when it does
    /// not check clients).
    pub ca_file: PathBuf,
    /// Whether a client must present a certificate (`--tls-auth-clients yes`).
    pub auth_clients: bool,
}

impl RedisServer {
    /// Starts a dedicated server (for tests that restart it); panics if it cannot.
    pub fn start() -> Self {
        Self::start_with(None, false)
    }

    /// Starts a dedicated server that keeps its data in an append-only file (fsync on every
    /// write), so [`RedisServer::restart`] brings the data back, as a production Redis does.
    pub fn start_persistent() -> Self {
        Self::start_with(None, true)
    }

    /// Starts a dedicated server that speaks only TLS, as `tls` says; its [`url`] is
    /// `rediss://`. Panics if it cannot.
    ///
    /// [`url`]: RedisServer::url
    pub fn start_tls(tls: TlsMode) -> Self {
        Self::start_with(Some(tls), false)
    }

    fn start_with(tls: Option<TlsMode>, persistent: bool) -> Self {
        require_redis_server();
        let dir = std::env::temp_dir().join(format!("camview-redis-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let mut last_error = String::new();
        // A free port can be taken between probing and binding; try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut server = Self { port, dir: dir.clone(), child: None, tls: tls.clone(), persistent };
            match server.spawn() {
                Ok(()) => return server,
                Err(e) => last_error = e,
            }
        }
        panic!("redis-server did not start: {last_error}");
    }

    /// One server per test binary, started on first use. Give each test its own
    /// [`random_prefix`].
    pub fn shared() -> &'static RedisServer {
        static SHARED: OnceLock<RedisServer> = OnceLock::new();
        SHARED.get_or_init(RedisServer::start)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/`, or `rediss://127.0.0.1:PORT/` in TLS mode.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/", self.port)
    }

    /// Kills the server and starts it again on the same port, so clients must reconnect
    /// (and find their data gone, unless it was started persistent).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().unwrap_or_else(|e| panic!("redis-server did not restart on port {}: {e}", self.port));
    }

    /// Kills the server and waits until it is gone. [`RedisServer::restart`] brings it back.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take()); // the wrapper kills redis-server on EOF
            let _ = child.wait();
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = self.dir.join("redis.log");
        let _ = std::fs::remove_file(&log); // a restart must not read the previous run's log
        let mut command = Command::new("sh");
        command.arg("-c").arg(WRAPPER).arg("redis-wrapper");
        match &self.tls {
            None => command.args(["--port", &self.port.to_string()]),
            Some(tls) => command
                .args(["--port", "0", "--tls-port", &self.port.to_string()])
                .arg("--tls-cert-file")
                .arg(&tls.cert_file)
                .arg("--tls-key-file")
                .arg(&tls.key_file)
                .arg("--tls-ca-cert-file")
                .arg(&tls.ca_file)
                .args(["--tls-auth-clients", if tls.auth_clients { "yes" } else { "no" }]),
        };
        let mut child = command
            .args(["--bind", "127.0.0.1", "--save", ""])
            .args(if self.persistent {
                ["--appendonly", "yes", "--appendfsync", "always"]
            } else {
                ["--appendonly", "no", "--appendfsync", "everysec"]
            })
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn sh: {e}"))?;
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let ready = std::fs::read_to_string(&log).is_ok_and(|l| l.contains(READY_LINE));
            // A TLS port cannot take a plain PING: our own log line and an open port will do.
            let answers = if self.tls.is_some() { accepts_connections(self.port) } else { answers_ping(self.port) };
            if ready && answers {
                self.child = Some(child);
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("exited with {status}; log:\n{log}"));
            }
            if Instant::now() > deadline {
                drop(child.stdin.take());
                let _ = child.wait();
                return Err(format!("no PING answer on port {} within {START_DEADLINE:?}", self.port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh key prefix such as `test-<uuid>:`.
pub fn random_prefix() -> String {
    format!("test-{}:", uuid::Uuid::new_v4())
}

/// [`Keys`] under a fresh [`random_prefix`].
pub fn random_keys() -> Keys {
    Keys::new(random_prefix())
}

/// Polls `check` every 20 ms until it returns true; panics naming `what` after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn require_redis_server() {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join("redis-server").is_file()));
    if !found {
        panic!("redis-server is not on PATH: install it (e.g. `apt-get install redis-server`) to run these tests");
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("bind a loopback port");
    listener.local_addr().expect("local addr of a bound listener").port()
}

fn accepts_connections(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), Duration::from_millis(200)).is_ok()
}

fn answers_ping(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_server_answers_ping_and_is_gone_after_drop() {
        let server = RedisServer::start();
        let port = server.port();
        assert!(answers_ping(port));
        drop(server);
        assert!(!answers_ping(port));
    }

    #[test]
    fn a_restarted_server_answers_on_the_same_port() {
        let mut server = RedisServer::start();
        let port = server.port();
        server.stop();
        assert!(!answers_ping(port));
        server.restart();
        assert_eq!(server.port(), port);
        assert!(answers_ping(port));
    }

    #[test]
    fn random_prefixes_differ() {
        assert_ne!(random_prefix(), random_prefix());
        assert!(random_prefix().starts_with("test-"));
    }
}
