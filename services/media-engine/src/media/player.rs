//! The PlayerEndpoint of an RTSP camera: `play` starts one supervised task that opens the camera
//! with `retina` (DESCRIBE, SETUP of the video stream over TCP-interleaved transport, PLAY) and
//! hands each raw RTP packet, untouched (no depacketizing, no transcoding), to a fed
//! [`RtpSource`]: the same fan-out, fast-start cache and workers as a pushed camera's
//! RtpEndpoint. When the camera ends its stream (the connection closed, TEARDOWN) the flow
//! events say NOT_FLOWING and, as Kurento's player, it raises `EndOfStream` and stops until the
//! next `play`. When it cannot be opened, fails or falls silent, the task retries with
//! exponential back-off; media resumes with FLOWING. A failure to open the camera is an
//! `Error` event naming the redacted URI.
//!
//! Viewers connected before the camera was described wait in the player's list and are fed
//! once the source exists; a reconnect that finds the same codec keeps the source (viewers go
//! on), another codec replaces it under every viewer. Credentials live only in the
//! [`SourceUri`], which prints itself redacted.
//!
//! The camera's audio, when it is G.711 or Opus (`audio`), is set up beside the video and fed,
//! untouched, to a second source that viewers connected for AUDIO receive, as a pushed
//! camera's audio; other audio (AAC) is only described, so `getStats` can name it.

mod audio;
mod params;
mod uri;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camview_proto::kurento::KurentoErrorCode as K;
use futures_util::StreamExt;
use retina::client::{PacketItem, PlayOptions, SessionOptions, SetupOptions, Transport};
use tokio_util::sync::CancellationToken;

