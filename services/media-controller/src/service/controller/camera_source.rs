//! Re-latching a camera's RTP source when its keepalive comes from a new address.
//!
//! The media server forwards a stream's RTP only from the first source that sent it (the
//! engine's source latch; see the engine's `media/rtp_source.rs`). A camera that moves (a new
//! DHCP lease, a failover link) would stay shut out, and a packet from anyone else must never
//! move the latch. So the latch moves only on proof: an authenticated keepalive (the camera's
//! secret, or a trusted network) from a new address. The api reports such a keepalive as
//! `CameraSeen`; the first address after a start is recorded, and a later, different one,
//! once the stream is no longer `live` (media from the old latch stopped: `waiting_for_media`
//! or `stalled`), gets the stream a new RtpEndpoint (new port, fresh latch) connected under every viewer in
//! place of the old one. Viewers keep their WebRTC sessions; the camera learns the new port
//! in the answer to that same keepalive. This uses only Kurento operations (create, connect,
//! release), so it works the same against Kurento.

use camview_common::clock::now_rfc3339;
use camview_proto::bus::{CameraSeen, CameraSourceSet, Message, StreamStateChanged};
use camview_proto::stream::{RtpTarget, StreamState};

use super::{media_stream_of, CommandError, Controller};
use crate::service::media::StreamSpec;
use crate::service::sdp;

impl Controller {
    pub(super) async fn camera_seen(&self, cmd: &CameraSeen) -> Result<Message, CommandError> {
        let lock = self.camera_lock(&cmd.camera_id);
        let _guard = lock.write().await;
        let mut stream = self
            .registry
            .get_stream(&cmd.camera_id)
            .await?
            .ok_or_else(|| CommandError::StreamNotFound(cmd.camera_id.clone()))?;
        if stream.source.is_some() {
            // Pulled from an RTSP camera: there is no RTP source to latch.
            return Ok(Message::CameraSourceSet(CameraSourceSet { stream, relatched: false }));
        }
        let relatch = match stream.camera_source.as_deref() {
            Some(known) if known == cmd.source => {
                return Ok(Message::CameraSourceSet(CameraSourceSet { stream, relatched: false }))
            }
            // Media flows from the latched source: the camera has not moved, or its media stops
            // at the old latch and the stream leaves `live`; a keepalive never disturbs a live
            // stream. The address is not recorded, so the next keepalive asks again.
            Some(_) if stream.state == StreamState::Live => {
                return Ok(Message::CameraSourceSet(CameraSourceSet { stream, relatched: false }))
            }
            Some(_) => true,
            None => false,
        };
        if relatch {
            let media_stream =
                media_stream_of(&stream).ok_or_else(|| CommandError::StreamNotFound(cmd.camera_id.clone()))?;
            let viewers = self.registry.list_viewers(Some(&cmd.camera_id)).await?;
            let endpoints: Vec<String> = viewers.iter().filter_map(|v| v.endpoint_id.clone()).collect();
            let spec = StreamSpec {
                camera_id: cmd.camera_id.clone(),
                bandwidth: stream.bandwidth,
                offer: sdp::camera_offer_av(
                    &cmd.camera_id,
                    self.settings.codec,
                    self.settings.payload_type,
                    self.settings.audio,
                ),
                source: None,
                node_id: stream.node_id.clone(),
            };
            let media = self.media.replace_camera_endpoint(&media_stream, &spec, &endpoints).await?;
            let port = sdp::answer_video_port(&media.answer).ok_or(CommandError::NoRtpPort)?;
            // Same node, same address: only the port changes.
            let host = stream.rtp.as_ref().map_or_else(|| self.settings.external_ip.clone(), |r| r.host.clone());
            stream.rtp = Some(RtpTarget {
                host,
                port,
                codec: self.settings.codec,
                payload_type: self.settings.payload_type,
                audio: sdp::stream_audio(self.settings.audio, &media.answer),
            });
            stream.rtp_endpoint_id = Some(media.rtp_endpoint_id);
            // Media must arrive on the new endpoint before the stream is live again.
            stream.state = StreamState::WaitingForMedia;
            self.cancel_stall_timer(&cmd.camera_id);
            tracing::warn!(camera_id = %cmd.camera_id, port, "the camera's keepalive came from a new address: its RTP source is re-latched on a new port");
            for v in &viewers {
                let msg = Message::StreamStateChanged(StreamStateChanged {
                    viewer_id: v.viewer_id.clone(),
                    camera_id: cmd.camera_id.clone(),
                    state: stream.state,
                });
                self.notify(&v.signaling_instance, msg).await;
            }
        }
        stream.camera_source = Some(cmd.source.clone());
        stream.updated_at = now_rfc3339();
        self.registry.put_stream(&stream).await?;
        Ok(Message::CameraSourceSet(CameraSourceSet { stream, relatched: relatch }))
    }
}
