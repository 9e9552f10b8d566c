//! Whether the registry and the media server agree: after any fault, the engine must hold
//! exactly the media objects the registry names, no orphan either way.

use camview_common::testing::sample;
use camview_proto::rest::StreamList;

use crate::Stack;

/// What one side holds: pipelines, camera endpoints and viewer endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaCounts {
    pub pipelines: u64,
    pub rtp_endpoints: u64,
    pub webrtc_endpoints: u64,
}

impl Stack {
    /// What the registry says should exist, read through `GET /streams`: one pipeline and one
    /// RtpEndpoint per started stream, one WebRtcEndpoint per viewer slot.
    pub async fn registry_media_counts(&self) -> MediaCounts {
        let list: StreamList =
            serde_json::from_value(self.admin_json(reqwest::Method::GET, &format!("{}/streams", self.api_url)).await)
                .expect("GET /streams is a stream list");
        let streams = list.streams.len() as u64;
        let viewers = list.streams.iter().map(|s| s.viewers).sum();
        MediaCounts { pipelines: streams, rtp_endpoints: streams, webrtc_endpoints: viewers }
    }

    /// What the engine holds, from its `camview_engine_media_objects` gauge.
    pub async fn engine_media_counts(&self) -> MediaCounts {
        let text = self.metrics(&self.engine_metrics_url).await;
        let count =
            |class: &str| sample(&text, "camview_engine_media_objects", &[("type", class)]).unwrap_or(0.0) as u64;
        MediaCounts {
            pipelines: count("MediaPipeline"),
            rtp_endpoints: count("RtpEndpoint"),
            webrtc_endpoints: count("WebRtcEndpoint"),
        }
    }

    /// Waits until the engine holds exactly what the registry names (releases are
    /// asynchronous), panicking with both sides and every service's output otherwise.
    pub async fn assert_registry_and_media_agree(&self) {
        let deadline = tokio::time::Instant::now() + crate::PATIENCE;
        loop {
            let (registry, engine) = (self.registry_media_counts().await, self.engine_media_counts().await);
            if registry == engine {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "the registry names {registry:?} but the engine holds {engine:?} (orphans or losses)\n{}",
                    self.all_output()
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}
