//! The PlayerEndpoint of an RTSP camera: `play` starts one supervised task that opens the camera
//! with `retina` (DESCRIBE, SETUP of the video stream over TCP-interleaved transport, PLAY) and
//! hands each raw RTP packet, untouched (no depacketizing, no transcoding), to a fed
//! [`RtpSource`]: the same fan-out, fast-start cache and workers as a pushed camera's
//! RtpEndpoint. When the camera goes away (connection lost, silence, TEARDOWN) the flow
//! events say NOT_FLOWING and the task reconnects with exponential back-off; media resumes
//! with FLOWING. A failure to open the camera is an `Error` event naming the redacted URI.
//!
//! Viewers connected before the camera was described wait in the player's list and are fed
//! once the source exists; a reconnect that finds the same codec keeps the source (viewers go
//! on), another codec replaces it under every viewer. Credentials live only in the
//! [`SourceUri`], which prints itself redacted.

mod params;
mod uri;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camview_proto::kurento::KurentoErrorCode as K;
use futures_util::StreamExt;
use retina::client::{PacketItem, PlayOptions, SessionOptions, SetupOptions, Transport};
use tokio_util::sync::CancellationToken;

pub use params::ParamSetInjector;
pub use uri::{Backoff, SourceUri, UriError};

use super::rtp_source::RtpSource;
use super::webrtc::Viewer;
use super::worker::Workers;
use super::MediaCounters;
use crate::config::RtspTransport;
use crate::events::{EventTx, MediaEvent};
use crate::sdp::{CameraVideo, VideoCodec};
use crate::supervise::{lock, spawn_supervised};

/// First wait before reconnecting; doubles up to [`RECONNECT_MAX`].
const RECONNECT_MIN: Duration = Duration::from_millis(250);
const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// Opening a camera (connect, DESCRIBE, SETUP, PLAY) gives up after this long.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// A playing session silent for this many flow timeouts is dropped and reopened.
const STALL_FLOW_TIMEOUTS: u32 = 5;

type Playing = retina::client::Session<retina::client::Playing>;

/// What a player needs from the engine.
#[derive(Clone)]
pub struct PlayerDeps {
    pub flow_timeout: Duration,
    pub gop_cache_packets: usize,
    pub events: EventTx,
    pub counters: Arc<MediaCounters>,
    pub workers: Arc<Workers>,
    pub transport: RtspTransport,
}

pub struct Player {
    pub id: String,
    uri: SourceUri,
    deps: PlayerDeps,
    source: Mutex<Option<Arc<RtpSource>>>,
    viewers: Mutex<Vec<Arc<Viewer>>>,
    /// The running `play` task's token, if any.
    playing: Mutex<Option<CancellationToken>>,
    /// Whether a session ever reached PLAY since the last failure (errors are raised once per
    /// outage, not once per retry).
    reported: AtomicBool,
}

/// How a playing session ended.
enum Ended {
    Cancelled,
    /// The server ended the stream (EOF or TEARDOWN).
    EndOfStream,
    Failed(String),
}

impl Player {
    pub fn new(id: String, uri: &str, deps: PlayerDeps) -> Result<Arc<Self>, UriError> {
        let uri = SourceUri::parse(uri)?;
        Ok(Arc::new(Player {
            id,
            uri,
            deps,
            source: Mutex::new(None),
            viewers: Mutex::new(vec![]),
            playing: Mutex::new(None),
            reported: AtomicBool::new(false),
        }))
    }

    /// The camera's stream, once described.
    pub fn source(&self) -> Option<Arc<RtpSource>> {
        lock(&self.source).clone()
    }

    pub fn is_flowing(&self) -> bool {
        self.source().is_some_and(|s| s.is_flowing())
    }

    /// `play`: starts the session task (a no-op while it runs).
    pub fn play(self: &Arc<Self>) {
        let mut playing = lock(&self.playing);
        if playing.is_some() {
            return;
        }
        let cancel = CancellationToken::new();
        *playing = Some(cancel.clone());
        let weak = Arc::downgrade(self);
        let task_cancel = cancel.clone();
        spawn_supervised("rtsp-player", self.deps.counters.faults.clone(), cancel, move || {
            let (weak, cancel) = (weak.clone(), task_cancel.clone());
            async move {
                if let Some(player) = weak.upgrade() {
                    player.run(cancel).await
                }
            }
        });
    }

    /// `stop`/`pause`, and release: ends the session; `play` starts a new one.
    pub fn stop(&self) {
        if let Some(cancel) = lock(&self.playing).take() {
            cancel.cancel();
        }
        if let Some(src) = self.source() {
            src.set_flowing(false);
        }
    }

    /// Releases the player: stops it and lets go of the source and viewers.
    pub fn release(&self) {
        self.stop();
        if let Some(src) = lock(&self.source).take() {
            src.stop();
        }
        lock(&self.viewers).clear();
    }

    pub fn add_viewer(&self, v: &Arc<Viewer>) {
        let mut vs = lock(&self.viewers);
        if !vs.iter().any(|x| x.id == v.id) {
            vs.push(v.clone());
        }
        if let Some(src) = self.source() {
            self.feed_viewer(&src, v);
        }
    }

    /// Feeds `v` from `src`, unless it negotiated another codec (it joined before the camera
    /// was described): this engine never transcodes, so it gets an `Error` and no media.
    fn feed_viewer(&self, src: &Arc<RtpSource>, v: &Arc<Viewer>) {
        if let Some(c) = v.negotiated_codec().filter(|c| *c != src.codec()) {
            let description = format!(
                "the viewer negotiated {} but the RTSP camera sends {}; transcoding is not supported",
                c.name(),
                src.codec().name()
            );
            self.deps.events.emit(&v.id, MediaEvent::Error { description, code: K::ConnectError });
            return;
        }
        src.add_viewer(v);
        v.set_source(Some(src));
    }

