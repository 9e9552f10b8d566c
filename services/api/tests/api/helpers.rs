//! `spawn_app()`: the real application on port 0 against a real Redis (random key prefix
//! per test, users in the same prefix) with a stand-in media-controller, plus typed request
//! helpers. The plain helpers (`get`, `post`, `start`, ...) carry the admin's bearer token;
//! `anon` and `as_user` send other credentials.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use camview_api::{Application, Deps, Settings};
use camview_common::auth::{AuthSettings, AuthStore, Authenticator, FileAuthStore, RedisAuthStore};
use camview_common::testing::{random_prefix, RedisServer};
use camview_common::{Bus, Registry};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

use crate::responder::{write_heartbeat, Responder};

/// How the app under test is wired.
pub struct Options {
    /// Run the stand-in media-controller.
    pub responder: bool,
    /// Write a fresh controller heartbeat before the test starts.
    pub heartbeat: bool,
    /// `BUS_REQUEST_TIMEOUT_MS`.
    pub bus_timeout_ms: u64,
    /// Extra environment for the settings (over the defaults below).
    pub env: Vec<(&'static str, String)>,
}

/// `CAMVIEW_ADMIN_PASSWORD` of every test app.
pub const ADMIN_PASSWORD: &str = "admin-test-password";

/// What an app runs on: bus, registry and the user store.
pub struct TestBackend {
    pub bus: Arc<dyn Bus>,
    pub registry: Arc<dyn Registry>,
    pub store: Arc<dyn AuthStore>,
}

/// A user store in a fresh temporary directory.
pub fn file_store() -> Arc<dyn AuthStore> {
    let dir = std::env::temp_dir().join(format!("camview-api-test-{}", uuid::Uuid::new_v4()));
    Arc::new(FileAuthStore::open(&dir).expect("open a file store"))
}

impl Default for Options {
    fn default() -> Self {
        Self { responder: true, heartbeat: true, bus_timeout_ms: 5000, env: vec![] }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub registry: Arc<dyn Registry>,
    pub store: Arc<dyn AuthStore>,
    pub bus: Arc<dyn Bus>,
    pub responder: Option<Responder>,
    /// A session token of `admin`.
    pub admin: String,
}

/// The app on the shared test Redis, with a responder and a heartbeat.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    spawn_on(redis_backend(&RedisServer::shared().url()).await, options).await
}

/// Connects the Redis bus, registry and user store under a fresh prefix.
pub async fn redis_backend(url: &str) -> TestBackend {
    redis_backend_at(url, &random_prefix()).await
}

/// The same under `prefix` (a second app on the same prefix sees the same users).
pub async fn redis_backend_at(url: &str, prefix: &str) -> TestBackend {
    let keys = camview_proto::keys::Keys::new(prefix.to_owned());
    let backend = camview_common::Backend::redis(url, keys.clone()).await.expect("connect to the test redis");
    let client = redis::Client::open(url).expect("redis url");
    let store = RedisAuthStore::with_client(client, keys).await.expect("connect the user store");
    TestBackend { bus: backend.bus, registry: backend.registry, store: Arc::new(store) }
}

/// The app on the given backend.
pub async fn spawn_on(backend: TestBackend, options: Options) -> TestApp {
    let TestBackend { bus, registry, store } = backend;
    // Trace propagation is part of the behaviour under test: spans need the OTel layer.
    camview_common::telemetry::init_for_tests();
    let mut env: HashMap<String, String> = HashMap::from([
        ("API_SERVER_HOST".into(), "127.0.0.1".into()),
        ("API_SERVER_PORT".into(), "0".into()),
        ("BUS_REQUEST_TIMEOUT_MS".into(), options.bus_timeout_ms.to_string()),
        ("STUN_SERVERS".into(), "stun:stun.test:3478".into()),
        ("CAMVIEW_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()),
        // Tests hammer the API from one address; the rate-limit tests set their own.
        ("API_RATE_LIMIT_PER_SECOND".into(), "100000".into()),
        ("API_RATE_LIMIT_BURST".into(), "100000".into()),
    ]);
    env.extend(options.env.into_iter().map(|(k, v)| (k.to_owned(), v)));
    let settings = Settings::from_source(&env).expect("test settings");
    if options.heartbeat {
        write_heartbeat(registry.as_ref(), true).await;
    }
    let responder = options.responder.then(|| Responder::start(bus.clone(), registry.clone()));
    let auth = Authenticator::start(
        store.clone(),
        &AuthSettings::from_reader(&camview_common::config::Reader::new(&env)).expect("auth settings"),
    )
    .await
    .expect("start the authenticator");
    let auth = Arc::new(auth);
    let deps = Deps::start(bus.clone(), registry.clone(), auth.clone()).await.expect("start the bus client");
    let app = Application::build(settings, deps).await.expect("build the app");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client");
    let mut app = TestApp { address, client, registry, store, bus, responder, admin: String::new() };
    // Issued directly, not through /auth/login: the app may serve only HTTPS (tls.rs), and
    // logging in is what the auth tests prove.
    let admin = app.store.get_user("admin").await.expect("read admin").expect("admin is created at start");
    app.admin = auth.issue_session(&admin).token;
    app
}

impl TestApp {
    /// A request to `path` with no credentials.
    pub fn anon(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.address))
    }

