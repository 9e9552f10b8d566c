//! The Kurento classes the engine implements: names, hierarchies, events and plain properties
//! (names and types as in the 7.3.0 kmd descriptors).

use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    MediaPipeline,
    RtpEndpoint,
    WebRtcEndpoint,
    ServerManager,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    String,
    Int,
    Bool,
}

impl Ty {
    pub fn matches(self, v: &Value) -> bool {
        match self {
            Ty::String => v.is_string(),
            Ty::Int => v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            Ty::Bool => v.is_boolean(),
        }
    }

    /// The word Kurento uses in "'x' parameter should be a <word>".
    pub fn word(self) -> &'static str {
        match self {
            Ty::String => "string",
            Ty::Int => "integer",
            Ty::Bool => "boolean",
        }
    }
}

/// A stored property: `get<Name>` always, `set<Name>` unless read-only.
pub struct Prop {
    pub name: &'static str,
    pub ty: Ty,
    pub read_only: bool,
    pub default: fn(&crate::config::Config) -> Value,
}

const MEDIA_OBJECT_EVENTS: &[&str] = &["Error"];
const MEDIA_ELEMENT_EVENTS: &[&str] = &[
    "ElementConnected",
    "ElementDisconnected",
    "MediaFlowOutStateChanged",
    "MediaFlowInStateChanged",
    "MediaTranscodingStateChanged",
];
const SESSION_ENDPOINT_EVENTS: &[&str] = &["MediaSessionTerminated", "MediaSessionStarted"];
const BASE_RTP_EVENTS: &[&str] = &["MediaStateChanged", "ConnectionStateChanged"];
const WEBRTC_EVENTS: &[&str] = &[
    "IceCandidateFound",
    "IceGatheringDone",
    "IceComponentStateChanged",
    "NewCandidatePairSelected",
    "DataChannelOpened",
    "DataChannelClosed",
    "DtlsConnectionStateChange",
];

const BASE_RTP_HIERARCHY: &[&str] = &[
    "kurento.BaseRtpEndpoint",
    "kurento.SdpEndpoint",
    "kurento.SessionEndpoint",
    "kurento.Endpoint",
    "kurento.MediaElement",
    "kurento.MediaObject",
];

macro_rules! prop {
    ($name:literal, $ty:ident, $ro:literal, $def:expr) => {
        Prop { name: $name, ty: Ty::$ty, read_only: $ro, default: $def }
    };
}

const OBJECT_PROPS: &[Prop] =
    &[prop!("name", String, false, |_| Value::Null), prop!("sendTagsInEvents", Bool, false, |_| json!(false))];
const PIPELINE_PROPS: &[Prop] = &[prop!("latencyStats", Bool, false, |_| json!(false))];
const ELEMENT_PROPS: &[Prop] = &[
    prop!("encoderBitrate", Int, false, |_| json!(300000)),
    prop!("minEncoderBitrate", Int, false, |_| json!(0)),
    prop!("maxEncoderBitrate", Int, false, |_| json!(0)),
    prop!("maxAudioRecvBandwidth", Int, false, |_| json!(0)),
    prop!("maxVideoRecvBandwidth", Int, false, |_| json!(0)),
    prop!("minVideoRecvBandwidth", Int, false, |_| json!(0)),
    prop!("minVideoSendBandwidth", Int, false, |_| json!(100)),
    prop!("maxVideoSendBandwidth", Int, false, |_| json!(500)),
    prop!("mtu", Int, false, |_| json!(1200)),
];
const WEBRTC_PROPS: &[Prop] = &[
    prop!("stunServerAddress", String, false, |c| json!(c.stun_address)),
    prop!("stunServerPort", Int, false, |c| json!(c.stun_port)),
    prop!("turnUrl", String, false, |c| json!(c.turn_url)),
    prop!("externalIPv4", String, false, |c| json!(c.announced_ipv4.map(|ip| ip.to_string()).unwrap_or_default())),
    prop!("externalIPv6", String, false, |_| json!("")),
    prop!("networkInterfaces", String, false, |_| json!("")),
    prop!("iceTcp", Bool, false, |_| json!(true)),
];

impl Class {
    pub fn from_name(name: &str) -> Option<Class> {
        match name.strip_prefix("kurento.").unwrap_or(name) {
            "MediaPipeline" => Some(Class::MediaPipeline),
            "RtpEndpoint" => Some(Class::RtpEndpoint),
            "WebRtcEndpoint" => Some(Class::WebRtcEndpoint),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Class::MediaPipeline => "MediaPipeline",
            Class::RtpEndpoint => "RtpEndpoint",
            Class::WebRtcEndpoint => "WebRtcEndpoint",
            Class::ServerManager => "ServerManager",
        }
    }

    pub fn hierarchy(self) -> &'static [&'static str] {
        match self {
            Class::MediaPipeline | Class::ServerManager => &["kurento.MediaObject"],
            Class::RtpEndpoint | Class::WebRtcEndpoint => BASE_RTP_HIERARCHY,
        }
    }

    pub fn is_element(self) -> bool {
        matches!(self, Class::RtpEndpoint | Class::WebRtcEndpoint)
    }

    pub fn supports_event(self, event: &str) -> bool {
        let lists: &[&[&str]] = match self {
            Class::MediaPipeline => &[MEDIA_OBJECT_EVENTS],
            Class::ServerManager => &[MEDIA_OBJECT_EVENTS, &["ObjectCreated", "ObjectDestroyed"]],
            Class::RtpEndpoint => &[
                MEDIA_OBJECT_EVENTS,
                MEDIA_ELEMENT_EVENTS,
                SESSION_ENDPOINT_EVENTS,
                BASE_RTP_EVENTS,
                &["OnKeySoftLimit"],
            ],
            Class::WebRtcEndpoint => {
                &[MEDIA_OBJECT_EVENTS, MEDIA_ELEMENT_EVENTS, SESSION_ENDPOINT_EVENTS, BASE_RTP_EVENTS, WEBRTC_EVENTS]
            }
        };
        lists.iter().any(|l| l.contains(&event))
    }

    /// Plain stored properties of this class, inherited ones included.
    pub fn props(self) -> impl Iterator<Item = &'static Prop> {
        let lists: &[&'static [Prop]] = match self {
            Class::MediaPipeline => &[OBJECT_PROPS, PIPELINE_PROPS],
            Class::ServerManager => &[OBJECT_PROPS],
            Class::RtpEndpoint => &[OBJECT_PROPS, ELEMENT_PROPS],
            Class::WebRtcEndpoint => &[OBJECT_PROPS, ELEMENT_PROPS, WEBRTC_PROPS],
        };
        lists.iter().flat_map(|l| l.iter())
    }
}

/// `get` + the property name with its first letter upper-cased (`IceConnectionState` stays).
pub fn accessor(prefix: &str, prop: &str) -> String {
    let mut c = prop.chars();
    match c.next() {
        Some(f) => format!("{prefix}{}{}", f.to_ascii_uppercase(), c.as_str()),
        None => prefix.to_string(),
    }
}

/// Kurento's `MediaType` enum.
pub const MEDIA_TYPES: &[&str] = &["AUDIO", "VIDEO", "DATA"];