    pub fn remove_viewer(&self, id: &str) {
        lock(&self.viewers).retain(|v| v.id != id);
        if let Some(src) = self.source() {
            src.remove_viewer(id);
        }
    }

    /// The camera was described as `video`: keeps the current source when nothing changed,
    /// else puts a new one under every viewer.
    fn use_video(&self, video: CameraVideo) -> Arc<RtpSource> {
        let mut current = lock(&self.source);
        if let Some(src) = current.as_ref().filter(|s| s.video == video) {
            return src.clone();
        }
        let d = &self.deps;
        let src = RtpSource::start_fed(
            self.id.clone(),
            video,
            d.gop_cache_packets,
            d.events.clone(),
            d.counters.clone(),
            d.workers.clone(),
        );
        if let Some(old) = current.replace(src.clone()) {
            old.stop();
        }
        drop(current);
        let viewers = lock(&self.viewers).clone();
        for v in &viewers {
            self.feed_viewer(&src, v);
        }
        src
    }

    async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let mut backoff = Backoff::new(RECONNECT_MIN, RECONNECT_MAX);
        loop {
            let ended = tokio::select! {
                _ = cancel.cancelled() => Ended::Cancelled,
                r = tokio::time::timeout(OPEN_TIMEOUT, self.open()) => match r {
                    Ok(Ok((session, src, params))) => {
                        self.reported.store(false, Ordering::Relaxed);
                        backoff.reset();
                        self.pump(session, &src, params, &cancel).await
                    }
                    Ok(Err(e)) => Ended::Failed(e),
                    Err(_) => Ended::Failed(format!("no answer within {OPEN_TIMEOUT:?}")),
                },
            };
            if let Some(src) = self.source() {
                src.set_flowing(false);
            }
            let wait = backoff.next_wait();
            match ended {
                Ended::Cancelled => return,
                Ended::EndOfStream => {
                    tracing::info!(endpoint = %self.id, source = %self.uri, "RTSP camera ended its stream; reconnecting");
                    self.deps.events.emit(&self.id, MediaEvent::EndOfStream);
                }
                Ended::Failed(why) => {
                    tracing::warn!(endpoint = %self.id, source = %self.uri, error = %why, retry_in = ?wait, "RTSP camera unavailable");
                    if !self.reported.swap(true, Ordering::Relaxed) {
                        let description = format!("cannot play {}: {why}; retrying", self.uri);
                        self.deps.events.emit(&self.id, MediaEvent::Error { description, code: K::ConnectError });
                    }
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// DESCRIBE, SETUP of the first video stream we can forward, PLAY.
    async fn open(&self) -> Result<(Playing, Arc<RtpSource>, ParamSetInjector), String> {
        let options = SessionOptions::default().creds(self.uri.creds()).user_agent("camview-media-engine".into());
        let mut session =
            retina::client::Session::describe(self.uri.url().clone(), options).await.map_err(|e| e.to_string())?;
        let (index, codec, pt) = session
            .streams()
            .iter()
            .enumerate()
            .filter(|(_, s)| s.media() == "video")
            .find_map(|(i, s)| uri::codec_of(s.encoding_name()).map(|c| (i, c, s.rtp_payload_type())))
            .ok_or_else(|| {
                let offered: Vec<String> =
                    session.streams().iter().map(|s| format!("{}/{}", s.media(), s.encoding_name())).collect();
                format!("no H.264 or VP8 video stream (the camera offers {})", offered.join(", "))
            })?;
        let video = uri::camera_video(codec, pt, session.sdp());
        let params = ParamSetInjector::new(video.fmtp.as_deref().filter(|_| codec == VideoCodec::H264));
        session
            .setup(index, SetupOptions::default().transport(transport(self.deps.transport)))
            .await
            .map_err(|e| e.to_string())?;
        let playing = session.play(PlayOptions::default()).await.map_err(|e| e.to_string())?;
        tracing::info!(endpoint = %self.id, source = %self.uri, codec = codec.name(), pt, "RTSP camera playing");
        Ok((playing, self.use_video(video), params))
    }

    /// Forwards the session's RTP packets until it ends, stalls or `cancel` fires.
    async fn pump(
        &self,
        mut session: Playing,
        src: &Arc<RtpSource>,
        mut params: ParamSetInjector,
        cancel: &CancellationToken,
    ) -> Ended {
        let flow_timeout = self.deps.flow_timeout;
        let mut silent_for = 0u32;
        loop {
            let item = tokio::select! {
                _ = cancel.cancelled() => return Ended::Cancelled,
                item = tokio::time::timeout(flow_timeout, session.next()) => item,
            };
            match item {
                Err(_) => {
                    src.set_flowing(false);
                    silent_for += 1;
                    if silent_for >= STALL_FLOW_TIMEOUTS {
                        return Ended::Failed(format!("no media for {:?}", flow_timeout * silent_for));
                    }
                }
                Ok(None) => return Ended::EndOfStream,
                Ok(Some(Err(e))) => return Ended::Failed(e.to_string()),
                Ok(Some(Ok(PacketItem::Rtp(pkt)))) => {
                    silent_for = 0;
                    for p in params.process(pkt.raw()) {
                        src.feed(&p);
                    }
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}

fn transport(t: RtspTransport) -> Transport {
    match t {
        RtspTransport::Tcp => Transport::Tcp(Default::default()),
        RtspTransport::Udp => Transport::Udp(Default::default()),
    }
}
