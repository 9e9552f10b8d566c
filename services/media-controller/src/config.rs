//! Settings read from the environment at start; a bad value stops the service with its name.

use crate::kurento::ClientConfig;
use crate::service::media::IceSettings;
use crate::service::nodes::{parse_kurento_nodes, KurentoNode};
use camview_common::config::{ConfigError, Reader, RedisConfig, Source};
use camview_common::telemetry::LogFormat;
use camview_proto::stream::{AudioCodec, Codec};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub const DEFAULT_KURENTO_WS_URL: &str = "ws://localhost:8888/kurento";
pub const DEFAULT_METRICS_ADDR: &str = "0.0.0.0:9464";
pub const DEFAULT_MAX_STREAMS: u32 = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub kurento: ClientConfig,
    pub log_format: LogFormat,
    /// `EXTERNAL_IP`: the address cameras send RTP to, written into every RTP target.
    pub external_ip: String,
    /// `REDIS_URL`; None runs on the in-process bus and registry.
    pub redis: Option<RedisConfig>,
    /// `CAMERA_CODEC` and `CAMERA_PAYLOAD_TYPE`: what cameras send.
    pub codec: Codec,
    pub payload_type: u8,
    /// `CAMERA_AUDIO` (`none`, `pcmu`, `pcma`, `opus`, `aac`): the cameras' audio.
    pub audio: Option<AudioCodec>,
    /// `STUN_SERVERS` (the first entry: Kurento takes one IP literal).
    pub stun: Option<(IpAddr, u16)>,
    /// `TURN_URLS` + `TURN_SECRET`.
    pub turn: Option<TurnSettings>,
    /// `STREAM_STALL_SECONDS`.
    pub stall_after: Duration,
    /// `MAX_STREAMS`: how many streams may be started at once.
    pub max_streams: u32,
    /// `MAX_VIEWERS_PER_STREAM` (10): the viewer limit of every stream, enforced by the slot
    /// reservation this controller alone makes.
    pub max_viewers_per_stream: u32,
    /// `CONTROLLER_LEASE_TTL_SECONDS`.
    pub lease_ttl: Duration,
    /// `SIGNALING_LIVENESS_TTL_SECONDS` (10, as signaling reads it): after the registry was
    /// unreachable, instances are judged dead only once this long has passed since it came
    /// back, so every live instance had the chance to refresh its key.
    pub liveness_ttl: Duration,
    /// `METRICS_ADDR`: where `GET /metrics` and `GET /healthz` are served.
    /// None serves neither: only the all-in-one binary composes services so, its api's
    /// `/metrics` showing every instrument of the process.
    pub metrics_addr: Option<SocketAddr>,
    /// `KURENTO_NODES`: Kurento servers this controller polls and registers as media nodes
    /// (engines register themselves); empty polls none.
    pub kurento_nodes: Vec<KurentoNode>,
    /// `KURENTO_NODES_POLL_MS` (2000): how often they are polled; a record lives three periods.
    pub kurento_nodes_poll: Duration,
    /// `MEDIA_NODES`: `single` (default) drives the one media server at `KURENTO_WS_URL`,
    /// cameras sending to `EXTERNAL_IP`; `registry` places streams on the media nodes of the
    /// registry (engines' heartbeats, `KURENTO_NODES`), each stream's RTP target at its node.
    pub media_nodes: MediaNodesMode,
    /// `RELAY_AFTER_VIEWERS` (0: never): with `MEDIA_NODES=registry`, the most viewers of one
    /// stream a node takes; the next ones go to a relay of the stream on another node.
    pub relay_after_viewers: u32,
    /// `MEDIA_NODES_REFRESH_MS` (2000): how often a pool connects to newly registered nodes
    /// ahead of their first stream.
    pub media_nodes_refresh: Duration,
}

/// Where streams go: `MEDIA_NODES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaNodesMode {
    /// One media server (`KURENTO_WS_URL`, `EXTERNAL_IP`).
    #[default]
    Single,
    /// A pool of the registry's media nodes, streams placed by load.
    Registry,
}

/// A TURN server for media-server endpoints, with the TURN REST shared secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnSettings {
    pub address: IpAddr,
    pub port: u16,
    pub transport: String,
    pub secret: String,
}

