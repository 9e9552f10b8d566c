//! Keepalive control channel: the camera reports its figures to `POST {api}/cameras/{id}/keepalive`
//! and the answer says where (or whether) to send RTP.
//!
//! [`KeepaliveControl`] is the sans-IO decision core (answer in, action out); [`run`] is the thin
//! HTTP loop around it. The loop never gives up: when the API is unreachable or answers with an
//! error it logs that and retries, keeping the camera in its last desired state, as a real camera
//! would keep streaming through a control-plane outage.
//!
//! With a [`CameraSecret`], every keepalive carries `Authorization: Bearer <secret>`; the
//! secret never reaches a log line or a `Debug` output. A 401 (the API refused the secret)
//! is logged as such and retried with a growing back-off, since retrying at once cannot help
//! until an operator fixes the secret.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use camview_proto::rest::{DesiredRtp, KeepaliveRequest, KeepaliveResponse};
use camview_proto::stream::Codec;
use thiserror::Error;

use crate::CameraHandle;

/// Longest interval an answer may set, so that a bogus value cannot silence the camera.
pub const MAX_INTERVAL: Duration = Duration::from_secs(300);

/// Longest wait between keepalives the API keeps refusing.
pub const MAX_REFUSED_BACKOFF: Duration = Duration::from_secs(60);

/// A camera's keepalive secret. Invariant: its text leaves only in the `Authorization`
/// header (marked sensitive); `Debug` shows `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct CameraSecret(String);

impl CameraSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The `Authorization` header value, marked sensitive so that HTTP client logs hide it.
    pub fn authorization(&self) -> Result<reqwest::header::HeaderValue, KeepaliveError> {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", self.0))
            .map_err(|_| KeepaliveError::BadSecret)?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl std::fmt::Debug for CameraSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CameraSecret(<redacted>)")
    }
}

impl std::str::FromStr for CameraSecret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("the camera secret is empty".into());
        }
        Ok(Self::new(s))
    }
}

/// What the camera must do after an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send RTP as described (also when only the target, payload type or bandwidth changed).
    StartRtp(DesiredRtp),
    StopRtp,
    /// The API asked for a codec this camera cannot produce; it stays silent.
    Unsupported(Codec),
}

/// Keepalive decisions. Invariant: `current` is what the camera was last told to do.
#[derive(Debug, Clone)]
pub struct KeepaliveControl {
    current: Option<DesiredRtp>,
    interval: Duration,
    default_interval: Duration,
    /// Delay after the last refusal of the secret (0: the last call was not refused).
    refused_backoff: Duration,
}

impl KeepaliveControl {
    pub fn new(default_interval: Duration) -> Self {
        let default_interval = default_interval.clamp(Duration::from_secs(1), MAX_INTERVAL);
        Self { current: None, interval: default_interval, default_interval, refused_backoff: Duration::ZERO }
    }

    /// Delay before the next keepalive.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// What the camera is currently told to send.
    pub fn current(&self) -> Option<&DesiredRtp> {
        self.current.as_ref()
    }

    /// Applies an answer; returns the action to take, if any.
    pub fn on_answer(&mut self, answer: &KeepaliveResponse) -> Option<Action> {
        self.refused_backoff = Duration::ZERO;
        self.interval = Duration::from_secs(u64::from(answer.keepalive_interval_seconds))
            .clamp(Duration::from_secs(1), MAX_INTERVAL);
        match &answer.rtp {
            Some(desired) if desired.codec != Codec::H264 => {
                self.current = None;
                Some(Action::Unsupported(desired.codec))
            }
            Some(desired) if self.current.as_ref() != Some(desired) => {
                self.current = Some(desired.clone());
                Some(Action::StartRtp(desired.clone()))
            }
            Some(_) => None,
            None => self.current.take().map(|_| Action::StopRtp),
        }
    }

    /// The API could not be reached or refused the call: keep the current state and retry no
    /// later than the configured interval (an answer may have stretched it).
    pub fn on_failure(&mut self) -> Duration {
        self.interval = self.interval.min(self.default_interval);
        self.interval
    }

    /// The API refused the camera's secret (401): keep the current state and wait longer after
    /// each refusal in a row, from the configured interval up to [`MAX_REFUSED_BACKOFF`].
    pub fn on_refused(&mut self) -> Duration {
        self.refused_backoff = if self.refused_backoff.is_zero() {
            self.default_interval
        } else {
            (self.refused_backoff * 2).min(MAX_REFUSED_BACKOFF)
        };
        self.refused_backoff
    }

