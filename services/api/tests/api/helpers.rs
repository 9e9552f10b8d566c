//! `spawn_app()`: the real application on port 0 against a real Redis (random key prefix
//! per test) with a stand-in media-controller, plus typed request helpers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use camview_api::{Application, Deps, Settings};
use camview_common::testing::{random_prefix, RedisServer};
use camview_common::{Bus, Registry};
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::responder::{write_heartbeat, Responder};

/// How the app under test is wired.
pub struct Options {
    /// Run the stand-in media-controller.
    pub responder: bool,
    /// Write a fresh controller heartbeat before the test starts.
    pub heartbeat: bool,
    /// `BUS_REQUEST_TIMEOUT_MS`.
    pub bus_timeout_ms: u64,
    /// Extra environment for the settings.
    pub env: Vec<(&'static str, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            responder: true,
            heartbeat: true,
            bus_timeout_ms: 5000,
            env: vec![],
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub registry: Arc<dyn Registry>,
    pub responder: Option<Responder>,
}

/// The app on the shared test Redis, with a responder and a heartbeat.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let (bus, registry) = redis_backend(&RedisServer::shared().url()).await;
    spawn_on(bus, registry, options).await
}

/// Connects the Redis bus and registry under a fresh prefix.
pub async fn redis_backend(url: &str) -> (Arc<dyn Bus>, Arc<dyn Registry>) {
    let backend = camview_common::Backend::redis(url, camview_proto::keys::Keys::new(random_prefix()))
        .await
        .expect("connect to the test redis");
    (backend.bus, backend.registry)
}

/// The app on the given bus and registry.
pub async fn spawn_on(bus: Arc<dyn Bus>, registry: Arc<dyn Registry>, options: Options) -> TestApp {
    // Trace propagation is part of the behaviour under test: spans need the OTel layer.
    camview_common::telemetry::init_for_tests();
    let mut env: HashMap<String, String> = HashMap::from([
        ("API_SERVER_HOST".into(), "127.0.0.1".into()),
        ("API_SERVER_PORT".into(), "0".into()),
        (
            "BUS_REQUEST_TIMEOUT_MS".into(),
            options.bus_timeout_ms.to_string(),
        ),
        ("STUN_SERVERS".into(), "stun:stun.test:3478".into()),
    ]);
    env.extend(options.env.into_iter().map(|(k, v)| (k.to_owned(), v)));
    let settings = Settings::from_source(&env).expect("test settings");
    if options.heartbeat {
        write_heartbeat(registry.as_ref(), true).await;
    }
    let responder = options
        .responder
        .then(|| Responder::start(bus.clone(), registry.clone()));
    let deps = Deps::start(bus.clone(), registry.clone())
        .await
        .expect("start the bus client");
    let app = Application::build(settings, deps)
        .await
        .expect("build the app");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("http client");
    TestApp {
        address,
        client,
        registry,
        responder,
    }
}

impl TestApp {
    pub async fn request(&self, method: Method, path: &str) -> Response {
        self.client
            .request(method, format!("{}{path}", self.address))
            .send()
            .await
            .expect("send request")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).await
    }

    pub async fn post(&self, path: &str) -> Response {
        self.request(Method::POST, path).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(format!("{}{path}", self.address))
            .json(body)
            .send()
            .await
            .expect("send request")
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        let mut req = self
            .client
            .post(format!("{}{path}", self.address))
            .body(body);
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
        assert_eq!(
            self.get("/streams").await.status(),
            StatusCode::OK,
            "the server stopped serving"
        );
    }
}

/// Asserts status and JSON error code, returning the body.
pub async fn assert_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let body: Value = response.json().await.expect("an error body in JSON");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// The JSON body of a 200 answer.
pub async fn ok_json(response: Response) -> Value {
    let status = response.status();
    let text = response.text().await.expect("read body");
    assert_eq!(status, StatusCode::OK, "body: {text}");
    serde_json::from_str(&text).expect("JSON body")
}