impl TurnSettings {
    /// Kurento's `turnUrl` (`user:password@ip:port?transport=udp`) with ephemeral
    /// credentials valid until `expires_at` (unix seconds).
    pub fn kurento_url(&self, expires_at: i64) -> String {
        let (user, password) = camview_common::turn::credentials(&self.secret, None, expires_at);
        format!("{user}:{password}@{}:{}?transport={}", self.address, self.port, self.transport)
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&camview_common::config::Env)
    }

    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        let r = Reader::new(source);
        let url = r.string("KURENTO_WS_URL", DEFAULT_KURENTO_WS_URL);
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(ConfigError::new("KURENTO_WS_URL", &url, "must start with ws:// or wss://"));
        }
        let mut kurento = ClientConfig::new(url);
        let timeout_ms = r.ranged("KURENTO_REQUEST_TIMEOUT_MS", 10_000u64, 100, 600_000)?;
        kurento.timing.request_timeout = Duration::from_millis(timeout_ms);
        let external_ip = r.string("EXTERNAL_IP", "127.0.0.1");
        if external_ip.contains(|c: char| c.is_whitespace() || c == '/')
            || (external_ip.contains(':') && external_ip.parse::<IpAddr>().is_err())
        {
            return Err(ConfigError::new("EXTERNAL_IP", &external_ip, "must be an IP address or a host name"));
        }
        let redis = r.raw("REDIS_URL").map(|_| RedisConfig::from_reader(&r)).transpose()?;
        let codec = match r.string("CAMERA_CODEC", "H264").to_ascii_uppercase().as_str() {
            "H264" => Codec::H264,
            "VP8" => Codec::VP8,
            "H265" => Codec::H265,
            other => return Err(ConfigError::new("CAMERA_CODEC", other, "must be H264, H265 or VP8")),
        };
        let audio = match r.string("CAMERA_AUDIO", "none").to_ascii_uppercase().as_str() {
            "NONE" => None,
            "PCMU" => Some(AudioCodec::PCMU),
            "PCMA" => Some(AudioCodec::PCMA),
            "OPUS" => Some(AudioCodec::OPUS),
            "AAC" => Some(AudioCodec::AAC),
            other => return Err(ConfigError::new("CAMERA_AUDIO", other, "must be none, pcmu, pcma, opus or aac")),
        };
        // `none` turns STUN off, as the API reads it; only the first entry reaches the media server.
        let stun_servers: Vec<String> =
            r.list("STUN_SERVERS").into_iter().filter(|s| !s.eq_ignore_ascii_case("none")).collect();
        let stun = stun_servers
            .first()
            .map(|s| parse_ice_url("STUN_SERVERS", s, &["stun:"]))
            .transpose()?
            .map(|(ip, port, _)| (ip, port));
        let turn = match (r.list("TURN_URLS").first(), r.raw("TURN_SECRET")) {
            (Some(url), Some(secret)) => {
                let (address, port, transport) = parse_ice_url("TURN_URLS", url, &["turn:", "turns:"])?;
                Some(TurnSettings { address, port, transport, secret })
            }
            (Some(url), None) => {
                return Err(ConfigError::new("TURN_SECRET", "", format!("is required with TURN_URLS={url}")))
            }
            _ => None,
        };
        Ok(Self {
            kurento,
            log_format: r.parse("LOG_FORMAT", LogFormat::default())?,
            external_ip,
            redis,
            codec,
            audio,
            payload_type: r.ranged::<u8>("CAMERA_PAYLOAD_TYPE", 96, 96, 127)?,
            stun,
            turn,
            stall_after: Duration::from_secs(r.ranged::<u64>("STREAM_STALL_SECONDS", 5, 1, 3600)?),
            max_streams: r.ranged::<u32>("MAX_STREAMS", DEFAULT_MAX_STREAMS, 1, 10_000)?,
            max_viewers_per_stream: r.ranged::<u32>("MAX_VIEWERS_PER_STREAM", 10, 1, 10_000)?,
            lease_ttl: Duration::from_secs(r.ranged::<u64>("CONTROLLER_LEASE_TTL_SECONDS", 6, 2, 300)?),
            liveness_ttl: Duration::from_secs(r.ranged::<u64>("SIGNALING_LIVENESS_TTL_SECONDS", 10, 1, 3600)?),
            metrics_addr: Some(r.parse("METRICS_ADDR", DEFAULT_METRICS_ADDR.parse().expect("literal address"))?),
            kurento_nodes: parse_kurento_nodes(&r.string("KURENTO_NODES", ""))?,
            kurento_nodes_poll: Duration::from_millis(r.ranged::<u64>("KURENTO_NODES_POLL_MS", 2000, 100, 60_000)?),
            media_nodes: match r.string("MEDIA_NODES", "single").to_ascii_lowercase().as_str() {
                "single" => MediaNodesMode::Single,
                "registry" => MediaNodesMode::Registry,
                other => return Err(ConfigError::new("MEDIA_NODES", other, "must be single or registry")),
            },
            media_nodes_refresh: Duration::from_millis(r.ranged::<u64>("MEDIA_NODES_REFRESH_MS", 2000, 100, 60_000)?),
            relay_after_viewers: r.ranged::<u32>("RELAY_AFTER_VIEWERS", 0, 0, 10_000)?,
        })
    }

    /// ICE settings for new viewer endpoints, with TURN credentials valid for a day from `now_unix`.
    pub fn ice_settings(&self, now_unix: i64) -> IceSettings {
        IceSettings {
            stun_address: self.stun.map(|(ip, _)| ip.to_string()),
            stun_port: self.stun.map(|(_, port)| port),
            turn_url: self.turn.as_ref().map(|t| t.kurento_url(now_unix + 24 * 3600)),
        }
    }
}

