//! Process-level test harness: starts the real built binaries (`camview-api`,
//! `camview-signaling`, `camview-media-controller`, `camview-media-engine`, `camera-sim`) as
//! child processes on one real Redis with a random key prefix, and drives them the way a
//! deployment is driven (HTTP, the signaling WebSocket, RTP).
//!
//! The binaries are found in `CAMVIEW_BIN_DIR` when set (scripts/test sets it), else next to
//! the test executable (`target/<profile>/`); build them first with `cargo build --workspace`.
//!
//! Authentication is always on: the API starts with [`auth::ADMIN_PASSWORD`] as
//! `CAMVIEW_ADMIN_PASSWORD`, the harness logs in as `admin` and sends the token with every API
//! call and in every signaling `join`.
//!
//! Invariants: every child is killed when its [`Stack`] is dropped; a test that panics prints
//! every child's captured output; every wait has a timeout.

mod agreement;
pub mod all_in_one;
pub mod auth;
pub mod impaired;
pub mod scenario;
pub mod snapshot;
mod viewer;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camview_common::testing::{random_prefix, wait_until, RedisServer};

pub use agreement::MediaCounts;
pub use all_in_one::AllInOne;
pub use auth::{cli, login, CliOutput, DataDir, ADMIN_PASSWORD};
pub use impaired::CameraPath;
pub use viewer::{Viewer, ViewerError};

