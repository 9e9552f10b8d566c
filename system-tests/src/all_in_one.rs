//! The all-in-one `camview` binary as a process, with its data directory, started with
//! [`ADMIN_PASSWORD`] and logged in as `admin`; its `user|camera` subcommands run against the
//! same data directory.

use std::collections::HashMap;
use std::time::Duration;

use crate::auth::{cli, login, CliOutput, DataDir, ADMIN_PASSWORD};
use crate::{free_port, Service, PATIENCE};

/// A running `camview` server.
pub struct AllInOne {
    /// `http://127.0.0.1:<port>` of the API.
    pub api_url: String,
    /// `ws://127.0.0.1:<port>/` of signaling.
    pub signaling_ws_url: String,
    /// A session token of `admin`, renewed by [`AllInOne::restart`].
    pub admin_token: String,
    pub service: Service,
    env: HashMap<String, String>,
    http: reqwest::Client,
}

impl AllInOne {
    /// Starts `camview <args>` on free loopback ports with `data_dir` as `CAMVIEW_DATA_DIR`
    /// and `extra` variables, waits until the API reports healthy and logs in as admin.
    pub async fn start(data_dir: &DataDir, extra: &[(&str, &str)], args: &[&str]) -> AllInOne {
        let (api, signaling) = (free_port(), free_port());
        let mut env: HashMap<String, String> = [
            ("API_SERVER_HOST", "127.0.0.1".to_owned()),
            ("API_SERVER_PORT", api.to_string()),
            ("SIGNALING_SERVER_HOST", "127.0.0.1".to_owned()),
            ("SIGNALING_SERVER_PORT", signaling.to_string()),
            ("KMS_LISTEN_ADDR", format!("127.0.0.1:{}", free_port())),
            ("METRICS_ADDR", format!("127.0.0.1:{}", free_port())),
            ("ENGINE_WEBRTC_PORT", "0".to_owned()),
            ("CAMVIEW_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(data_dir.env());
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let service = Service::spawn("camview", "camview", args, &env);
        let mut me = AllInOne {
            api_url: format!("http://127.0.0.1:{api}"),
            signaling_ws_url: format!("ws://127.0.0.1:{signaling}/"),
            admin_token: String::new(),
            service,
            env,
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("an HTTP client"),
        };
        me.until_ready().await;
        me
    }

    /// Stops the process and starts it again with the same settings and data directory.
    pub async fn restart(&mut self) {
        self.service.restart().await;
        self.until_ready().await;
    }

    async fn until_ready(&mut self) {
        let health = format!("{}/health", self.api_url);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Ok(r) = self.http.get(&health).send().await {
                if r.status().is_success() && r.text().await.unwrap_or_default().contains("\"healthy\"") {
                    break;
                }
            }
            if let Some(status) = self.service.exited() {
                panic!("camview exited ({status}) before it was ready:\n{}", self.service.output());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "camview not healthy within {PATIENCE:?}:\n{}",
                self.service.output()
            );
            tokio::time::sleep(Duration::from_millis(100)).await; // polling readiness
        }
        self.admin_token = self
            .login("admin", ADMIN_PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("admin login: {e}\n{}", self.service.output()));
    }

    /// `camview <args>` against this server's data directory.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> CliOutput {
        let env: HashMap<String, String> = self
            .env
            .iter()
            .filter(|(k, _)| k.as_str() == "CAMVIEW_DATA_DIR")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        cli(&env, args, stdin)
    }

    pub async fn login(&self, username: &str, password: &str) -> Result<String, String> {
        login(&self.http, &self.api_url, username, password).await
    }

    /// `method path` on the API with `token` as bearer (none when `None`): status and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let url = format!("{}{path}", self.api_url);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let r = request.send().await.unwrap_or_else(|e| panic!("{method} {url}: {e}\n{}", self.service.output()));
        let status = r.status();
        (status, r.json().await.unwrap_or_default())
    }

    /// Starts the stream of `camera` as admin, retrying while the controller takes its lease.
    pub async fn start_stream(&self, camera: &str) {
        let path = format!("/streams/{camera}/start");
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let (status, body) = self.call(reqwest::Method::POST, &path, Some(&self.admin_token)).await;
            if status.is_success() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "POST {path} as admin: {status} {body}\n{}",
                self.service.output()
            );
            tokio::time::sleep(Duration::from_millis(250)).await; // the controller takes its lease; within the API's rate limit
        }
    }

    /// A camera keepalive for `camera`, with `Authorization: Bearer <secret>` when given.
    pub async fn keepalive(&self, camera: &str, secret: Option<&str>) -> reqwest::StatusCode {
        let url = format!("{}/cameras/{camera}/keepalive", self.api_url);
        let mut request = self.http.post(&url).json(&camview_proto::rest::KeepaliveRequest::default());
        if let Some(secret) = secret {
            request = request.bearer_auth(secret);
        }
        request.send().await.unwrap_or_else(|e| panic!("POST {url}: {e}\n{}", self.service.output())).status()
    }
}