pub use audio::{choose_audio, CameraAudioInfo, DescribedStream};
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
    /// The camera's audio as last described, with its fed source when forwardable.
    audio: Mutex<Option<(CameraAudioInfo, Option<Arc<RtpSource>>)>>,
    /// Viewers connected for AUDIO.
    audio_viewers: Mutex<Vec<Arc<Viewer>>>,
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
            audio: Mutex::new(None),
            audio_viewers: Mutex::new(vec![]),
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
        if let Some((_, Some(src))) = lock(&self.audio).take() {
            src.stop();
        }
        lock(&self.viewers).clear();
        lock(&self.audio_viewers).clear();
    }

    /// The camera's audio as described (forwardable or not), once it was.
    pub fn camera_audio(&self) -> Option<CameraAudioInfo> {
        lock(&self.audio).as_ref().map(|(info, _)| info.clone())
    }

    /// The source of the camera's forwarded audio, once described.
    pub fn audio_source(&self) -> Option<Arc<RtpSource>> {
        lock(&self.audio).as_ref().and_then(|(_, src)| src.clone())
    }

    /// Connects `v` for AUDIO: it receives the camera's audio once described (and offered by
    /// its browser: see the viewer's answer).
    pub fn add_audio_viewer(&self, v: &Arc<Viewer>) {
        let mut vs = lock(&self.audio_viewers);
        if !vs.iter().any(|x| x.id == v.id) {
            vs.push(v.clone());
        }
        drop(vs);
        if let Some(src) = self.audio_source() {
            src.add_viewer(v);
            v.set_audio_source(Some(&src));
        }
    }

    pub fn remove_audio_viewer(&self, id: &str) {
        lock(&self.audio_viewers).retain(|v| v.id != id);
        if let Some(src) = self.audio_source() {
            src.remove_viewer(id);
        }
    }

    /// The camera's audio was described as `info`: keeps the current audio source when the
    /// codec and payload type are unchanged, else puts a new one (or none) under every viewer
    /// connected for AUDIO.
    fn use_audio(&self, info: Option<CameraAudioInfo>) -> Option<Arc<RtpSource>> {
        let mut current = lock(&self.audio);
        let same =
            |src: &Arc<RtpSource>, info: &CameraAudioInfo| src.audio == info.codec && src.video.pt == info.payload_type;
        if let (Some((_, Some(src))), Some(info)) = (current.as_ref(), info.as_ref()) {
            if same(src, info) {
                let src = src.clone();
                *current = Some((info.clone(), Some(src.clone())));
                return Some(src);
            }
        }
        let d = &self.deps;
        let src = info.as_ref().and_then(|i| {
            let codec = i.codec?;
            let (events, counters, workers) = (d.events.clone(), d.counters.clone(), d.workers.clone());
            Some(RtpSource::start_fed_audio(self.id.clone(), i.payload_type, codec, events, counters, workers))
        });
        if let Some((_, Some(old))) = std::mem::replace(&mut *current, info.map(|i| (i, src.clone()))) {
            old.stop();
        }
        drop(current);
        for v in lock(&self.audio_viewers).clone() {
            match &src {
                Some(src) => {
                    src.add_viewer(&v);
                    v.set_audio_source(Some(src));
                }
                None => v.set_audio_source(None),
            }
        }
        src
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
                    Ok(Ok(opened)) => {
                        self.reported.store(false, Ordering::Relaxed);
                        backoff.reset();
                        self.pump(opened, &cancel).await
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
                    // As Kurento's player: stopped at the end of its stream until the next
                    // `play` (the controller sends it on `EndOfStream`, see its `pulled.rs`).
                    {
                        let mut playing = lock(&self.playing);
                        if cancel.is_cancelled() {
                            return;
                        }
                        *playing = None;
                    }
                    tracing::info!(endpoint = %self.id, source = %self.uri, "RTSP camera ended its stream; stopped until the next play");
                    self.deps.events.emit(&self.id, MediaEvent::EndOfStream);
                    return;
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

    /// DESCRIBE, SETUP of the first video stream we can forward (and of its G.711/Opus audio
    /// stream, if any), PLAY.
    async fn open(&self) -> Result<Opened, String> {
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
        let mut audio = choose_audio(session.streams().iter().map(|s| DescribedStream {
            media: s.media(),
            encoding_name: s.encoding_name(),
            clock_rate: s.clock_rate_hz(),
            channels: s.channels().map(|c| c.get()),
            payload_type: s.rtp_payload_type(),
        }));
        let setup = || SetupOptions::default().transport(transport(self.deps.transport));
        session.setup(index, setup()).await.map_err(|e| e.to_string())?;
        if let Some(a) = audio.as_ref().filter(|a| a.codec.is_some()) {
            if let Err(e) = session.setup(a.index, setup()).await {
                tracing::warn!(endpoint = %self.id, source = %self.uri, error = %e, "the camera's audio stream could not be set up; its video plays alone");
                audio = None;
            }
        }
        let playing = session.play(PlayOptions::default()).await.map_err(|e| e.to_string())?;
        let audio_encoding = audio.as_ref().map(|a| a.encoding.as_str()).unwrap_or("none");
        tracing::info!(endpoint = %self.id, source = %self.uri, codec = codec.name(), pt, audio = audio_encoding, "RTSP camera playing");
        let audio_index = audio.as_ref().filter(|a| a.codec.is_some()).map(|a| a.index);
        let audio_src = self.use_audio(audio);
        Ok(Opened {
            session: playing,
            video: (index, self.use_video(video)),
            params,
            audio: audio_index.zip(audio_src),
        })
    }

    /// Forwards the session's RTP packets until it ends, stalls or `cancel` fires.
    async fn pump(&self, opened: Opened, cancel: &CancellationToken) -> Ended {
        let Opened { mut session, video: (video_index, src), mut params, audio } = opened;
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
                Ok(Some(Ok(PacketItem::Rtp(pkt)))) if pkt.stream_id() == video_index => {
                    silent_for = 0;
                    for p in params.process(pkt.raw()) {
                        src.feed(&p);
                    }
                }
                Ok(Some(Ok(PacketItem::Rtp(pkt)))) => {
                    if let Some((_, a)) = audio.as_ref().filter(|(i, _)| *i == pkt.stream_id()) {
                        a.feed(pkt.raw());
                    }
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }
}

/// An opened camera: its playing session, the video stream's index and source, the parameter
/// set injector of its H.264, and its forwarded audio stream's index and source.
struct Opened {
    session: Playing,
    video: (usize, Arc<RtpSource>),
    params: ParamSetInjector,
    audio: Option<(usize, Arc<RtpSource>)>,
}

fn transport(t: RtspTransport) -> Transport {
    match t {
        RtspTransport::Tcp => Transport::Tcp(Default::default()),
        RtspTransport::Udp => Transport::Udp(Default::default()),
    }
}
