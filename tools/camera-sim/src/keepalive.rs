//! Keepalive control channel: the camera reports its figures to `POST {api}/cameras/{id}/keepalive`
//! and the answer says where (or whether) to send RTP.
//!
//! [`KeepaliveControl`] is the sans-IO decision core (answer in, action out); [`run`] is the thin
//! HTTP loop around it. The loop never gives up: when the API is unreachable or answers with an
//! error it logs that and retries, keeping the camera in its last desired state, as a real camera
//! would keep streaming through a control-plane outage.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use camview_proto::rest::{DesiredRtp, KeepaliveRequest, KeepaliveResponse};
use camview_proto::stream::Codec;
use thiserror::Error;

use crate::CameraHandle;

/// Longest interval an answer may set, so that a bogus value cannot silence the camera.
pub const MAX_INTERVAL: Duration = Duration::from_secs(300);

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
}

impl KeepaliveControl {
    pub fn new(default_interval: Duration) -> Self {
        let default_interval = default_interval.clamp(Duration::from_secs(1), MAX_INTERVAL);
        Self { current: None, interval: default_interval, default_interval }
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
        self.interval = Duration::from_secs(u64::from(answer.keepalive_interval_seconds)).clamp(Duration::from_secs(1), MAX_INTERVAL);
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
}

/// `{api}/cameras/{id}/keepalive` with the id percent-encoded as one path segment.
pub fn keepalive_url(api: &str, camera_id: &str) -> Result<reqwest::Url, KeepaliveError> {
    let mut url = reqwest::Url::parse(api).map_err(|_| KeepaliveError::BadUrl(api.into()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(KeepaliveError::BadUrl(api.into()));
    }
    url.path_segments_mut().map_err(|()| KeepaliveError::BadUrl(api.into()))?.pop_if_empty().extend(["cameras", camera_id, "keepalive"]);
    Ok(url)
}

/// Calls the keepalive endpoint until `shutdown` completes, steering `camera` by the answers.
pub async fn run(config: KeepaliveConfig, camera: &CameraHandle, shutdown: impl Future<Output = ()>) -> Result<(), KeepaliveError> {
    let url = keepalive_url(&config.api, &config.camera_id)?;
    let client = reqwest::Client::builder().timeout(config.request_timeout).build().map_err(KeepaliveError::Client)?;
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

async fn call(client: &reqwest::Client, url: &reqwest::Url, body: &KeepaliveRequest) -> Result<KeepaliveResponse, CallError> {
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
        DesiredRtp { host: "127.0.0.1".into(), port, codec: Codec::H264, payload_type: 96, max_bandwidth: 3000 }
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
    fn the_keepalive_url_appends_the_path_and_encodes_the_camera_id() {
        assert_eq!(keepalive_url("http://api:8080", "CAM1").unwrap().as_str(), "http://api:8080/cameras/CAM1/keepalive");
        assert_eq!(keepalive_url("http://api:8080/v1/", "a b").unwrap().as_str(), "http://api:8080/v1/cameras/a%20b/keepalive");
        assert!(keepalive_url("api:8080", "x").is_err());
        assert!(keepalive_url("not a url", "x").is_err());
    }
}
