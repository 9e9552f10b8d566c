//! `--demo`: a stream started through the API and a simulated camera that learns its RTP
//! target from keepalives, exactly as a real camera with a control channel would. The stream
//! is started with an admin session and the camera gets a secret, as an operator would set
//! them up (a camera on loopback would be trusted without one).

use std::time::Duration;

use anyhow::Context;
use camera_sim::keepalive::{run, CameraSecret, KeepaliveConfig};
use camera_sim::{Camera, CameraConfig, CameraHandle};
use camview_common::auth::{self, Authenticator};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The running demo camera.
pub struct Demo {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Demo {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Starts the stream as `admin` (retrying while the controller takes its lease) and the
/// camera with a fresh secret.
pub async fn start(
    authenticator: &Authenticator,
    api: &str,
    camera_id: &camview_proto::CameraId,
) -> anyhow::Result<Demo> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().context("http client")?;
    let url = format!("{api}/streams/{camera_id}/start");
    // The api created `admin` at its start (ensure_admin) if there was no user.
    let admin = authenticator.store().get_user(auth::ADMIN_USERNAME).await.context("reading the admin user")?;
    let token = admin.map(|a| authenticator.issue_session(&a).token);
    let secret = auth::new_camera_secret(authenticator.store().as_ref(), camera_id)
        .await
        .context("giving the demo camera a secret")?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut request = client.post(&url);
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => break,
            Ok(r) if tokio::time::Instant::now() < deadline => {
                tracing::info!(status = %r.status(), "demo stream not started yet; retrying")
            }
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::info!(error = %e, "demo stream not started yet; retrying")
            }
            Ok(r) => {
                anyhow::bail!("starting the demo stream failed: {} {}", r.status(), r.text().await.unwrap_or_default())
            }
            Err(e) => return Err(e).context("starting the demo stream"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let camera: CameraHandle =
        Camera::start(CameraConfig { local_ip: "127.0.0.1".parse().expect("literal"), ..Default::default() })
            .await
            .context("starting the demo camera")?;
    let config = KeepaliveConfig {
        api: api.to_owned(),
        camera_id: camera_id.to_string(),
        interval: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        secret: Some(CameraSecret::new(secret)),
        local_ip: None,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        if let Err(e) = run(config, &camera, async {
            let _ = stopped.await;
        })
        .await
        {
            tracing::error!(error = %e, "demo camera keepalive failed");
        }
        let _ = camera.stop().await;
    });
    Ok(Demo { stop, task })
}
