//! Target (c): Janus (Debian's 1.1.2) with its streaming plugin, one RTP mountpoint fed by the
//! camera relay, viewers over Janus' WebSocket API (one socket carrying every session):
//! `create`, `attach` janus.plugin.streaming, `watch` (Janus sends the offer), `start` with the
//! viewer's answer. Janus' ICE (libnice) gathers nothing on `lo`, so it runs on an `ifb` device
//! with a second loopback address, and the viewers bind that address too (set up by
//! scripts/bench inside its network namespace).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::{free_port, wait_tcp, ServerSettings, TargetError};
use crate::procs::Proc;
use crate::viewers::{Addressing, Pool};

const LIB: &str = "/usr/lib/x86_64-linux-gnu/janus";
const MOUNTPOINT: u64 = 1;

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;
type Routes = Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<String>>>>;

pub struct JanusTarget {
    janus: Proc,
    rtp_port: u16,
    ip: Ipv4Addr,
    out: mpsc::UnboundedSender<String>,
    pending: Pending,
    routes: Routes,
    next: AtomicU64,
}

impl JanusTarget {
    pub async fn start(s: &ServerSettings) -> Result<JanusTarget, TargetError> {
        let dir = s.log_dir.join("janus-config");
        let (ws_port, rtp_port) = (free_port()?, free_port()?);
        write_config(&dir, &s.janus_iface, ws_port, rtp_port)
            .map_err(|e| TargetError::Setup(format!("Janus config in {}: {e}", dir.display())))?;
        let args = vec![
            "-F".to_string(),
            dir.display().to_string(),
            "-C".into(),
            dir.join("janus.jcfg").display().to_string(),
        ];
        let mut janus = Proc::spawn("janus", &s.janus, &args, &[], s.cpus.as_deref(), &s.log_dir)?;
        wait_tcp(&mut janus, ws_port, Duration::from_secs(20)).await?;
        let mut req = format!("ws://127.0.0.1:{ws_port}/")
            .into_client_request()
            .map_err(|e| TargetError::Setup(e.to_string()))?;
        req.headers_mut().insert("Sec-WebSocket-Protocol", "janus-protocol".parse().expect("a valid header value"));
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .map_err(|e| TargetError::Setup(format!("Janus WebSocket: {e}")))?;
        let (mut sink, mut stream) = ws.split();
        let (out, mut rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(text) = rx.recv().await {
                if sink.send(Message::text(text)).await.is_err() {
                    return;
                }
            }
        });
        let (pending, routes): (Pending, Routes) = Default::default();
        let (p, r) = (pending.clone(), routes.clone());
        tokio::spawn(async move {
            while let Some(Ok(msg)) = stream.next().await {
                if let Message::Text(text) = msg {
                    if let Ok(v) = serde_json::from_str::<Value>(&text) {
                        dispatch(v, &p, &r);
                    }
                }
            }
        });
        Ok(JanusTarget { janus, rtp_port, ip: s.janus_ip, out, pending, routes, next: AtomicU64::new(1) })
    }

    pub fn rtp_destination(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.rtp_port)
    }

    pub fn addressing(&self) -> Addressing {
        Addressing::PerViewer(self.ip)
    }

    pub fn processes(&self) -> Vec<&Proc> {
        vec![&self.janus]
    }

    pub fn processes_mut(&mut self) -> Vec<&mut Proc> {
        vec![&mut self.janus]
    }

    /// Sends a request and waits for its answer (`success`, `event` or `error`; acks skipped).
    async fn call(&self, mut body: Value) -> Result<Value, String> {
        let t = format!("t{}", self.next.fetch_add(1, Ordering::Relaxed));
        body["transaction"] = Value::String(t.clone());
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending poisoned").insert(t, tx);
        self.out.send(body.to_string()).map_err(|_| "Janus WebSocket closed")?;
        let v = tokio::time::timeout(Duration::from_secs(30), rx)
            .await
            .map_err(|_| "no Janus answer in 30 s")?
            .map_err(|_| "Janus WebSocket closed")?;
        if v["janus"] == "error" {
            return Err(format!("Janus error: {}", v["error"]));
        }
        if let Some(err) = v["plugindata"]["data"].get("error") {
            return Err(format!("streaming plugin error: {err}"));
        }
        Ok(v)
    }

    pub async fn join(&self, pool: &Arc<Pool>) -> Result<(), String> {
        let session =
            self.call(json!({"janus": "create"})).await?["data"]["id"].as_u64().ok_or("create: no session id")?;
        let handle = self
            .call(json!({"janus": "attach", "session_id": session, "plugin": "janus.plugin.streaming"}))
            .await?["data"]["id"]
            .as_u64()
            .ok_or("attach: no handle id")?;
        let (tx, mut candidates) = mpsc::unbounded_channel();
        self.routes.lock().expect("routes poisoned").insert(handle, tx);
        let mut v = pool.new_viewer().map_err(|e| e.to_string())?;
        v.start_clock();
        let watch = json!({"janus": "message", "session_id": session, "handle_id": handle, "body": {"request": "watch", "id": MOUNTPOINT}});
        let event = self.call(watch).await?;
        let answered = Instant::now();
        let offer = event["jsep"]["sdp"].as_str().ok_or_else(|| format!("watch: no offer in {event}"))?;
        let answer = v.answer(offer).map_err(|e| format!("Janus offer refused: {e}"))?;
        while let Ok(c) = candidates.try_recv() {
            let _ = v.add_remote_candidate(&c);
        }
        let ours = v.candidate();
        let start = json!({"janus": "message", "session_id": session, "handle_id": handle, "body": {"request": "start"}, "jsep": {"type": "answer", "sdp": answer}});
        let r = pool.activate(v, answered);
        self.call(start).await?;
        for candidate in [json!({"candidate": ours, "sdpMid": "v", "sdpMLineIndex": 0}), json!({"completed": true})] {
            let trickle = json!({"janus": "trickle", "session_id": session, "handle_id": handle, "transaction": "trickle", "candidate": candidate});
            let _ = self.out.send(trickle.to_string());
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            while let Some(c) = candidates.recv().await {
                pool.add_candidate(r, c);
            }
        });
        Ok(())
    }
}

