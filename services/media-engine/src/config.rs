//! Engine settings, read from the environment with `camview_common::config` (as every
//! service) and validated at start.
//!
//! Every error names the variable that was wrong, so a bad deployment stops with a message an
//! operator can act on.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// How WebRtcEndpoints get their UDP ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebRtcPorts {
    /// Every WebRtcEndpoint shares this port (0 = an ephemeral one, for tests), one socket per
    /// host IP. Packets are demultiplexed by ICE ufrag (STUN) and then by remote address.
    Shared(u16),
    /// Each WebRtcEndpoint binds its own port from the RTP port range.
    Range,
}

/// How a PlayerEndpoint asks an RTSP camera to send RTP (`ENGINE_RTSP_TRANSPORT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtspTransport {
    /// Interleaved in the RTSP TCP connection (the default: works through NAT and firewalls).
    Tcp,
    /// Separate UDP ports (LAN cameras; out-of-order packets are dropped).
    Udp,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Kurento JSON-RPC WebSocket listener (`KMS_LISTEN_ADDR` or `ENGINE_WS_ADDR`).
    pub ws_addr: SocketAddr,
    /// WebSocket path without the leading `/` (`ENGINE_WS_PATH`, default `kurento`).
    pub ws_path: String,
    /// Address written into RtpEndpoint answers: where cameras send RTP (`EXTERNAL_IP`).
    pub external_ip: IpAddr,
    /// Address RtpEndpoint sockets bind to (`ENGINE_RTP_BIND_IP`, default 0.0.0.0).
    pub rtp_bind_ip: IpAddr,
    /// Inclusive UDP port range for RtpEndpoints (and WebRtcEndpoints in range mode)
    /// (`KMS_MIN_PORT`, `KMS_MAX_PORT`).
    pub min_port: u16,
    pub max_port: u16,
    /// `ENGINE_WEBRTC_PORT`: a port number (shared mode) or `range`.
    pub webrtc_ports: WebRtcPorts,
    /// Local addresses WebRTC sockets bind to and announce as host candidates
    /// (`ENGINE_WEBRTC_IPS`, comma separated).
    pub webrtc_ips: Vec<IpAddr>,
    /// Public address announced as an extra (server-reflexive) candidate (`KMS_EXTERNAL_IPV4`).
    pub announced_ipv4: Option<Ipv4Addr>,
    /// Defaults of the WebRtcEndpoint properties of the same names (`KMS_STUN_IP`,
    /// `KMS_STUN_PORT`, `KMS_TURN_URL`).
    pub stun_address: String,
    pub stun_port: i64,
    pub turn_url: String,
    /// Session garbage collector period (`ENGINE_GC_PERIOD_MS`, default 240000).
    pub gc_period: Duration,
    /// How long responses stay in the request cache (`ENGINE_REQUEST_CACHE_MS`, default 20000).
    pub request_cache_ttl: Duration,
    /// Silence after which media flow is reported NOT_FLOWING (`ENGINE_FLOW_TIMEOUT_MS`, default 2000).
    pub flow_timeout: Duration,
    /// Upper bound of the per-stream fast-start cache, in packets (`ENGINE_GOP_CACHE_PACKETS`).
    pub gop_cache_packets: usize,
    /// Where `GET /metrics` and `GET /healthz` are served (`METRICS_ADDR`, default 0.0.0.0:9465).
    /// None serves neither: only the all-in-one binary composes services so, its api's
    /// `/metrics` showing every instrument of the process.
    pub metrics_addr: Option<SocketAddr>,
    /// Worker threads of the packet path (`ENGINE_WORKERS`, default one per core).
    pub workers: usize,
    /// `LOG_FORMAT`: `json` or `pretty`.
    pub log_format: LogFormat,
    /// `ENGINE_RTSP_TRANSPORT`: `tcp` (default) or `udp`.
    pub rtsp_transport: RtspTransport,
    /// The node heartbeat (`REDIS_URL`, `NODE_*`); `None` without `REDIS_URL`.
    pub node: Option<crate::node::NodeSettings>,
}

pub use camview_common::config::ConfigError;
use camview_common::config::{Env, Reader, Source};
use camview_common::telemetry::LogFormat;