    /// The last start could not be carried out (unresolvable host); the next identical answer
    /// must try again.
    pub fn forget(&mut self) {
        self.current = None;
    }
}

#[derive(Debug, Error)]
pub enum KeepaliveError {
    #[error("API base URL {0:?} is not an absolute http(s) URL")]
    BadUrl(String),
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("the camera secret cannot be sent in an HTTP header (it has control characters)")]
    BadSecret,
}

/// Where to call and how often.
#[derive(Debug, Clone)]
pub struct KeepaliveConfig {
    /// Base URL of the REST API, e.g. `http://api:8080`.
    pub api: String,
    pub camera_id: String,
    /// Interval until the API says otherwise, and the upper bound of retries.
    pub interval: Duration,
    pub request_timeout: Duration,
    /// Sent as `Authorization: Bearer <secret>` with every keepalive.
    pub secret: Option<CameraSecret>,
    /// The local address keepalives leave from (`--local-ip`, when not unspecified).
    pub local_ip: Option<std::net::IpAddr>,
}

/// `{api}/cameras/{id}/keepalive` with the id percent-encoded as one path segment.
pub fn keepalive_url(api: &str, camera_id: &str) -> Result<reqwest::Url, KeepaliveError> {
    let mut url = reqwest::Url::parse(api).map_err(|_| KeepaliveError::BadUrl(api.into()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(KeepaliveError::BadUrl(api.into()));
    }
    url.path_segments_mut().map_err(|()| KeepaliveError::BadUrl(api.into()))?.pop_if_empty().extend([
        "cameras",
        camera_id,
        "keepalive",
    ]);
    Ok(url)
}

/// Calls the keepalive endpoint until `shutdown` completes, steering `camera` by the answers.
pub async fn run(
    config: KeepaliveConfig,
    camera: &CameraHandle,
    shutdown: impl Future<Output = ()>,
) -> Result<(), KeepaliveError> {
    let url = keepalive_url(&config.api, &config.camera_id)?;
    let client = client(&config)?;
    let mut control = KeepaliveControl::new(config.interval);
    let max_bitrate = camera.config().bitrate_kbps;
    tokio::pin!(shutdown);
    loop {
        let body = KeepaliveRequest { stats: camera.stats().to_proto() };
        let delay = match call(&client, &url, &body).await {
            Ok(answer) => {
                if let Some(action) = control.on_answer(&answer) {
                    apply(action, camera, max_bitrate, &mut control).await;
                }
                control.interval()
            }
            Err(CallError::Status(reqwest::StatusCode::UNAUTHORIZED)) => {
                let retry = control.on_refused();
                let secret = if config.secret.is_some() {
                    "the camera secret was wrong"
                } else {
                    "no camera secret was sent (--secret / CAMERA_SECRET)"
                };
                tracing::error!(url = %url, retry_in_seconds = retry.as_secs(), "keepalive refused: the API refused the camera secret (401; {secret}); retrying with back-off");
                retry
            }
            Err(problem) => {
                let retry = control.on_failure();
                tracing::warn!(url = %url, error = %chain(&problem), retry_in_seconds = retry.as_secs(), "keepalive failed, API unreachable or refusing; retrying");
                retry
            }
        };
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// The HTTP client of the keepalive loop: the timeout, and the secret as a default header.
fn client(config: &KeepaliveConfig) -> Result<reqwest::Client, KeepaliveError> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(secret) = &config.secret {
        headers.insert(reqwest::header::AUTHORIZATION, secret.authorization()?);
    }
    reqwest::Client::builder()
        .timeout(config.request_timeout)
        .default_headers(headers)
        .local_address(config.local_ip)
        .build()
        .map_err(KeepaliveError::Client)
}

/// Why one keepalive call did not yield an answer.
#[derive(Debug, Error)]
enum CallError {
    #[error("request failed")]
    Request(#[from] reqwest::Error),
    #[error("API answered HTTP {0}")]
    Status(reqwest::StatusCode),
}

/// An error with its causes, because reqwest's own message hides them ("error sending request").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn call(
    client: &reqwest::Client,
    url: &reqwest::Url,
    body: &KeepaliveRequest,
) -> Result<KeepaliveResponse, CallError> {
    let response = client.post(url.clone()).json(body).send().await?;
    if !response.status().is_success() {
        return Err(CallError::Status(response.status()));
    }
    Ok(response.json().await?)
}

async fn apply(action: Action, camera: &CameraHandle, max_bitrate: u32, control: &mut KeepaliveControl) {
    match action {
        Action::StartRtp(desired) => match resolve(&desired).await {
            Some(target) => {
                camera.set_payload_type(desired.payload_type);
                camera.set_bitrate_kbps(max_bitrate.min(desired.max_bandwidth.max(10)));
                camera.set_target(Some(target));
                tracing::info!(%target, payload_type = desired.payload_type, max_bandwidth = desired.max_bandwidth, "start rtp");
            }
            None => {
                tracing::warn!(host = %desired.host, port = desired.port, "cannot resolve the RTP target; will retry on the next keepalive");
                control.forget();
            }
        },
        Action::StopRtp => {
            camera.set_target(None);
            tracing::info!("stop rtp");
        }
        Action::Unsupported(codec) => {
            camera.set_target(None);
            tracing::warn!(?codec, "API asked for a codec this camera cannot send; staying silent");
        }
    }
}

/// Resolves the target host, preferring IPv4 (media servers announce v4 RTP ports).
async fn resolve(desired: &DesiredRtp) -> Option<SocketAddr> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((desired.host.as_str(), desired.port)).await.ok()?.collect();
    addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(port: u16) -> DesiredRtp {
        DesiredRtp {
            host: "127.0.0.1".into(),
            port,
            codec: Codec::H264,
            payload_type: 96,
            max_bandwidth: 3000,
            audio: None,
        }
    }

    fn answer(rtp: Option<DesiredRtp>, interval: u32) -> KeepaliveResponse {
        KeepaliveResponse { rtp, keepalive_interval_seconds: interval }
    }

    #[test]
    fn a_desired_target_starts_rtp_once_and_null_stops_it_once() {
        let mut c = KeepaliveControl::new(Duration::from_secs(5));
        assert_eq!(c.on_answer(&answer(None, 5)), None, "nothing to stop yet");
        assert_eq!(c.on_answer(&answer(Some(desired(5004)), 5)), Some(Action::StartRtp(desired(5004))));
        assert_eq!(c.on_answer(&answer(Some(desired(5004)), 5)), None, "same answer, nothing to do");
        assert_eq!(c.on_answer(&answer(None, 5)), Some(Action::StopRtp));
        assert_eq!(c.on_answer(&answer(None, 5)), None);
        assert_eq!(c.current(), None);
    }

    #[test]
    fn a_changed_port_payload_type_or_bandwidth_restarts_rtp_with_the_new_values() {
        let mut c = KeepaliveControl::new(Duration::from_secs(5));
        c.on_answer(&answer(Some(desired(5004)), 5));
        assert_eq!(c.on_answer(&answer(Some(desired(6000)), 5)), Some(Action::StartRtp(desired(6000))));
        let pt = DesiredRtp { payload_type: 100, ..desired(6000) };
        assert_eq!(c.on_answer(&answer(Some(pt.clone()), 5)), Some(Action::StartRtp(pt.clone())));
        let bw = DesiredRtp { max_bandwidth: 500, ..pt };
        assert_eq!(c.on_answer(&answer(Some(bw.clone()), 5)), Some(Action::StartRtp(bw)));
    }

    #[test]
    fn a_vp8_request_is_refused_and_stops_any_h264_being_sent() {
        let mut c = KeepaliveControl::new(Duration::from_secs(5));
        c.on_answer(&answer(Some(desired(5004)), 5));
        let vp8 = DesiredRtp { codec: Codec::VP8, ..desired(5004) };
        assert_eq!(c.on_answer(&answer(Some(vp8), 5)), Some(Action::Unsupported(Codec::VP8)));
        assert_eq!(c.current(), None);
        assert_eq!(c.on_answer(&answer(Some(desired(5004)), 5)), Some(Action::StartRtp(desired(5004))));
    }

    #[test]
    fn the_answer_sets_the_interval_within_bounds_and_failures_retry_no_later_than_configured() {
        let mut c = KeepaliveControl::new(Duration::from_secs(5));
        assert_eq!(c.interval(), Duration::from_secs(5));
        c.on_answer(&answer(None, 2));
        assert_eq!(c.interval(), Duration::from_secs(2));
        c.on_answer(&answer(None, 0));
        assert_eq!(c.interval(), Duration::from_secs(1));
        c.on_answer(&answer(None, 100_000));
        assert_eq!(c.interval(), MAX_INTERVAL);
        assert_eq!(c.on_failure(), Duration::from_secs(5));
    }

    #[test]
    fn a_failure_keeps_the_current_target_and_forget_makes_the_next_answer_start_again() {
        let mut c = KeepaliveControl::new(Duration::from_secs(5));
        c.on_answer(&answer(Some(desired(5004)), 5));
        c.on_failure();
        assert_eq!(c.current(), Some(&desired(5004)));
        c.forget();
        assert_eq!(c.on_answer(&answer(Some(desired(5004)), 5)), Some(Action::StartRtp(desired(5004))));
    }

    #[test]
    fn refusals_back_off_from_the_interval_up_to_a_minute_and_an_answer_resets_them() {
        let mut c = KeepaliveControl::new(Duration::from_secs(5));
        c.on_answer(&answer(Some(desired(5004)), 5));
        assert_eq!(c.on_refused(), Duration::from_secs(5));
        assert_eq!(c.on_refused(), Duration::from_secs(10));
        assert_eq!(c.on_refused(), Duration::from_secs(20));
        assert_eq!(c.on_refused(), Duration::from_secs(40));
        assert_eq!(c.on_refused(), MAX_REFUSED_BACKOFF);
        assert_eq!(c.current(), Some(&desired(5004)), "a refusal keeps the camera as it was");
        c.on_answer(&answer(Some(desired(5004)), 5));
        assert_eq!(c.on_refused(), Duration::from_secs(5));
    }

    fn config(secret: Option<&str>) -> KeepaliveConfig {
        KeepaliveConfig {
            api: "http://127.0.0.1:8080".into(),
            camera_id: "cam1".into(),
            interval: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            secret: secret.map(CameraSecret::new),
            local_ip: None,
        }
    }

    #[tokio::test]
    async fn keepalives_carry_the_secret_as_a_bearer_authorization_header() {
        let (listener, url) = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", l.local_addr().unwrap());
            (l, url)
        };
        let server = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                assert!(n > 0, "the client closed before sending its headers");
                request.extend_from_slice(&buf[..n]);
            }
            socket
                .write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            String::from_utf8_lossy(&request).to_lowercase()
        });
        let cfg = KeepaliveConfig { api: url.clone(), ..config(Some("S3cr3t-value")) };
        let answer =
            call(&client(&cfg).unwrap(), &keepalive_url(&url, "cam1").unwrap(), &KeepaliveRequest::default()).await;
        assert!(matches!(answer, Err(CallError::Status(reqwest::StatusCode::UNAUTHORIZED))), "{answer:?}");
        let request = tokio::time::timeout(Duration::from_secs(5), server).await.expect("the request arrives").unwrap();
        assert!(request.contains("\r\nauthorization: bearer s3cr3t-value\r\n"), "{request}");
    }

    #[test]
    fn the_secret_never_shows_in_debug_output_and_its_header_is_marked_sensitive() {
        let cfg = config(Some("S3cr3t-value"));
        let text = format!("{cfg:?} {:?}", cfg.secret);
        assert!(!text.contains("S3cr3t"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
        let header = cfg.secret.as_ref().unwrap().authorization().unwrap();
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains("S3cr3t"), "{header:?}");
    }

    #[test]
    fn an_empty_secret_or_one_with_control_characters_is_refused() {
        assert!("  ".parse::<CameraSecret>().is_err());
        assert!(matches!(CameraSecret::new("a\nb").authorization(), Err(KeepaliveError::BadSecret)));
    }

    #[test]
    fn the_keepalive_url_appends_the_path_and_encodes_the_camera_id() {
        assert_eq!(
            keepalive_url("http://api:8080", "CAM1").unwrap().as_str(),
            "http://api:8080/cameras/CAM1/keepalive"
        );
        assert_eq!(
            keepalive_url("http://api:8080/v1/", "a b").unwrap().as_str(),
            "http://api:8080/v1/cameras/a%20b/keepalive"
        );
        assert!(keepalive_url("api:8080", "x").is_err());
        assert!(keepalive_url("not a url", "x").is_err());
    }
}