/// `stun:1.2.3.4:3478` / `turn:1.2.3.4:3478?transport=tcp` -> (ip, port, transport).
/// Kurento needs IP literals: a host name is refused at start, not silently at run time.
fn parse_ice_url(name: &str, url: &str, schemes: &[&str]) -> Result<(IpAddr, u16, String), ConfigError> {
    let rest = schemes
        .iter()
        .find_map(|s| url.strip_prefix(s))
        .ok_or_else(|| ConfigError::new(name, url, format!("must start with {}", schemes.join(" or "))))?;
    let (hostport, query) = rest.split_once('?').unwrap_or((rest, ""));
    let transport = query.strip_prefix("transport=").unwrap_or("udp").to_owned();
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') => {
            (h, p.parse::<u16>().map_err(|_| ConfigError::new(name, url, "bad port"))?)
        }
        _ => (hostport, 3478),
    };
    let ip = host
        .trim_matches(['[', ']'])
        .parse::<IpAddr>()
        .map_err(|_| ConfigError::new(name, url, "the media server needs an IP address, not a host name"))?;
    Ok((ip, port, transport))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_point_at_a_local_kurento() {
        let settings = Settings::from_source(&[("UNRELATED", "x")]).unwrap();
        assert_eq!(settings.kurento.url, DEFAULT_KURENTO_WS_URL);
        assert_eq!(settings.kurento.timing.request_timeout, Duration::from_secs(10));
        assert_eq!(settings.metrics_addr.unwrap().to_string(), DEFAULT_METRICS_ADDR);
    }

    #[test]
    fn a_bad_metrics_address_is_rejected_with_the_variable_name() {
        assert_eq!(Settings::from_source(&[("METRICS_ADDR", "9464")]).unwrap_err().name, "METRICS_ADDR");
        assert_eq!(Settings::from_source(&[("METRICS_ADDR", "127.0.0.1:0")]).unwrap().metrics_addr.unwrap().port(), 0);
    }

    #[test]
    fn a_non_websocket_url_is_rejected_with_the_variable_name() {
        let err = Settings::from_source(&[("KURENTO_WS_URL", "http://kms:8888/kurento")]).unwrap_err();
        assert_eq!(err.name, "KURENTO_WS_URL");
    }

    #[test]
    fn stun_and_turn_urls_must_be_ip_literals() {
        let e = Settings::from_source(&[("STUN_SERVERS", "stun:stun.example.org:3478")]).unwrap_err();
        assert_eq!(e.name, "STUN_SERVERS");
        let s = Settings::from_source(&[
            ("STUN_SERVERS", "stun:192.0.2.7:3479"),
            ("TURN_URLS", "turn:192.0.2.8:3478?transport=tcp"),
            ("TURN_SECRET", "s3cret"),
        ])
        .unwrap();
        let ice = s.ice_settings(1_700_000_000);
        assert_eq!(ice.stun_address.as_deref(), Some("192.0.2.7"));
        assert_eq!(ice.stun_port, Some(3479));
        let turn = ice.turn_url.unwrap();
        assert!(turn.starts_with("1700086400:"), "{turn}");
        assert!(turn.ends_with("@192.0.2.8:3478?transport=tcp"), "{turn}");
    }

    #[test]
    fn stun_servers_none_turns_stun_off() {
        assert_eq!(Settings::from_source(&[("STUN_SERVERS", "none")]).unwrap().stun, None);
    }

    #[test]
    fn turn_urls_without_a_secret_are_refused() {
        assert_eq!(Settings::from_source(&[("TURN_URLS", "turn:192.0.2.8:3478")]).unwrap_err().name, "TURN_SECRET");
    }

    #[test]
    fn camera_codec_and_payload_type_are_validated() {
        assert_eq!(Settings::from_source(&[("CAMERA_CODEC", "mjpeg")]).unwrap_err().name, "CAMERA_CODEC");
        assert_eq!(Settings::from_source(&[("CAMERA_PAYLOAD_TYPE", "200")]).unwrap_err().name, "CAMERA_PAYLOAD_TYPE");
        let s = Settings::from_source(&[("CAMERA_CODEC", "vp8"), ("STREAM_STALL_SECONDS", "3")]).unwrap();
        assert_eq!((s.codec, s.payload_type, s.stall_after), (Codec::VP8, 96, Duration::from_secs(3)));
        assert_eq!(Settings::from_source(&[("CAMERA_CODEC", "h265")]).unwrap().codec, Codec::H265);
    }

    #[test]
    fn camera_audio_defaults_to_none_and_is_validated() {
        assert_eq!(Settings::from_source(&[("UNRELATED", "x")]).unwrap().audio, None);
        assert_eq!(Settings::from_source(&[("CAMERA_AUDIO", "pcmu")]).unwrap().audio, Some(AudioCodec::PCMU));
        assert_eq!(Settings::from_source(&[("CAMERA_AUDIO", "Opus")]).unwrap().audio, Some(AudioCodec::OPUS));
        assert_eq!(Settings::from_source(&[("CAMERA_AUDIO", "aac")]).unwrap().audio, Some(AudioCodec::AAC));
        assert_eq!(Settings::from_source(&[("CAMERA_AUDIO", "mp3")]).unwrap_err().name, "CAMERA_AUDIO");
    }

    #[test]
    fn max_streams_defaults_to_64_and_is_validated_with_its_name() {
        assert_eq!(Settings::from_source(&[("UNRELATED", "x")]).unwrap().max_streams, 64);
        assert_eq!(Settings::from_source(&[("MAX_STREAMS", "1")]).unwrap().max_streams, 1);
        assert_eq!(Settings::from_source(&[("MAX_STREAMS", "10000")]).unwrap().max_streams, 10_000);
        for bad in ["0", "10001", "-1", "many"] {
            let e = Settings::from_source(&[("MAX_STREAMS", bad)]).unwrap_err();
            assert_eq!(e.name, "MAX_STREAMS", "{bad:?}");
        }
    }

    #[test]
    fn media_nodes_default_to_a_single_server_and_are_validated() {
        let s = Settings::from_source(&[("UNRELATED", "x")]).unwrap();
        assert_eq!((s.media_nodes, s.media_nodes_refresh), (MediaNodesMode::Single, Duration::from_secs(2)));
        let s = Settings::from_source(&[("MEDIA_NODES", "Registry"), ("MEDIA_NODES_REFRESH_MS", "500")]).unwrap();
        assert_eq!((s.media_nodes, s.media_nodes_refresh), (MediaNodesMode::Registry, Duration::from_millis(500)));
        assert_eq!(Settings::from_source(&[("MEDIA_NODES", "many")]).unwrap_err().name, "MEDIA_NODES");
        assert_eq!(
            Settings::from_source(&[("MEDIA_NODES_REFRESH_MS", "1")]).unwrap_err().name,
            "MEDIA_NODES_REFRESH_MS"
        );
    }

    #[test]
    fn the_request_timeout_is_configurable_within_bounds() {
        let settings = Settings::from_source(&[("KURENTO_REQUEST_TIMEOUT_MS", "2500")]).unwrap();
        assert_eq!(settings.kurento.timing.request_timeout, Duration::from_millis(2500));
        assert!(Settings::from_source(&[("KURENTO_REQUEST_TIMEOUT_MS", "5")]).is_err());
    }
}