impl Settings {
    /// Settings for tests: everything on loopback, ephemeral ports, tiny timers left at defaults.
    pub fn for_tests() -> Self {
        Settings {
            ws_addr: "127.0.0.1:0".parse().expect("literal address"),
            ws_path: "kurento".into(),
            external_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            rtp_bind_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            min_port: 20000,
            max_port: 59999,
            webrtc_ports: WebRtcPorts::Shared(0),
            webrtc_ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
            announced_ipv4: None,
            stun_address: String::new(),
            stun_port: 3478,
            turn_url: String::new(),
            gc_period: Duration::from_secs(240),
            request_cache_ttl: Duration::from_secs(20),
            flow_timeout: Duration::from_secs(2),
            gop_cache_packets: 4096,
            metrics_addr: Some("127.0.0.1:0".parse().expect("literal address")),
            workers: 2,
            log_format: LogFormat::default(),
            rtsp_transport: RtspTransport::Tcp,
            node: None,
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Env)
    }

    /// Reads settings from `source` (the environment, or a map in tests), with the shared
    /// reader every service uses: empty values count as unset, errors name their variable.
    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        let r = Reader::new(source);
        let ws_addr = match (r.raw("KMS_LISTEN_ADDR"), r.raw("ENGINE_WS_ADDR")) {
            (Some(_), _) => r.parse("KMS_LISTEN_ADDR", SocketAddr::from(([0, 0, 0, 0], 8888)))?,
            (None, _) => r.parse("ENGINE_WS_ADDR", SocketAddr::from(([0, 0, 0, 0], 8888)))?,
        };
        let ws_path = r.string("ENGINE_WS_PATH", "kurento").trim_start_matches('/').to_string();
        let external_ip: IpAddr = r.parse("EXTERNAL_IP", IpAddr::V4(Ipv4Addr::LOCALHOST))?;
        let rtp_bind_ip = r.parse("ENGINE_RTP_BIND_IP", IpAddr::V4(Ipv4Addr::UNSPECIFIED))?;
        let min_port: u16 = r.parse("KMS_MIN_PORT", 40000)?;
        let max_port: u16 = r.parse("KMS_MAX_PORT", 49999)?;
        if min_port == 0 || max_port < min_port.saturating_add(1) {
            return Err(ConfigError::new(
                "KMS_MAX_PORT",
                &max_port.to_string(),
                format!("the range KMS_MIN_PORT..KMS_MAX_PORT ({min_port}..{max_port}) must hold at least two ports and start above 0"),
            ));
        }
        let webrtc_ports = match r.raw("ENGINE_WEBRTC_PORT") {
            None => WebRtcPorts::Shared(50000),
            Some(v) if v.eq_ignore_ascii_case("range") => WebRtcPorts::Range,
            Some(_) => WebRtcPorts::Shared(r.parse("ENGINE_WEBRTC_PORT", 50000)?),
        };
        let webrtc_ips = match r.raw("ENGINE_WEBRTC_IPS") {
            None => vec![if external_ip.is_unspecified() { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { external_ip }],
            Some(v) => {
                let ips = v
                    .split(',')
                    .map(|s| {
                        s.trim().parse::<IpAddr>().map_err(|e| ConfigError::new("ENGINE_WEBRTC_IPS", &v, e.to_string()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if ips.iter().any(|ip| ip.is_unspecified()) {
                    return Err(ConfigError::new(
                        "ENGINE_WEBRTC_IPS",
                        &v,
                        "list concrete interface addresses, not 0.0.0.0",
                    ));
                }
                ips
            }
        };
        let ms = |name: &str, default: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_millis(r.ranged(name, default, 1, u64::MAX)?))
        };
        let rtsp_transport = match r.string("ENGINE_RTSP_TRANSPORT", "tcp").to_ascii_lowercase().as_str() {
            "tcp" => RtspTransport::Tcp,
            "udp" => RtspTransport::Udp,
            other => return Err(ConfigError::new("ENGINE_RTSP_TRANSPORT", other, "expected tcp or udp")),
        };
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(1024);
        Ok(Settings {
            ws_addr,
            ws_path,
            external_ip,
            rtp_bind_ip,
            min_port,
            max_port,
            webrtc_ports,
            webrtc_ips,
            announced_ipv4: r.parse_opt("KMS_EXTERNAL_IPV4")?,
            stun_address: r.string("KMS_STUN_IP", ""),
            stun_port: r.parse("KMS_STUN_PORT", 3478)?,
            turn_url: r.string("KMS_TURN_URL", ""),
            gc_period: ms("ENGINE_GC_PERIOD_MS", 240_000)?,
            request_cache_ttl: ms("ENGINE_REQUEST_CACHE_MS", 20_000)?,
            flow_timeout: ms("ENGINE_FLOW_TIMEOUT_MS", 2_000)?,
            gop_cache_packets: r.parse("ENGINE_GOP_CACHE_PACKETS", 4096)?,
            metrics_addr: Some(r.parse("METRICS_ADDR", SocketAddr::from(([0, 0, 0, 0], 9465)))?),
            workers: r.ranged("ENGINE_WORKERS", cores, 1, 1024)?,
            log_format: r.parse("LOG_FORMAT", LogFormat::default())?,
            rtsp_transport,
            node: crate::node::NodeSettings::from_reader(&r, external_ip)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let m: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_source(&m)
    }

    #[test]
    fn defaults_follow_kurento() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.ws_addr.port(), 8888);
        assert_eq!(c.ws_path, "kurento");
        assert_eq!(c.gc_period, Duration::from_secs(240));
        assert_eq!(c.webrtc_ports, WebRtcPorts::Shared(50000));
        assert_eq!(c.metrics_addr, Some("0.0.0.0:9465".parse().unwrap()));
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert_eq!(cfg(&[("KMS_LISTEN_ADDR", "nope")]).unwrap_err().name, "KMS_LISTEN_ADDR");
        assert_eq!(cfg(&[("EXTERNAL_IP", "1.2.3")]).unwrap_err().name, "EXTERNAL_IP");
        assert_eq!(cfg(&[("KMS_MIN_PORT", "5000"), ("KMS_MAX_PORT", "4000")]).unwrap_err().name, "KMS_MAX_PORT");
        assert_eq!(cfg(&[("ENGINE_GC_PERIOD_MS", "0")]).unwrap_err().name, "ENGINE_GC_PERIOD_MS");
        assert_eq!(cfg(&[("ENGINE_WEBRTC_IPS", "0.0.0.0")]).unwrap_err().name, "ENGINE_WEBRTC_IPS");
        assert_eq!(cfg(&[("METRICS_ADDR", "9465")]).unwrap_err().name, "METRICS_ADDR");
        assert_eq!(cfg(&[("ENGINE_WORKERS", "0")]).unwrap_err().name, "ENGINE_WORKERS");
        assert_eq!(cfg(&[("ENGINE_WORKERS", "many")]).unwrap_err().name, "ENGINE_WORKERS");
        assert_eq!(cfg(&[("ENGINE_WORKERS", "3")]).unwrap().workers, 3);
        assert_eq!(cfg(&[("LOG_FORMAT", "xml")]).unwrap_err().name, "LOG_FORMAT");
        assert_eq!(cfg(&[("ENGINE_RTSP_TRANSPORT", "quic")]).unwrap_err().name, "ENGINE_RTSP_TRANSPORT");
        assert_eq!(cfg(&[]).unwrap().rtsp_transport, RtspTransport::Tcp);
        assert_eq!(cfg(&[("ENGINE_RTSP_TRANSPORT", "UDP")]).unwrap().rtsp_transport, RtspTransport::Udp);
        let e = cfg(&[("ENGINE_WEBRTC_PORT", "x")]).unwrap_err();
        assert!(e.to_string().contains("ENGINE_WEBRTC_PORT"));
    }

    #[test]
    fn range_mode_and_lists_parse() {
        let c = cfg(&[
            ("ENGINE_WEBRTC_PORT", "range"),
            ("ENGINE_WEBRTC_IPS", "127.0.0.1, 127.0.0.2"),
            ("ENGINE_WS_ADDR", "127.0.0.1:0"),
        ])
        .unwrap();
        assert_eq!(c.webrtc_ports, WebRtcPorts::Range);
        assert_eq!(c.webrtc_ips.len(), 2);
        assert_eq!(c.ws_addr.port(), 0);
    }
}