/// Answers go to their caller by transaction; trickled candidates to the viewer of the handle.
fn dispatch(v: Value, pending: &Pending, routes: &Routes) {
    match v["janus"].as_str() {
        Some("ack") => {}
        Some("trickle") => {
            let (Some(handle), Some(c)) = (v["sender"].as_u64(), v["candidate"]["candidate"].as_str()) else { return };
            if let Some(tx) = routes.lock().expect("routes poisoned").get(&handle) {
                let _ = tx.send(c.to_string());
            }
        }
        _ => {
            let Some(t) = v["transaction"].as_str() else { return };
            if let Some(tx) = pending.lock().expect("pending poisoned").remove(t) {
                let _ = tx.send(v);
            }
        }
    }
}

/// janus.jcfg (only the streaming plugin and the WebSocket transport loaded), the transport's
/// and the plugin's configuration with one H.264 RTP mountpoint.
fn write_config(dir: &Path, iface: &str, ws_port: u16, rtp_port: u16) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let others = |sub: &str, keep: &str| -> std::io::Result<String> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(format!("{LIB}/{sub}"))? {
            let name = e?.file_name().to_string_lossy().into_owned();
            if name.ends_with(".so") && name != keep {
                names.push(name);
            }
        }
        Ok(names.join(","))
    };
    let mut main = String::new();
    let _ = write!(
        main,
        "general: {{\n  configs_folder = \"{dir}\"\n  plugins_folder = \"{LIB}/plugins\"\n  transports_folder = \"{LIB}/transports\"\n  \
         events_folder = \"{LIB}/events\"\n  loggers_folder = \"{LIB}/loggers\"\n  debug_level = 3\n  session_timeout = 0\n  \
         server_name = \"camview-bench\"\n}}\n\
         media: {{\n  rtp_port_range = \"20000-40000\"\n}}\n\
         nat: {{\n  ice_enforce_list = \"{iface}\"\n}}\n\
         plugins: {{\n  disable = \"{}\"\n}}\n\
         transports: {{\n  disable = \"{}\"\n}}\n\
         events: {{\n  broadcast = false\n}}\n",
        others("plugins", "libjanus_streaming.so")?,
        others("transports", "libjanus_websockets.so")?,
        dir = dir.display()
    );
    std::fs::write(dir.join("janus.jcfg"), main)?;
    std::fs::write(
        dir.join("janus.transport.websockets.jcfg"),
        format!("general: {{\n  json = \"compact\"\n  ws = true\n  ws_port = {ws_port}\n  ws_ip = \"127.0.0.1\"\n  wss = false\n}}\nadmin: {{\n  admin_ws = false\n  admin_wss = false\n}}\n"),
    )?;
    std::fs::write(
        dir.join("janus.plugin.streaming.jcfg"),
        format!(
            "general: {{\n}}\nbench: {{\n  type = \"rtp\"\n  id = {MOUNTPOINT}\n  description = \"camview bench\"\n  audio = false\n  video = true\n  \
             videoport = {rtp_port}\n  videopt = 96\n  videocodec = \"h264\"\n  videofmtp = \"profile-level-id=42e01f;packetization-mode=1\"\n  \
             videobufferkf = true\n}}\n"
        ),
    )?;
    Ok(())
}
