//! Target (b): the whole split stack as processes (redis-server, camview-media-engine,
//! camview-media-controller, camview-api, camview-signaling). The loadgen logs in as the admin
//! (`POST /auth/login`), starts the stream through the API, and every viewer joins through its
//! own signaling WebSocket (`join` with the token, `ice` both ways) as the viewer page does.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use camview_proto::rest::StreamView;
use camview_proto::signaling::{ClientMessage, ServerMessage};
use camview_proto::stream::{IceCandidate, StreamState};
use futures_util::{SinkExt, StreamExt};
use tokio::task::AbortHandle;
use tokio_tungstenite::tungstenite::Message;

use super::engine::engine_env;
use super::{free_port, wait_tcp, ServerSettings, TargetError};
use crate::procs::{wait_until, Proc};
use crate::viewers::Pool;

const CAMERA: &str = "bench";
const ADMIN_PASSWORD: &str = "camview-bench-admin";

pub struct StackTarget {
    procs: Vec<Proc>,
    api: String,
    signaling: String,
    token: String,
    rtp: SocketAddr,
    http: reqwest::Client,
    /// Viewer sockets stay open until the target is dropped.
    sockets: std::sync::Mutex<Vec<AbortHandle>>,
    _data_dir: TempDir,
}

/// A directory removed on drop (the API's and signaling's CAMVIEW_DATA_DIR).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl StackTarget {
    pub async fn start(s: &ServerSettings) -> Result<StackTarget, TargetError> {
        let data = TempDir(s.log_dir.join("stack-data"));
        std::fs::create_dir_all(&data.0).map_err(|e| TargetError::Setup(format!("{}: {e}", data.0.display())))?;
        let mut procs = Vec::new();
        let redis_port = free_port()?;
        let mut redis = crate::procs::Proc::spawn(
            "redis",
            std::path::Path::new("redis-server"),
            &["--port", &redis_port.to_string(), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]
                .map(String::from),
            &[],
            s.cpus.as_deref(),
            &s.log_dir,
        )?;
        wait_tcp(&mut redis, redis_port, Duration::from_secs(10)).await?;
        procs.push(redis);
        let redis_env = || {
            vec![
                ("REDIS_URL", format!("redis://127.0.0.1:{redis_port}")),
                ("REDIS_KEY_PREFIX", "bench:".to_string()),
                ("RUST_LOG", "warn".into()),
            ]
        };

        let (ws, rtc) = (free_port()?, free_port()?);
        let mut engine = s.spawn("media-engine", "camview-media-engine", engine_env(ws, rtc))?;
        wait_tcp(&mut engine, ws, Duration::from_secs(20)).await?;
        procs.push(engine);

        let mut env = redis_env();
        env.extend([
            ("KURENTO_WS_URL", format!("ws://127.0.0.1:{ws}/kurento")),
            ("EXTERNAL_IP", "127.0.0.1".into()),
            ("STUN_SERVERS", "none".into()),
            ("METRICS_ADDR", "127.0.0.1:0".into()),
        ]);
        procs.push(s.spawn("media-controller", "camview-media-controller", env)?);

        let (api_port, sig_port) = (free_port()?, free_port()?);
        let data_dir = data.0.display().to_string();
        let mut env = redis_env();
        env.extend([
            ("CAMVIEW_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("CAMVIEW_DATA_DIR", data_dir.clone()),
            ("API_SERVER_HOST", "127.0.0.1".into()),
            ("API_SERVER_PORT", api_port.to_string()),
            ("STUN_SERVERS", "none".into()),
        ]);
        procs.push(s.spawn("api", "camview-api", env)?);

        let mut env = redis_env();
        env.extend([
            ("CAMVIEW_DATA_DIR", data_dir),
            ("SIGNALING_SERVER_HOST", "127.0.0.1".into()),
            ("SIGNALING_SERVER_PORT", sig_port.to_string()),
            // The benchmark is one client address opening thousands of sockets.
            ("MAX_VIEWERS_PER_STREAM", "10000".into()),
            ("SIGNALING_MAX_CONNECTIONS", "1000000".into()),
            ("SIGNALING_UPGRADE_RATE_PER_SECOND", "100000".into()),
            ("SIGNALING_UPGRADE_BURST", "100000".into()),
        ]);
        let mut signaling = s.spawn("signaling", "camview-signaling", env)?;
        wait_tcp(&mut signaling, sig_port, Duration::from_secs(20)).await?;
        procs.push(signaling);

        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| TargetError::Setup(e.to_string()))?;
        let api = format!("http://127.0.0.1:{api_port}");
        let healthy = wait_until(Duration::from_secs(30), || async {
            http.get(format!("{api}/health")).send().await.is_ok_and(|r| r.status().is_success())
        })
        .await;
        if !healthy {
            let logs: Vec<String> = procs.iter().map(|p| format!("--- {}\n{}", p.name, p.tail(10))).collect();
            return Err(TargetError::NotReady {
                what: "GET /health".into(),
                limit: Duration::from_secs(30),
                log: logs.join("\n"),
            });
        }
        let token = login(&http, &api).await?;
        let started = http
            .post(format!("{api}/streams/{CAMERA}/start"))
            .bearer_auth(&token)
            .json(&serde_json::json!({}))
            .send()
            .await;
        let record: StreamView = match started {
            Ok(r) if r.status().is_success() => {
                r.json().await.map_err(|e| TargetError::Setup(format!("start answer: {e}")))?
            }
            Ok(r) => {
                return Err(TargetError::Setup(format!(
                    "POST /streams/{CAMERA}/start: {} {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                )))
            }
            Err(e) => return Err(TargetError::Setup(format!("POST /streams/{CAMERA}/start: {e}"))),
        };
        let target = record.rtp.ok_or_else(|| TargetError::Setup("the started stream has no RTP target".into()))?;
        let host: IpAddr = target
            .host
            .parse()
            .map_err(|_| TargetError::Setup(format!("RTP host {} is not an address", target.host)))?;
        Ok(StackTarget {
            procs,
            api,
            signaling: format!("ws://127.0.0.1:{sig_port}/ws"),
            token,
            rtp: SocketAddr::new(host, target.port),
            http,
            sockets: Default::default(),
            _data_dir: data,
        })
    }

    pub fn rtp_destination(&self) -> SocketAddr {
        self.rtp
    }

    pub fn processes(&self) -> Vec<&Proc> {
        self.procs.iter().collect()
    }

    pub fn processes_mut(&mut self) -> Vec<&mut Proc> {
        self.procs.iter_mut().collect()
    }

    /// Waits until the API shows the stream live (the engine saw the camera's media).
    pub async fn wait_live(&self) -> Result<(), TargetError> {
        let url = format!("{}/streams/{CAMERA}", self.api);
        let live = wait_until(Duration::from_secs(20), || async {
            match self.http.get(&url).bearer_auth(&self.token).send().await {
                Ok(r) => r.json::<StreamView>().await.is_ok_and(|s| s.state == StreamState::Live),
                Err(_) => false,
            }
        })
        .await;
        if live {
            Ok(())
        } else {
            Err(TargetError::NotReady {
                what: format!("stream {CAMERA} live"),
                limit: Duration::from_secs(20),
                log: String::new(),
            })
        }
    }

    pub async fn join(&self, pool: &Arc<Pool>) -> Result<(), String> {
        let (mut ws, _) =
            tokio_tungstenite::connect_async(&self.signaling).await.map_err(|e| format!("signaling WebSocket: {e}"))?;
        let mut v = pool.new_viewer().map_err(|e| e.to_string())?;
        let offer = v.offer();
        let join = ClientMessage::Join { camera: CAMERA.into(), sdp_offer: offer, token: Some(self.token.clone()) };
        ws.send(Message::text(json(&join))).await.map_err(|e| format!("join: {e}"))?;
        let mut early = Vec::new();
        let answered = loop {
            let msg =
                ws.next().await.ok_or("signaling closed before the answer")?.map_err(|e| format!("signaling: {e}"))?;
            let Message::Text(text) = msg else { continue };
            match serde_json::from_str::<ServerMessage>(&text) {
                Ok(ServerMessage::Answer { sdp_answer, .. }) => {
                    let at = Instant::now();
                    v.accept(&sdp_answer).map_err(|e| format!("answer refused: {e}"))?;
                    break at;
                }
                Ok(ServerMessage::Ice(c)) => early.push(c.candidate),
                Ok(ServerMessage::Error { code, message }) => {
                    return Err(format!("signaling error {code:?}: {message}"))
                }
                _ => {}
            }
        };
        for c in early {
            let _ = v.add_remote_candidate(&c);
        }
        let ours = ClientMessage::Ice(IceCandidate {
            candidate: v.candidate(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        });
        ws.send(Message::text(json(&ours))).await.map_err(|e| format!("ice: {e}"))?;
        let r = pool.activate(v, answered);
        let pool = pool.clone();
        // The socket stays open (closing it leaves the stream); later candidates go to the worker.
        let task = tokio::spawn(async move {
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Text(text) = msg {
                    if let Ok(ServerMessage::Ice(c)) = serde_json::from_str::<ServerMessage>(&text) {
                        pool.add_candidate(r, c.candidate);
                    }
                }
            }
        });
        self.sockets.lock().expect("sockets poisoned").push(task.abort_handle());
        Ok(())
    }
}

impl Drop for StackTarget {
    fn drop(&mut self) {
        for t in self.sockets.lock().expect("sockets poisoned").drain(..) {
            t.abort();
        }
    }
}

fn json(m: &ClientMessage) -> String {
    serde_json::to_string(m).expect("signaling messages serialize")
}

async fn login(http: &reqwest::Client, api: &str) -> Result<String, TargetError> {
    let body = camview_proto::auth::LoginRequest { username: "admin".into(), password: ADMIN_PASSWORD.into() };
    let r = http
        .post(format!("{api}/auth/login"))
        .json(&body)
        .send()
        .await
        .map_err(|e| TargetError::Setup(format!("POST /auth/login: {e}")))?;
    if !r.status().is_success() {
        return Err(TargetError::Setup(format!("POST /auth/login: {}", r.status())));
    }
    let v: serde_json::Value = r.json().await.map_err(|e| TargetError::Setup(format!("login answer: {e}")))?;
    v["token"].as_str().map(String::from).ok_or_else(|| TargetError::Setup("login answer has no token".into()))
}