    /// A request to `path` with `token` as bearer.
    pub fn as_user(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.anon(method, path).bearer_auth(token)
    }

    /// A request to `path` as the admin.
    pub fn as_admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.as_user(&self.admin, method, path)
    }

    /// A request to `path` with `token` in the session cookie (as a browser sends it).
    pub fn with_cookie(&self, token: &str, method: Method, path: &str) -> RequestBuilder {
        self.anon(method, path).header(reqwest::header::COOKIE, format!("camview_token={token}"))
    }

    /// A page as the logged-in admin's browser gets it.
    pub async fn page(&self, path: &str) -> Response {
        self.with_cookie(&self.admin, Method::GET, path).send().await.expect("send request")
    }

    /// The admin's session token.
    pub fn admin_token(&self) -> &str {
        &self.admin
    }

    /// Logs in and returns the token (panics unless 200).
    pub async fn login(&self, username: &str, password: &str) -> String {
        let response = self
            .anon(Method::POST, "/auth/login")
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("send login");
        ok_json(response).await["token"].as_str().expect("a token").to_owned()
    }

    /// Creates a viewer with `grants` (password `password-of-<name>`) and logs it in.
    pub async fn viewer(&self, username: &str, grants: &[&str]) -> String {
        let password = format!("password-of-{username}");
        let created = self
            .as_admin(Method::POST, "/users")
            .json(&json!({"username": username, "password": password, "role": "viewer", "grants": grants}))
            .send()
            .await
            .expect("send");
        assert_eq!(created.status(), 201, "{}", created.text().await.unwrap_or_default());
        self.login(username, &password).await
    }

    /// The plain helpers' credentials: the admin's token, except for a camera's keepalive,
    /// which comes as a camera on the (trusted) loopback does: without a secret.
    fn default_creds(&self, method: Method, path: &str) -> RequestBuilder {
        if path.split('?').next().unwrap_or(path).ends_with("/keepalive") {
            self.anon(method, path)
        } else {
            self.as_admin(method, path)
        }
    }

    /// A request as the admin (or a trusted camera, for keepalives).
    pub async fn request(&self, method: Method, path: &str) -> Response {
        self.default_creds(method, path).send().await.expect("send request")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).await
    }

    pub async fn post(&self, path: &str) -> Response {
        self.request(Method::POST, path).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.default_creds(Method::POST, path).json(body).send().await.expect("send request")
    }

    pub async fn post_raw(&self, path: &str, content_type: Option<&str>, body: impl Into<reqwest::Body>) -> Response {
        let mut req = self.default_creds(Method::POST, path).body(body);
        if let Some(ct) = content_type {
            req = req.header(reqwest::header::CONTENT_TYPE, ct);
        }
        req.send().await.expect("send request")
    }

    pub async fn start(&self, camera_id: &str) -> Response {
        self.post(&format!("/streams/{camera_id}/start")).await
    }

    pub async fn stop(&self, camera_id: &str) -> Response {
        self.post(&format!("/streams/{camera_id}/stop")).await
    }

    /// Asserts the server still answers a plain request.
    pub async fn assert_still_serving(&self) {
        assert_eq!(self.get("/streams").await.status(), StatusCode::OK, "the server stopped serving");
    }
}

/// Asserts status and JSON error code, returning the body.
pub async fn assert_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let body: Value = response.json().await.expect("an error body in JSON");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    body
}

/// The JSON body of a 200 answer.
pub async fn ok_json(response: Response) -> Value {
    let status = response.status();
    let text = response.text().await.expect("read body");
    assert_eq!(status, StatusCode::OK, "body: {text}");
    serde_json::from_str(&text).expect("JSON body")
}
