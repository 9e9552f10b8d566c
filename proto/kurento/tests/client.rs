//! The client generator: naming rules and clear errors for descriptor shapes it cannot express.

use camview_kurento_model::{client as rust, kmd, names};

fn model(text: &str) -> kmd::Model {
    kmd::Model::merge(vec![kmd::parse_lenient(text).expect("test descriptor parses")]).expect("merges")
}

#[test]
fn camel_case_names_become_snake_case_including_acronyms() {
    for (kmd, rust) in [
        ("processOffer", "process_offer"),
        ("sdpMLineIndex", "sdp_m_line_index"),
        ("ICECandidatePairs", "ice_candidate_pairs"),
        ("IceConnectionState", "ice_connection_state"),
        ("E2ELatency", "e2e_latency"),
        ("externalIPv4", "external_ipv4"),
        ("maxVideoRecvBandwidth", "max_video_recv_bandwidth"),
    ] {
        assert_eq!(names::snake(kmd), rust, "{kmd}");
    }
}

#[test]
fn inherited_members_are_flattened_and_read_only_properties_get_no_setter() {
    let code = rust::generate(&model(
        r#"{"remoteClasses": [
            {"name": "Base", "abstract": true, "methods": [{"name": "connect", "params": [{"name": "sink", "type": "Base"}]}],
             "properties": [{"name": "mediaState", "type": "String", "readOnly": true}, {"name": "mtu", "type": "int"}]},
            {"name": "Leaf", "extends": "Base", "constructor": {"params": [{"name": "useIpv6", "type": "boolean", "optional": true}]}}]}"#,
    ))
    .expect("generates");
    let leaf = &code[code.find("pub struct Leaf").expect("Leaf handle")..];
    for expected in [
        "pub async fn connect(&self, sink: &impl IsBase)",
        "pub async fn get_media_state(&self) -> Result<String, ClientError>",
        "pub async fn set_mtu(&self, mtu: i32)",
        "pub async fn create(client: &KurentoClient, options: LeafParams)",
        "pub use_ipv6: Option<bool>,",
    ] {
        assert!(leaf.contains(expected), "`{expected}` missing from:\n{leaf}");
    }
    assert!(!code.contains("set_media_state"), "read-only properties have no setter");
    assert!(
        !code[..code.find("pub struct Leaf").expect("Leaf")].contains("pub async fn create"),
        "abstract classes cannot be created"
    );
}

#[test]
fn descriptor_shapes_the_generator_cannot_express_are_errors_naming_the_entry() {
    let optional_object = model(
        r#"{"remoteClasses": [{"name": "E", "methods": [{"name": "link", "params": [{"name": "peer", "type": "E", "optional": true}]}]}]}"#,
    );
    let err = rust::generate(&optional_object).expect_err("optional remote-object parameter");
    assert!(err.starts_with("E.link:"), "{err}");

    let unknown_type = model(r#"{"events": [{"name": "Ev", "properties": [{"name": "x", "type": "Mystery"}]}]}"#);
    let err = rust::generate(&unknown_type).expect_err("unknown type");
    assert!(err.contains("Ev.x") && err.contains("Mystery"), "{err}");

    let undeclared_event = model(r#"{"remoteClasses": [{"name": "E", "events": ["Nope"]}]}"#);
    let err = rust::generate(&undeclared_event).expect_err("undeclared event");
    assert!(err.contains("Nope"), "{err}");
}
