//! The servers under test. Each target starts its processes (pinned to the server CPU), sets
//! up one stream fed by the camera relay, and joins viewers through its own signaling.

pub mod engine;
pub mod janus;
pub mod stack;

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::procs::{Proc, ProcError};
use crate::viewers::{Addressing, Pool, PoolError};

/// Which server a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// camview-media-engine driven directly over Kurento JSON-RPC.
    Engine,
    /// Redis, api, signaling, media-controller and media-engine as processes; viewers join
    /// through signaling's WebSocket.
    Stack,
    /// Janus 1.1.2's streaming plugin (RTP mountpoint), over its WebSocket API.
    Janus,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Engine => "engine",
            Kind::Stack => "stack",
            Kind::Janus => "janus",
        }
    }
}

/// Where the servers come from and how they run.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Directory of the camview binaries.
    pub bin_dir: PathBuf,
    pub janus: PathBuf,
    /// `taskset -c` list for every server process.
    pub cpus: Option<String>,
    pub log_dir: PathBuf,
    /// Janus' ICE interface and its address (the viewers bind it too).
    pub janus_iface: String,
    pub janus_ip: Ipv4Addr,
}

impl ServerSettings {
    fn spawn(&self, name: &str, bin: &str, env: Vec<(&str, String)>) -> Result<Proc, ProcError> {
        let env: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        Proc::spawn(name, &self.bin_dir.join(bin), &[], &env, self.cpus.as_deref(), &self.log_dir)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Proc(#[from] ProcError),
    #[error("{what} did not become ready within {limit:?}; last log lines:\n{log}")]
    NotReady { what: String, limit: Duration, log: String },
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Pool(#[from] PoolError),
}

/// A running target.
pub enum Target {
    Engine(engine::EngineTarget),
    Stack(stack::StackTarget),
    Janus(janus::JanusTarget),
}

impl Target {
    pub async fn start(kind: Kind, s: &ServerSettings) -> Result<Target, TargetError> {
        Ok(match kind {
            Kind::Engine => Target::Engine(engine::EngineTarget::start(s).await?),
            Kind::Stack => Target::Stack(stack::StackTarget::start(s).await?),
            Kind::Janus => Target::Janus(janus::JanusTarget::start(s).await?),
        })
    }

    /// Where the camera relay sends RTP.
    pub fn rtp_destination(&self) -> SocketAddr {
        match self {
            Target::Engine(t) => t.rtp_destination(),
            Target::Stack(t) => t.rtp_destination(),
            Target::Janus(t) => t.rtp_destination(),
        }
    }

    /// How its viewers must be addressed.
    pub fn addressing(&self) -> Addressing {
        match self {
            Target::Janus(t) => t.addressing(),
            _ => Addressing::Shared,
        }
    }

    /// The measured processes.
    pub fn processes(&self) -> Vec<&Proc> {
        match self {
            Target::Engine(t) => t.processes(),
            Target::Stack(t) => t.processes(),
            Target::Janus(t) => t.processes(),
        }
    }

    /// Called once the camera sends: waits until the server reports the stream usable.
    pub async fn wait_stream_ready(&self) -> Result<(), TargetError> {
        match self {
            Target::Stack(t) => t.wait_live().await,
            _ => Ok(()),
        }
    }

    /// Joins one viewer; returns when the server's SDP has been applied and the viewer handed
    /// to its worker (media and trickled candidates follow there).
    pub async fn join(self: &Arc<Self>, pool: &Arc<Pool>) -> Result<(), String> {
        match &**self {
            Target::Engine(t) => t.join(pool).await,
            Target::Stack(t) => t.join(pool).await,
            Target::Janus(t) => t.join(pool).await,
        }
    }

    /// A line naming every server process that has exited, if any.
    pub fn dead_processes(&mut self) -> Option<String> {
        let procs = match self {
            Target::Engine(t) => t.processes_mut(),
            Target::Stack(t) => t.processes_mut(),
            Target::Janus(t) => t.processes_mut(),
        };
        let dead: Vec<String> = procs
            .into_iter()
            .filter_map(|p| p.exited().map(|st| format!("{} exited ({st}):\n{}", p.name, p.tail(20))))
            .collect();
        (!dead.is_empty()).then(|| dead.join("\n"))
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16, TargetError> {
    let l =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| TargetError::Setup(format!("no free port: {e}")))?;
    Ok(l.local_addr().map_err(|e| TargetError::Setup(e.to_string()))?.port())
}

/// Waits until 127.0.0.1:port accepts TCP connections while `proc` runs.
pub async fn wait_tcp(proc: &mut Proc, port: u16, limit: Duration) -> Result<(), TargetError> {
    let deadline = Instant::now() + limit;
    loop {
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(());
        }
        if proc.exited().is_some() || Instant::now() > deadline {
            return Err(TargetError::NotReady {
                what: format!("{} on port {port}", proc.name),
                limit,
                log: proc.tail(20),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
