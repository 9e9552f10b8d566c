//! `--demo`: a stream started through the API and a simulated camera that learns its RTP
//! target from keepalives, exactly as a real camera with a control channel would.

use std::time::Duration;

use anyhow::Context;
use camera_sim::keepalive::{run, KeepaliveConfig};
use camera_sim::{Camera, CameraConfig, CameraHandle};
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

/// Starts the stream (retrying while the controller takes its lease) and the camera.
pub async fn start(api: &str, camera_id: &str) -> anyhow::Result<Demo> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().context("http client")?;
    let url = format!("{api}/streams/{camera_id}/start");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match client.post(&url).send().await {
            Ok(r) if r.status().is_success() => break,
            Ok(r) if tokio::time::Instant::now() < deadline => tracing::info!(status = %r.status(), "demo stream not started yet; retrying"),
            Err(e) if tokio::time::Instant::now() < deadline => tracing::info!(error = %e, "demo stream not started yet; retrying"),
            Ok(r) => anyhow::bail!("starting the demo stream failed: {} {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => return Err(e).context("starting the demo stream"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let camera: CameraHandle = Camera::start(CameraConfig { local_ip: "127.0.0.1".parse().expect("literal"), ..Default::default() }).await.context("starting the demo camera")?;
    let config = KeepaliveConfig { api: api.to_owned(), camera_id: camera_id.to_owned(), interval: Duration::from_secs(2), request_timeout: Duration::from_secs(5) };
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