/// How long a service may take to become ready, or a step of a scenario to happen.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The path of a workspace binary, or a panic telling how to build it.
pub fn binary(name: &str) -> PathBuf {
    let dir = match std::env::var_os("CAMVIEW_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            // invariant: test executables live in target/<profile>/deps/
            let exe = std::env::current_exe().expect("the test executable's path");
            let deps = exe.parent().expect("the test executable has a directory");
            deps.parent().expect("target/<profile>/deps has a parent").to_path_buf()
        }
    };
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace` first (or set CAMVIEW_BIN_DIR to the directory holding the camview binaries)",
        path.display()
    );
    path
}

/// A TCP port free on loopback right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// One child process with its output captured line by line (stdout and stderr interleaved).
pub struct Service {
    pub name: &'static str,
    child: Child,
    output: Arc<Mutex<Vec<String>>>,
    /// How it was started, for [`Service::restart`].
    binary_name: String,
    args: Vec<String>,
    env: HashMap<String, String>,
}

impl Service {
    /// Starts `binary` with exactly `env` (plus `PATH`) and `args`.
    pub fn spawn(name: &'static str, binary_name: &str, args: &[&str], env: &HashMap<String, String>) -> Service {
        let mut cmd = Command::new(binary(binary_name));
        cmd.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).envs(env).args(args);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting {binary_name}: {e}"));
        let output = Arc::new(Mutex::new(Vec::new()));
        let pipes: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("piped stdout")),
            Box::new(child.stderr.take().expect("piped stderr")),
        ];
        for pipe in pipes {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    output.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        Service {
            name,
            child,
            output,
            binary_name: binary_name.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: env.clone(),
        }
    }

    /// Stops the process (SIGTERM, then kill) and starts it again the same way; the output of
    /// the first run is kept above a marker line.
    pub async fn restart(&mut self) {
        self.stop(PATIENCE).await;
        self.start_again();
    }

    /// Kills the process with SIGKILL (no clean-up of any kind, as a crash) and starts it
    /// again the same way.
    pub fn kill_and_restart(&mut self) {
        self.kill();
        self.start_again();
    }

    /// Freezes the process with SIGSTOP (as a long GC pause or a stalled VM would).
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused process run again with SIGCONT.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status();
        assert!(status.as_ref().is_ok_and(|s| s.success()), "kill {signal} {}: {status:?}", self.name);
    }

    /// Kills the process with SIGKILL and waits for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn start_again(&mut self) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let fresh = Service::spawn(self.name, &self.binary_name, &args, &self.env);
        let earlier = self.output();
        let old = std::mem::replace(self, fresh);
        drop(old);
        let mut output = self.output.lock().unwrap_or_else(|p| p.into_inner());
        output.insert(0, format!("{earlier}\n----- {} restarted -----", self.name));
    }

    /// The process id of the running process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap_or_else(|p| p.into_inner()).join("\n")
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Asks the process to stop (SIGTERM where available) and waits up to `grace` for it,
    /// then kills it. Returns whether it stopped on its own.
    pub async fn stop(&mut self, grace: Duration) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline {
            if self.exited().is_some() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await; // polling a child's exit status
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Environment overrides for a [`Stack`]: `all` goes to every service, the others to one.
#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    pub all: Vec<(String, String)>,
    pub api: Vec<(String, String)>,
    pub signaling: Vec<(String, String)>,
    pub controller: Vec<(String, String)>,
    pub engine: Vec<(String, String)>,
    /// A Redis of the stack's own with an append-only file, for tests that kill and restart
    /// it ([`Stack::redis`]); otherwise the test binary's shared server.
    pub own_redis: bool,
    /// A second media-controller (`media-controller-standby`), started once the first leads.
    pub standby_controller: bool,
    /// Instead of the one engine, this many media nodes (`media-node-1`...), engines on
    /// 127.0.0.2, 127.0.0.3... heartbeating into the stack's Redis, and controllers placing
    /// streams on them (`MEDIA_NODES=registry`).
    pub media_nodes: u8,
}

impl StackOptions {
    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(k, val)| ((*k).to_owned(), (*val).to_owned())).collect()
    }
    pub fn all(mut self, v: &[(&str, &str)]) -> Self {
        self.all.extend(Self::pairs(v));
        self
    }
    pub fn api(mut self, v: &[(&str, &str)]) -> Self {
        self.api.extend(Self::pairs(v));
        self
    }
    pub fn signaling(mut self, v: &[(&str, &str)]) -> Self {
        self.signaling.extend(Self::pairs(v));
        self
    }
    pub fn controller(mut self, v: &[(&str, &str)]) -> Self {
        self.controller.extend(Self::pairs(v));
        self
    }
    pub fn engine(mut self, v: &[(&str, &str)]) -> Self {
        self.engine.extend(Self::pairs(v));
        self
    }
    pub fn own_redis(mut self) -> Self {
        self.own_redis = true;
        self
    }
    pub fn standby_controller(mut self) -> Self {
        self.standby_controller = true;
        self
    }
    pub fn media_nodes(mut self, n: u8) -> Self {
        self.media_nodes = n;
        self
    }
}

/// A split deployment on loopback: media-engine, media-controller, API and signaling as
/// separate processes sharing one Redis key prefix. Ready when [`Stack::start`] returns.
pub struct Stack {
    pub redis_url: String,
    pub key_prefix: String,
    /// `http://127.0.0.1:<port>` of the API.
    pub api_url: String,
    /// `ws://127.0.0.1:<port>/` of signaling (its `/metrics` and `/healthz` are on the same port).
    pub signaling_ws_url: String,
    /// `http://127.0.0.1:<port>` of signaling.
    pub signaling_url: String,
    /// `http://<METRICS_ADDR>` of the media-controller and of the media-engine.
    pub controller_metrics_url: String,
    pub engine_metrics_url: String,
    /// The engine's Kurento JSON-RPC WebSocket.
    pub kurento_ws_url: String,
    /// A session token of `admin` (logged in with [`ADMIN_PASSWORD`]).
    pub admin_token: String,
    services: Vec<Service>,
    http: reqwest::Client,
    own_redis: Option<RedisServer>,
    standby_env: Option<HashMap<String, String>>,
}

impl Stack {
    /// [`Stack::start_with`] without overrides.
    pub async fn start() -> Stack {
        Stack::start_with(StackOptions::default()).await
    }

