//! The engine as a media node of a multi-node deployment: when `REDIS_URL` is set, it writes
//! its own [`MediaNode`] record (address, capacity, live load) into the registry every
//! heartbeat period, so controllers can place streams by load (docs/placement.md, "Node
//! records and heartbeats"). Without `REDIS_URL` nothing of this runs.
//!
//! This file is sans-IO: the settings, the load from the engine's counters and the record;
//! [`heartbeat`] is the thin loop that writes it.

pub mod heartbeat;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use camview_common::config::{ConfigError, Reader, RedisConfig};
use camview_proto::node::{MediaNode, NodeCapacity, NodeKind, NodeLoad};

/// Default heartbeat period (`NODE_HEARTBEAT_MS`).
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(2);
/// A record lives this many periods: one or two lost heartbeats do not drop the node.
pub const TTL_PERIODS: u32 = 3;

/// Where and how the engine publishes its heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSettings {
    /// `REDIS_URL`, `REDIS_KEY_PREFIX`, `REDIS_TLS_*`.
    pub redis: RedisConfig,
    /// `NODE_ID`, default `HOSTNAME` (the pod or container name), else `engine-<EXTERNAL_IP>`.
    pub node_id: String,
    /// `NODE_RPC_URL`: where controllers reach the JSON-RPC server; default
    /// `ws://<EXTERNAL_IP>:<listening port>/<ENGINE_WS_PATH>`.
    pub rpc_url: Option<String>,
    /// `NODE_CAPACITY_STREAMS`, `NODE_CAPACITY_VIEWERS`, `NODE_CAPACITY_BITRATE` (kbit/s),
    /// `NODE_CAPACITY_CPU` (percent); unset: no limit declared.
    pub capacity: NodeCapacity,
    /// `NODE_HEARTBEAT_MS`, default 2000; the record lives [`TTL_PERIODS`] periods.
    pub period: Duration,
}

impl NodeSettings {
    /// The node settings, or `None` when `REDIS_URL` is unset (a single engine, as before).
    pub fn from_reader(r: &Reader<'_>, external_ip: IpAddr) -> Result<Option<Self>, ConfigError> {
        if r.raw("REDIS_URL").is_none() {
            return Ok(None);
        }
        let redis = RedisConfig::from_reader(r)?;
        let node_id = r.raw("NODE_ID").or_else(|| r.raw("HOSTNAME")).unwrap_or_else(|| format!("engine-{external_ip}"));
        check_node_id(&node_id).map_err(|reason| ConfigError::new("NODE_ID", &node_id, reason))?;
        let rpc_url = r.raw("NODE_RPC_URL");
        if let Some(url) = &rpc_url {
            if !(url.starts_with("ws://") || url.starts_with("wss://")) || url::Url::parse(url).is_err() {
                return Err(ConfigError::new("NODE_RPC_URL", url, "expected a ws:// or wss:// URL"));
            }
        }
        let limit = |name: &str| -> Result<Option<u64>, ConfigError> {
            match r.parse_opt::<u64>(name)? {
                Some(0) => Err(ConfigError::new(name, "0", "must be at least 1; leave it unset for no limit")),
                v => Ok(v),
            }
        };
        let to_u32 = |name: &str, v: Option<u64>| -> Result<Option<u32>, ConfigError> {
            v.map(|v| u32::try_from(v).map_err(|_| ConfigError::new(name, &v.to_string(), "too large"))).transpose()
        };
        let cpu_percent = match r.parse_opt::<f64>("NODE_CAPACITY_CPU")? {
            Some(p) if !(p > 0.0 && p <= 100.0) => {
                return Err(ConfigError::new("NODE_CAPACITY_CPU", &p.to_string(), "a percent above 0, at most 100"))
            }
            p => p,
        };
        let capacity = NodeCapacity {
            streams: to_u32("NODE_CAPACITY_STREAMS", limit("NODE_CAPACITY_STREAMS")?)?,
            viewers: to_u32("NODE_CAPACITY_VIEWERS", limit("NODE_CAPACITY_VIEWERS")?)?,
            bitrate_kbps: limit("NODE_CAPACITY_BITRATE")?,
            cpu_percent,
        };
        let period = Duration::from_millis(r.ranged("NODE_HEARTBEAT_MS", 2000, 100, 60_000)?);
        Ok(Some(Self { redis, node_id, rpc_url, capacity, period }))
    }

    /// How long one heartbeat keeps the node listed.
    pub fn ttl(&self) -> Duration {
        self.period * TTL_PERIODS
    }
}

/// A node id goes into Redis key names and logs: short, no spaces or key separators beyond `-`,
/// `_` and `.`.
fn check_node_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() || id.len() > 128 {
        return Err("must hold 1 to 128 characters");
    }
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err("only letters, digits, '-', '_' and '.'");
    }
    Ok(())
}

/// The default JSON-RPC URL of an engine listening on `ws_addr`, reached at `external_ip`.
pub fn default_rpc_url(external_ip: IpAddr, ws_addr: SocketAddr, path: &str) -> String {
    format!("ws://{}/{path}", SocketAddr::new(external_ip, ws_addr.port()))
}

/// What the engine's counters say at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Counters {
    /// Camera sources: RtpEndpoints that are not sinks, PlayerEndpoints.
    pub streams: u32,
    /// WebRtcEndpoints.
    pub viewers: u32,
    /// RTP payload bytes sent so far (a counter).
    pub bytes_out: u64,
    /// CPU percent of all cores (the CPU meter's last period).
    pub cpu_percent: f64,
}

/// Turns counter samples into the load of the period since the previous sample.
#[derive(Debug, Default)]
pub struct LoadMeter {
    last: Option<(Instant, u64)>,
}

impl LoadMeter {
    /// The load at `now`; the bit rate is that of the bytes sent since the previous sample
    /// (0 for the first one).
    pub fn load(&mut self, now: Instant, c: Counters) -> NodeLoad {
        let bitrate_kbps = match self.last.replace((now, c.bytes_out)) {
            Some((then, before)) => {
                let secs = now.saturating_duration_since(then).as_secs_f64();
                if secs > 0.0 {
                    (c.bytes_out.saturating_sub(before) as f64 * 8.0 / 1000.0 / secs).round() as u64
                } else {
                    0
                }
            }
            None => 0,
        };
        NodeLoad { streams: c.streams, viewers: c.viewers, bitrate_kbps, cpu_percent: c.cpu_percent }
    }
}

/// The engine's record for one heartbeat.
pub fn record(settings: &NodeSettings, rpc_url: &str, external_ip: IpAddr, load: NodeLoad, at: String) -> MediaNode {
    MediaNode {
        node_id: settings.node_id.clone(),
        rpc_url: rpc_url.to_owned(),
        external_ip: external_ip.to_string(),
        kind: NodeKind::Engine,
        capacity: settings.capacity,
        load,
        draining: false,
        updated_at: at,
    }
}

#[cfg(test)]
#[path = "node/tests.rs"]
mod tests;
