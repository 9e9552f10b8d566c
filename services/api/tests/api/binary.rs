//! The `camview-api` binary: refuses bad configuration naming the variable, and serves in
//! both Redis and single-process mode.

use std::process::{Command, Stdio};

fn run_with(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_camview-api"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run camview-api");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_binary_stops_with_the_variable_name_on_a_bad_port() {
    let (code, stderr) = run_with(&[("API_SERVER_PORT", "eighty")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("API_SERVER_PORT"), "{stderr}");
}

#[test]
fn the_binary_stops_with_the_variable_name_on_a_bad_redis_url() {
    let (code, stderr) = run_with(&[("API_SERVER_PORT", "0"), ("REDIS_URL", "http://localhost:6379")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("REDIS_URL"), "{stderr}");
}

#[test]
fn the_binary_stops_with_the_variable_name_on_a_bad_timeout() {
    let (code, stderr) = run_with(&[("BUS_REQUEST_TIMEOUT_MS", "soon")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("BUS_REQUEST_TIMEOUT_MS"), "{stderr}");
}

#[test]
fn the_binary_stops_with_the_variable_name_on_a_bad_otlp_endpoint() {
    let (code, stderr) = run_with(&[("API_SERVER_PORT", "0"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{stderr}");
}

#[test]
fn the_binary_stops_with_the_variable_name_on_a_bad_public_signaling_url() {
    let (code, stderr) = run_with(&[("API_SERVER_PORT", "0"), ("PUBLIC_SIGNALING_URL", "cams.example/ws")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("PUBLIC_SIGNALING_URL"), "{stderr}");
}

/// Kills the child when the test ends, pass or fail.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts the binary on a free port and waits until `/health` answers (any status).
async fn serve_with(vars: &[(&str, &str)]) -> (Running, String) {
    let port = free_port().to_string();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_camview-api"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let data_dir = std::env::temp_dir().join(format!("camview-api-bin-{}", uuid::Uuid::new_v4()));
    cmd.env("API_SERVER_HOST", "127.0.0.1")
        .env("API_SERVER_PORT", &port)
        .env("CAMVIEW_DATA_DIR", &data_dir)
        .env("CAMVIEW_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("RUST_LOG", "warn");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let child = Running(cmd.spawn().expect("spawn camview-api"));
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let url = format!("{base}/health");
    camview_common::testing::wait_until(std::time::Duration::from_secs(15), "camview-api answers /health", || {
        let request = client.get(&url).send();
        async move { request.await.is_ok() }
    })
    .await;
    (child, base)
}

const ADMIN_PASSWORD: &str = "binary-admin-password";

/// Logs in as the admin and returns the token.
async fn admin_token(base: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_binary_serves_on_redis_when_redis_url_is_set() {
    let url = camview_common::testing::RedisServer::shared().url();
    let prefix = camview_common::testing::random_prefix();
    let (_child, base) = serve_with(&[("REDIS_URL", &url), ("REDIS_KEY_PREFIX", &prefix)]).await;
    let token = admin_token(&base).await;
    let client = reqwest::Client::new();
    // No controller heartbeat under this prefix: degraded, but the registry answered.
    let health: serde_json::Value =
        client.get(format!("{base}/health")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "degraded");
    assert!(!health["problems"][0].as_str().unwrap().contains("registry"), "{health}");
    let streams = client.get(format!("{base}/streams")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(streams.status(), 200);
    assert_eq!(reqwest::get(format!("{base}/streams")).await.unwrap().status(), 401, "anonymous");
}

#[tokio::test]
async fn the_binary_serves_in_single_process_mode_without_redis_url() {
    let (_child, base) = serve_with(&[("BUS_REQUEST_TIMEOUT_MS", "200")]).await;
    let token = admin_token(&base).await;
    let client = reqwest::Client::new();
    let streams = client.get(format!("{base}/streams")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(streams.status(), 200);
    let start = client.post(format!("{base}/streams/cam/start")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(start.status(), 503, "no media-controller in this process");
}

#[test]
fn the_binary_gives_up_naming_redis_when_redis_stays_unreachable() {
    let dead = format!("redis://127.0.0.1:{}/", free_port());
    let (code, stderr) =
        run_with(&[("API_SERVER_PORT", "0"), ("REDIS_URL", &dead), ("REDIS_CONNECT_TIMEOUT_SECONDS", "1")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("REDIS_CONNECT_TIMEOUT_SECONDS=1"), "{stderr}");
}

#[tokio::test]
async fn the_binary_waits_for_redis_that_starts_after_it() {
    use std::io::BufRead;

    let mut redis = camview_common::testing::RedisServer::start();
    redis.stop();
    let port = free_port().to_string();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_camview-api"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    cmd.env("API_SERVER_HOST", "127.0.0.1").env("API_SERVER_PORT", &port).env("REDIS_URL", redis.url());
    cmd.env("REDIS_CONNECT_TIMEOUT_SECONDS", "30").env("LOG_FORMAT", "json").env("RUST_LOG", "warn");
    let mut child = Running(cmd.spawn().expect("spawn camview-api"));
    let stdout = child.0.stdout.take().expect("piped stdout");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // Only bring Redis up once the API has seen it missing.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = lines.recv_timeout(left).expect("a 'not reachable yet' warning within 15 s");
        if line.contains("Redis is not reachable yet") {
            break;
        }
    }
    redis.restart();
    let health = format!("http://127.0.0.1:{port}/health");
    camview_common::testing::wait_until(std::time::Duration::from_secs(20), "camview-api serves /health", || {
        let request = reqwest::get(health.clone());
        async move { request.await.is_ok() }
    })
    .await;
}

#[tokio::test]
async fn the_binary_creates_an_admin_with_a_password_logged_once_at_first_start() {
    use std::io::BufRead;

    let data_dir = std::env::temp_dir().join(format!("camview-api-bin-{}", uuid::Uuid::new_v4()));
    let port = free_port().to_string();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_camview-api"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env("API_SERVER_HOST", "127.0.0.1")
        .env("API_SERVER_PORT", &port)
        .env("CAMVIEW_DATA_DIR", &data_dir)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn");
    let mut child = Running(cmd.spawn().expect("spawn camview-api"));
    let stdout = child.0.stdout.take().expect("piped stdout");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let password = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = lines.recv_timeout(left).expect("the generated password within 15 s");
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        let message = json["fields"]["message"].as_str().or(json["message"].as_str()).unwrap_or_default().to_owned();
        if let Some(rest) = message.strip_prefix("created user \"admin\" with password ") {
            assert_eq!(json["level"].as_str().map(str::to_ascii_uppercase).as_deref(), Some("WARN"), "{line}");
            assert!(rest.ends_with("(shown once; change it with camview user passwd admin)"), "{message}");
            break rest.split(' ').next().unwrap().to_owned();
        }
    };
    let base = format!("http://127.0.0.1:{port}");
    let login = reqwest::Client::new()
        .post(format!("{base}/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    drop(child);
    assert!(data_dir.join("auth.json").exists(), "the user is kept in CAMVIEW_DATA_DIR");
}
