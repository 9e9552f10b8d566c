use super::*;

#[test]
fn kurento_nodes_parse_with_their_address_and_optional_limits() {
    let nodes = parse_kurento_nodes(
        "kms-a=ws://10.0.0.5:8888/kurento@203.0.113.5, kms-b=wss://kms-b.internal/kurento@198.51.100.7;streams=50;viewers=800;bitrate=400000;cpu=80",
    )
    .unwrap();
    assert_eq!(
        nodes[0],
        KurentoNode {
            node_id: "kms-a".into(),
            rpc_url: "ws://10.0.0.5:8888/kurento".into(),
            external_ip: "203.0.113.5".into(),
            capacity: NodeCapacity::default(),
        }
    );
    assert_eq!(nodes[1].rpc_url, "wss://kms-b.internal/kurento");
    assert_eq!(
        nodes[1].capacity,
        NodeCapacity { streams: Some(50), viewers: Some(800), bitrate_kbps: Some(400_000), cpu_percent: Some(80.0) }
    );
    assert!(parse_kurento_nodes("").unwrap().is_empty());
}

#[test]
fn a_bad_kurento_node_entry_is_refused_with_the_setting_name_and_the_entry() {
    for bad in [
        "ws://10.0.0.5:8888/kurento@1.2.3.4",
        "kms=ws://10.0.0.5:8888/kurento",
        "kms=http://10.0.0.5:8888/kurento@1.2.3.4",
        "k m=ws://10.0.0.5:8888/kurento@1.2.3.4",
        "kms=ws://10.0.0.5:8888/kurento@",
        "kms=ws://10.0.0.5:8888/kurento@1.2.3.4;streams=0",
        "kms=ws://10.0.0.5:8888/kurento@1.2.3.4;cpu=120",
        "kms=ws://10.0.0.5:8888/kurento@1.2.3.4;gpus=2",
        "kms=ws://a:1/k@1.2.3.4,kms=ws://b:1/k@1.2.3.5",
    ] {
        let e = parse_kurento_nodes(bad).expect_err(bad);
        assert_eq!(e.name, KURENTO_NODES, "{bad}");
        assert!(e.to_string().contains("KURENTO_NODES"), "{e}");
    }
}

#[test]
fn a_poll_becomes_a_kurento_record_with_pipelines_as_streams() {
    let node = &parse_kurento_nodes("kms-a=ws://10.0.0.5:8888/kurento@203.0.113.5;streams=10").unwrap()[0];
    let r = kurento_record(node, KurentoPoll { pipelines: 3, webrtc_endpoints: 7, cpu_percent: 12.5 }, "t".into());
    assert_eq!(r.kind, NodeKind::Kurento);
    assert_eq!(
        (r.node_id.as_str(), r.rpc_url.as_str(), r.external_ip.as_str()),
        ("kms-a", "ws://10.0.0.5:8888/kurento", "203.0.113.5")
    );
    assert_eq!(r.capacity.streams, Some(10));
    assert_eq!(r.load, NodeLoad { streams: 3, viewers: 7, bitrate_kbps: 0, cpu_percent: 12.5 });
}

#[test]
fn a_record_becomes_a_placement_node_with_its_cpu_as_a_share_of_what_it_may_use() {
    let record = MediaNode {
        node_id: "n".into(),
        rpc_url: "ws://n:8888/kurento".into(),
        external_ip: "192.0.2.1".into(),
        kind: NodeKind::Engine,
        capacity: NodeCapacity { streams: Some(10), viewers: None, bitrate_kbps: Some(1000), cpu_percent: Some(50.0) },
        load: NodeLoad { streams: 2, viewers: 30, bitrate_kbps: 100, cpu_percent: 25.0 },
        draining: true,
        updated_at: "t".into(),
    };
    let n = placement_node(&record);
    assert_eq!(n.capacity, Capacity { streams: 10, viewers: 0, bitrate_kbps: 1000 });
    assert_eq!(n.load.cpu, 0.5);
    assert!(n.draining && !n.is_eligible());
    let n = placement_node(&MediaNode { capacity: NodeCapacity::default(), draining: false, ..record });
    assert_eq!(n.load.cpu, 0.25, "no declared CPU limit: a share of all cores");
    assert_eq!(n.utilisation(), 0.25);
}
