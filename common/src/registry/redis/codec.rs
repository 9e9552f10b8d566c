//! Records as Redis hashes: one field per top-level property. Strings are stored as is
//! (readable with `redis-cli`, usable from Lua), everything else as JSON; a property that
//! is `None` has no field.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::registry::RegistryError;

/// Properties of a record type stored as JSON rather than as a plain string.
pub(crate) trait HashRecord: Serialize + DeserializeOwned {
    const JSON_FIELDS: &'static [&'static str];
}

impl HashRecord for camview_proto::stream::StreamRecord {
    const JSON_FIELDS: &'static [&'static str] = &["rtp", "bandwidth", "relays"];
}

impl HashRecord for camview_proto::stream::ViewerRecord {
    const JSON_FIELDS: &'static [&'static str] = &[];
}

impl HashRecord for camview_proto::stream::CameraStatus {
    const JSON_FIELDS: &'static [&'static str] = &["stats"];
}

/// Field/value pairs for `HSET`.
pub(crate) fn encode<T: HashRecord>(record: &T) -> Result<Vec<(String, String)>, RegistryError> {
    let value = serde_json::to_value(record)
        .map_err(|e| RegistryError::Corrupt { key: std::any::type_name::<T>().into(), reason: e.to_string() })?;
    let Value::Object(map) = value else {
        return Err(RegistryError::Corrupt {
            key: std::any::type_name::<T>().into(),
            reason: "not a JSON object".into(),
        });
    };
    Ok(map
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let raw = match v {
                Value::String(s) if !T::JSON_FIELDS.contains(&k.as_str()) => s,
                other => other.to_string(),
            };
            (k, raw)
        })
        .collect())
}

/// The record in an `HGETALL` reply, or `None` for an empty reply (no such key).
pub(crate) fn decode<T: HashRecord>(key: &str, fields: HashMap<String, String>) -> Result<Option<T>, RegistryError> {
    if fields.is_empty() {
        return Ok(None);
    }
    let corrupt = |reason: String| RegistryError::Corrupt { key: key.to_owned(), reason };
    let mut map = Map::new();
    for (k, raw) in fields {
        let v = if T::JSON_FIELDS.contains(&k.as_str()) {
            serde_json::from_str(&raw).map_err(|e| corrupt(format!("field {k}: {e}")))?
        } else {
            Value::String(raw)
        };
        map.insert(k, v);
    }
    serde_json::from_value(Value::Object(map)).map(Some).map_err(|e| corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use camview_proto::stream::{
        Bandwidth, CameraStats, CameraStatus, Codec, RtpTarget, StreamRecord, StreamState, ViewerRecord, ViewerState,
    };

    use super::*;
    use camview_proto::{CameraId, ViewerId};

    fn round_trip<T: HashRecord + PartialEq + std::fmt::Debug>(record: T) -> Vec<(String, String)> {
        let fields = encode(&record).unwrap();
        let decoded: T = decode("k", fields.iter().cloned().collect()).unwrap().unwrap();
        assert_eq!(decoded, record);
        fields
    }

    fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
        fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_stream_keeps_strings_plain_and_nested_values_as_json() {
        let fields = round_trip(StreamRecord {
            camera_id: CameraId::from_static("1234"),
            state: StreamState::WaitingForMedia,
            rtp: Some(RtpTarget {
                host: "192.0.2.1".into(),
                port: 5004,
                codec: Codec::VP8,
                payload_type: 96,
                audio: None,
            }),
            bandwidth: Bandwidth { max_bandwidth: 3000, min_bandwidth: 300 },
            created_at: "2026-11-24T01:00:00.000Z".into(),
            updated_at: "2026-11-24T01:00:00.000Z".into(),
            pipeline_id: None,
            rtp_endpoint_id: None,
            camera_source: None,
            source: None,
            source_audio: None,
            node_id: None,
            relays: Vec::new(),
        });
        assert_eq!(field(&fields, "camera_id"), Some("1234"));
        assert_eq!(field(&fields, "state"), Some("waiting_for_media"));
        assert_eq!(field(&fields, "bandwidth"), Some(r#"{"max_bandwidth":3000,"min_bandwidth":300}"#));
        assert_eq!(field(&fields, "pipeline_id"), None);
    }

    #[test]
    fn a_stream_without_rtp_target_round_trips() {
        let fields = round_trip(StreamRecord {
            camera_id: CameraId::from_static("cam"),
            state: StreamState::Live,
            rtp: None,
            bandwidth: Bandwidth { max_bandwidth: 1, min_bandwidth: 1 },
            created_at: "t".into(),
            updated_at: "t".into(),
            pipeline_id: Some("p".into()),
            rtp_endpoint_id: Some("r".into()),
            camera_source: None,
            source: None,
            source_audio: None,
            node_id: None,
            relays: Vec::new(),
        });
        assert_eq!(field(&fields, "rtp"), None);
    }

    #[test]
    fn viewers_and_camera_statuses_round_trip() {
        let fields = round_trip(ViewerRecord {
            viewer_id: ViewerId::from_static("v"),
            camera_id: CameraId::from_static("true"),
            signaling_instance: "sig-1".into(),
            state: ViewerState::Joining,
            created_at: "t".into(),
            endpoint_id: None,
        });
        assert_eq!(field(&fields, "signaling_instance"), Some("sig-1"));
        round_trip(CameraStatus {
            last_seen: "t".into(),
            stats: CameraStats { sending: true, bitrate_kbps: Some(2.5), ..CameraStats::default() },
        });
    }

    #[test]
    fn bad_json_or_a_missing_field_is_corrupt_not_a_panic() {
        let bad_json: HashMap<String, String> =
            [("camera_id", "c"), ("bandwidth", "{oops")].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        assert!(matches!(decode::<StreamRecord>("k", bad_json), Err(RegistryError::Corrupt { .. })));
        let missing: HashMap<String, String> = [("viewer_id".to_string(), "v".to_string())].into_iter().collect();
        assert!(matches!(decode::<ViewerRecord>("k", missing), Err(RegistryError::Corrupt { .. })));
    }

    #[test]
    fn an_empty_hash_is_no_record() {
        assert!(decode::<ViewerRecord>("k", HashMap::new()).unwrap().is_none());
    }
}