    /// Starts engine, controller, API and signaling, waiting for each to be ready: the
    /// engine's WebSocket accepts, the API's `/health` reports its dependencies healthy
    /// (`healthy`), signaling's `/healthz` answers 200.
    pub async fn start_with(options: StackOptions) -> Stack {
        let own_redis = options.own_redis.then(RedisServer::start_persistent);
        let redis_url = own_redis.as_ref().map_or_else(|| RedisServer::shared().url(), RedisServer::url);
        let key_prefix = random_prefix();
        let (api_port, signaling_port, engine_ws_port) = (free_port(), free_port(), free_port());
        let (controller_metrics, engine_metrics) =
            (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
        let kurento_ws_url = format!("ws://127.0.0.1:{engine_ws_port}/kurento");
        let base = |extra: &[(String, String)], own: Vec<(&str, String)>| {
            let mut env: HashMap<String, String> = HashMap::from([("RUST_LOG".to_owned(), "info".to_owned())]);
            env.extend(own.into_iter().map(|(k, v)| (k.to_owned(), v)));
            env.extend(options.all.iter().cloned());
            env.extend(extra.iter().cloned());
            env
        };
        let mut stack = Stack {
            redis_url: redis_url.clone(),
            key_prefix: key_prefix.clone(),
            api_url: format!("http://127.0.0.1:{api_port}"),
            signaling_ws_url: format!("ws://127.0.0.1:{signaling_port}/"),
            signaling_url: format!("http://127.0.0.1:{signaling_port}"),
            controller_metrics_url: format!("http://{controller_metrics}"),
            engine_metrics_url: format!("http://{engine_metrics}"),
            kurento_ws_url: kurento_ws_url.clone(),
            admin_token: String::new(),
            services: Vec::new(),
            own_redis,
            standby_env: None,
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("an HTTP client"),
        };
        let engine_env = base(
            &options.engine,
            vec![
                ("KMS_LISTEN_ADDR", format!("127.0.0.1:{engine_ws_port}")),
                ("EXTERNAL_IP", "127.0.0.1".into()),
                ("ENGINE_RTP_BIND_IP", "127.0.0.1".into()),
                ("ENGINE_WEBRTC_PORT", "0".into()),
                ("ENGINE_WEBRTC_IPS", "127.0.0.1".into()),
                ("METRICS_ADDR", engine_metrics.clone()),
            ],
        );
        let redis_env = |own: Vec<(&'static str, String)>| {
            let mut v = vec![("REDIS_URL", redis_url.clone()), ("REDIS_KEY_PREFIX", key_prefix.clone())];
            v.extend(own);
            v
        };
        if options.media_nodes == 0 {
            stack.services.push(Service::spawn("media-engine", "camview-media-engine", &[], &engine_env));
            stack.wait_for_tcp("media-engine", ("127.0.0.1", engine_ws_port)).await;
        }
        assert!(options.media_nodes <= 4, "at most four media nodes (127.0.0.2-5)");
        for n in 1..=options.media_nodes {
            let (ip, port) = (format!("127.0.0.{}", n + 1), free_port());
            let metrics = format!("{ip}:{}", free_port());
            if n == 1 {
                stack.kurento_ws_url = format!("ws://{ip}:{port}/kurento");
                stack.engine_metrics_url = format!("http://{metrics}");
            }
            let env = base(
                &options.engine,
                redis_env(vec![
                    ("KMS_LISTEN_ADDR", format!("{ip}:{port}")),
                    ("EXTERNAL_IP", ip.clone()),
                    ("ENGINE_RTP_BIND_IP", ip.clone()),
                    ("ENGINE_WEBRTC_PORT", "0".into()),
                    ("ENGINE_WEBRTC_IPS", ip.clone()),
                    ("METRICS_ADDR", metrics),
                    ("NODE_ID", format!("node-{n}")),
                    ("NODE_HEARTBEAT_MS", "200".into()),
                ]),
            );
            let name: &'static str =
                ["media-node-1", "media-node-2", "media-node-3", "media-node-4"][usize::from(n - 1)];
            stack.services.push(Service::spawn(name, "camview-media-engine", &[], &env));
            stack.wait_for_tcp(name, (ip.as_str(), port)).await;
        }
        let mut controller_own = vec![
            ("KURENTO_WS_URL", kurento_ws_url.clone()),
            ("EXTERNAL_IP", "127.0.0.1".into()),
            ("METRICS_ADDR", controller_metrics),
        ];
        if options.media_nodes > 0 {
            controller_own.extend([("MEDIA_NODES", "registry".into()), ("MEDIA_NODES_REFRESH_MS", "200".into())]);
        }
        let controller_env = base(&options.controller, redis_env(controller_own));
        stack.services.push(Service::spawn("media-controller", "camview-media-controller", &[], &controller_env));
        if options.standby_controller {
            // Started once the first one leads (below), so which one leads is known.
            let mut standby_env = controller_env.clone();
            standby_env.insert("METRICS_ADDR".into(), format!("127.0.0.1:{}", free_port()));
            stack.standby_env = Some(standby_env);
        }
        let api_env = base(
            &options.api,
            redis_env(vec![
                ("API_SERVER_HOST", "127.0.0.1".into()),
                ("API_SERVER_PORT", api_port.to_string()),
                ("CAMVIEW_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ]),
        );
        stack.services.push(Service::spawn("api", "camview-api", &[], &api_env));
        let signaling_env = base(
            &options.signaling,
            redis_env(vec![
                ("SIGNALING_SERVER_HOST", "127.0.0.1".into()),
                ("SIGNALING_SERVER_PORT", signaling_port.to_string()),
            ]),
        );
        stack.services.push(Service::spawn("signaling", "camview-signaling", &[], &signaling_env));

        let health = format!("{}/health", stack.api_url);
        stack
            .wait_for_http(
                "api /health reports healthy (the controller's heartbeat and Kurento connection)",
                &health,
                |body| body.contains("\"healthy\""),
            )
            .await;
        let healthz = format!("{}/healthz", stack.signaling_url);
        stack.wait_for_http("signaling /healthz", &healthz, |_| true).await;
        stack.admin_token = stack
            .login("admin", ADMIN_PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("admin login: {e}\n{}", stack.all_output()));
        if let Some(env) = stack.standby_env.take() {
            stack.services.push(Service::spawn("media-controller-standby", "camview-media-controller", &[], &env));
        }
        stack
    }

    /// `POST /auth/login` on the API: the session token, or why not.
    pub async fn login(&self, username: &str, password: &str) -> Result<String, String> {
        login(&self.http, &self.api_url, username, password).await
    }

    /// Stops the service `name` and starts it again with the same settings; for the API,
    /// waits until it reports healthy again.
    pub async fn restart(&mut self, name: &str) {
        self.service(name).restart().await;
        if name == "api" {
            let health = format!("{}/health", self.api_url);
            self.wait_for_http("the restarted api /health reports healthy", &health, |body| {
                body.contains("\"healthy\"")
            })
            .await;
        }
    }

    /// The stack's own Redis (started with [`StackOptions::own_redis`]), to stop and restart.
    pub fn redis(&mut self) -> &mut RedisServer {
        self.own_redis.as_mut().expect("the stack was started with StackOptions::own_redis")
    }

    /// SIGKILLs the service `name` and starts it again; waits until it serves again (the
    /// engine's WebSocket, the api's health, signaling's healthz).
    pub async fn kill_and_restart(&mut self, name: &str) {
        self.service(name).kill_and_restart();
        match name {
            "media-engine" => {
                let addr = addr_of(&self.kurento_ws_url);
                self.wait_for_tcp("the restarted media-engine", ("127.0.0.1", addr.port())).await;
            }
            "api" => {
                let health = format!("{}/health", self.api_url);
                self.wait_for_http("the restarted api /health reports healthy", &health, |body| {
                    body.contains("\"healthy\"")
                })
                .await;
            }
            "signaling" => {
                let healthz = format!("{}/healthz", self.signaling_url);
                self.wait_for_http("the restarted signaling /healthz", &healthz, |_| true).await;
            }
            _ => {}
        }
    }

    /// The running services' names and process ids (the camera's included).
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.services.iter().map(|s| (s.name, s.pid())).collect()
    }

    /// What a `camview user|camera` command needs to work on this stack's Redis store.
    pub fn cli_env(&self) -> HashMap<String, String> {
        HashMap::from([
            ("REDIS_URL".to_owned(), self.redis_url.clone()),
            ("REDIS_KEY_PREFIX".to_owned(), self.key_prefix.clone()),
        ])
    }

    /// An HTTP client for the test's own requests.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The running service called `name` ("api", "signaling", "media-controller", "media-engine", "camera").
    pub fn service(&mut self, name: &str) -> &mut Service {
        self.services.iter_mut().find(|s| s.name == name).unwrap_or_else(|| panic!("no service {name}"))
    }

    /// Captured output of every service, for failure messages.
    pub fn all_output(&self) -> String {
        self.services.iter().map(|s| format!("----- {} -----\n{}\n", s.name, s.output())).collect()
    }

    /// Panics with `what` and every service's output unless `check` holds within [`PATIENCE`].
    async fn wait_for_http(&mut self, what: &str, url: &str, check: impl Fn(&str) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(r) = self.http.get(url).send().await {
                if r.status().is_success() && check(&r.text().await.unwrap_or_default()) {
                    return;
                }
            }
            self.fail_if_exited(what);
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what} ({url})\n{}",
                self.all_output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await; // polling readiness
        }
    }

    async fn wait_for_tcp(&mut self, what: &str, addr: (&str, u16)) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            self.fail_if_exited(what);
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what} to listen on {addr:?}\n{}",
                self.all_output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await; // polling readiness
        }
    }

    fn fail_if_exited(&mut self, what: &str) {
        let dead: Vec<String> =
            self.services.iter_mut().filter_map(|s| s.exited().map(|st| format!("{} exited ({st})", s.name))).collect();
        assert!(dead.is_empty(), "while waiting for {what}: {}\n{}", dead.join(", "), self.all_output());
    }

    /// Sends `method url` as the admin; panics with every service's output if it cannot.
    async fn as_admin(&self, method: reqwest::Method, url: &str) -> reqwest::Response {
        self.http
            .request(method.clone(), url)
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e}\n{}", self.all_output()))
    }

    /// [`Stack::as_admin`] answered with success: its JSON body.
    async fn admin_json(&self, method: reqwest::Method, url: &str) -> serde_json::Value {
        let r = self.as_admin(method.clone(), url).await;
        let status = r.status();
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        assert!(status.is_success(), "{method} {url} answered {status}: {body}\n{}", self.all_output());
        body
    }

    /// `POST /streams/{camera}/start` on the API; returns the JSON answer.
    pub async fn start_stream(&self, camera: &str) -> serde_json::Value {
        self.admin_json(reqwest::Method::POST, &format!("{}/streams/{camera}/start", self.api_url)).await
    }

    /// Starts `camera-sim` in API mode for `camera` (small picture, cheap on shared cores).
    pub fn start_camera(&mut self, camera: &str) {
        self.start_camera_at(camera, "127.0.0.1");
    }

    /// [`Stack::start_camera`] with the camera's RTP and keepalives leaving from `local_ip`
    /// (any 127.0.0.0/8 address is on the loopback), as a camera at that address.
    pub fn start_camera_at(&mut self, camera: &str, local_ip: &str) {
        let api = self.api_url.clone();
        self.spawn_camera(&["--api", &api, "--camera", camera, "--keepalive-seconds", "1"], 1, local_ip);
    }

    /// `camera-sim` with `mode` (API or direct target), a small picture cheap on shared
    /// cores, a keyframe every `keyframe_interval_seconds`, sending from `local_ip`.
    pub(crate) fn spawn_camera(&mut self, mode: &[&str], keyframe_interval_seconds: u32, local_ip: &str) {
        let keyframes = keyframe_interval_seconds.to_string();
        let picture = ["--width", "320", "--height", "240", "--fps", "15", "--bitrate-kbps", "300"];
        let timing = ["--keyframe-interval-seconds", &keyframes, "--local-ip", local_ip];
        let args: Vec<&str> = mode.iter().chain(&picture).chain(&timing).copied().collect();
        let env = HashMap::from([("RUST_LOG".to_owned(), "info".to_owned())]);
        self.services.push(Service::spawn("camera", "camera-sim", &args, &env));
    }

    /// `GET /streams/{camera}` on the API as admin: the stream's JSON view (panics on anything
    /// but 200).
    pub async fn stream(&self, camera: &str) -> serde_json::Value {
        self.admin_json(reqwest::Method::GET, &format!("{}/streams/{camera}", self.api_url)).await
    }

    /// `GET /nodes` on the API as admin: the live media nodes (`nodes`: id, address, load).
    pub async fn nodes(&self) -> Vec<serde_json::Value> {
        let body = self.admin_json(reqwest::Method::GET, &format!("{}/nodes", self.api_url)).await;
        body["nodes"].as_array().cloned().unwrap_or_default()
    }

    /// The number of viewers `GET /streams/{camera}` counts.
    pub async fn viewer_count(&self, camera: &str) -> u64 {
        let body = self.stream(camera).await;
        body["viewers"].as_u64().unwrap_or_else(|| panic!("no viewer count in {body}"))
    }

    /// `POST /streams/{camera}/stop` on the API as admin; returns the status.
    pub async fn stop_stream(&self, camera: &str) -> reqwest::StatusCode {
        self.as_admin(reqwest::Method::POST, &format!("{}/streams/{camera}/stop", self.api_url)).await.status()
    }

    /// The text of `GET <base>/metrics` (base: one of the `*_url` fields); the admin token is
    /// sent along (the API's `/metrics` may need it, the others ignore it).
    pub async fn metrics(&self, base: &str) -> String {
        let url = format!("{base}/metrics");
        let r = self.as_admin(reqwest::Method::GET, &url).await;
        assert!(r.status().is_success(), "GET {url}: {}", r.status());
        r.text().await.unwrap_or_default()
    }

    /// A viewer connected to signaling's WebSocket (not joined yet) that joins as admin.
    pub async fn viewer(&self) -> Viewer {
        self.viewer_as(&self.admin_token).await
    }

    /// A viewer connected to signaling's WebSocket that joins with `token`.
    pub async fn viewer_as(&self, token: &str) -> Viewer {
        Viewer::connect_with_token(&self.signaling_ws_url, Some(token.to_owned()))
            .await
            .unwrap_or_else(|e| panic!("viewer: {e}\n{}", self.all_output()))
    }

    /// Waits until `check` holds (polling), panicking with every service's output on timeout.
    pub async fn eventually<F, Fut>(&self, what: &str, check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        wait_until(PATIENCE, what, check).await; // a panic prints the output in Stack's Drop
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("captured service output:\n{}", self.all_output());
        }
        // Services are killed by their own Drop, camera and signaling first.
        while let Some(service) = self.services.pop() {
            drop(service);
        }
    }
}

/// Where a service listens, for tests that need the raw address.
pub fn addr_of(url: &str) -> SocketAddr {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let host_port = rest.split('/').next().unwrap_or(rest);
    host_port.parse().unwrap_or_else(|e| panic!("{url} has no socket address: {e}"))
}
