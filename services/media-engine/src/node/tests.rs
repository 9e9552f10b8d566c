use std::collections::HashMap;

use super::*;

fn settings(vars: &[(&str, &str)]) -> Result<Option<NodeSettings>, ConfigError> {
    let m: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    NodeSettings::from_reader(&Reader::new(&m), "203.0.113.5".parse().unwrap())
}

const REDIS: (&str, &str) = ("REDIS_URL", "redis://127.0.0.1:6379");

#[test]
fn without_redis_url_the_engine_is_no_node() {
    assert_eq!(settings(&[("NODE_ID", "a"), ("NODE_CAPACITY_STREAMS", "5")]).unwrap(), None);
}

#[test]
fn node_settings_default_to_the_host_name_no_limits_and_a_two_second_heartbeat() {
    let s = settings(&[REDIS, ("HOSTNAME", "engine-pod-7")]).unwrap().unwrap();
    assert_eq!(s.node_id, "engine-pod-7");
    assert_eq!(s.capacity, NodeCapacity::default());
    assert_eq!(s.period, DEFAULT_HEARTBEAT);
    assert_eq!(s.ttl(), Duration::from_secs(6));
    assert_eq!(s.rpc_url, None);
    assert_eq!(settings(&[REDIS]).unwrap().unwrap().node_id, "engine-203.0.113.5");
    let s = settings(&[
        REDIS,
        ("NODE_ID", "n1"),
        ("NODE_CAPACITY_STREAMS", "200"),
        ("NODE_CAPACITY_VIEWERS", "4000"),
        ("NODE_CAPACITY_BITRATE", "10000000"),
        ("NODE_CAPACITY_CPU", "85.5"),
        ("NODE_HEARTBEAT_MS", "500"),
        ("NODE_RPC_URL", "ws://10.0.0.5:8888/kurento"),
    ])
    .unwrap()
    .unwrap();
    assert_eq!(
        s.capacity,
        NodeCapacity {
            streams: Some(200),
            viewers: Some(4000),
            bitrate_kbps: Some(10_000_000),
            cpu_percent: Some(85.5)
        }
    );
    assert_eq!(s.period, Duration::from_millis(500));
    assert_eq!(s.rpc_url.as_deref(), Some("ws://10.0.0.5:8888/kurento"));
}

#[test]
fn bad_node_settings_name_their_variable() {
    let name = |vars: &[(&str, &str)]| settings(&[&[REDIS], vars].concat()).unwrap_err().name;
    assert_eq!(name(&[("NODE_ID", "a b")]), "NODE_ID");
    assert_eq!(name(&[("NODE_ID", "a:b")]), "NODE_ID");
    assert_eq!(name(&[("NODE_CAPACITY_STREAMS", "0")]), "NODE_CAPACITY_STREAMS");
    assert_eq!(name(&[("NODE_CAPACITY_VIEWERS", "lots")]), "NODE_CAPACITY_VIEWERS");
    assert_eq!(name(&[("NODE_CAPACITY_VIEWERS", "5000000000")]), "NODE_CAPACITY_VIEWERS");
    assert_eq!(name(&[("NODE_CAPACITY_BITRATE", "-1")]), "NODE_CAPACITY_BITRATE");
    assert_eq!(name(&[("NODE_CAPACITY_CPU", "150")]), "NODE_CAPACITY_CPU");
    assert_eq!(name(&[("NODE_HEARTBEAT_MS", "10")]), "NODE_HEARTBEAT_MS");
    assert_eq!(name(&[("NODE_RPC_URL", "http://x:8888/kurento")]), "NODE_RPC_URL");
    assert_eq!(settings(&[("REDIS_URL", "http://x")]).unwrap_err().name, "REDIS_URL");
}

#[test]
fn the_default_rpc_url_is_the_external_address_with_the_listening_port() {
    let url = default_rpc_url("203.0.113.5".parse().unwrap(), "0.0.0.0:8888".parse().unwrap(), "kurento");
    assert_eq!(url, "ws://203.0.113.5:8888/kurento");
    let url = default_rpc_url("2001:db8::5".parse().unwrap(), "[::]:9000".parse().unwrap(), "kms");
    assert_eq!(url, "ws://[2001:db8::5]:9000/kms");
}

#[test]
fn the_bit_rate_is_that_of_the_bytes_sent_since_the_previous_heartbeat() {
    let mut meter = LoadMeter::default();
    let t0 = Instant::now();
    let c = Counters { streams: 2, viewers: 5, bytes_out: 1_000_000, cpu_percent: 12.5 };
    assert_eq!(meter.load(t0, c), NodeLoad { streams: 2, viewers: 5, bitrate_kbps: 0, cpu_percent: 12.5 });
    // 500 kB in 2 s = 2000 kbit/s.
    let c = Counters { bytes_out: 1_500_000, ..c };
    assert_eq!(meter.load(t0 + Duration::from_secs(2), c).bitrate_kbps, 2000);
    assert_eq!(meter.load(t0 + Duration::from_secs(4), c).bitrate_kbps, 0, "nothing sent");
}

#[test]
fn the_record_carries_the_node_its_address_capacity_and_load() {
    let s = settings(&[REDIS, ("NODE_ID", "n1"), ("NODE_CAPACITY_STREAMS", "10")]).unwrap().unwrap();
    let load = NodeLoad { streams: 1, viewers: 2, bitrate_kbps: 3, cpu_percent: 4.0 };
    let r = record(&s, "ws://203.0.113.5:8888/kurento", "203.0.113.5".parse().unwrap(), load, "t".into());
    assert_eq!(r.node_id, "n1");
    assert_eq!(r.kind, NodeKind::Engine);
    assert_eq!(r.external_ip, "203.0.113.5");
    assert_eq!(r.capacity.streams, Some(10));
    assert_eq!(r.load, load);
    assert!(!r.draining);
    assert_eq!(r.updated_at, "t");
}
