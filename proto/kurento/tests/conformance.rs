//! Our descriptors (`proto/kurento/*.kmd.json`), from which both the controller's client and the
//! engine's requests are generated, must match the upstream Kurento 7.3.0 descriptors in
//! `../shared/kurento/kmd/` (see [`camview_kurento_model::conformance`]).

use camview_kurento_model::conformance::{problems as conformance_problems, reference_model};
use camview_kurento_model::kmd::{self, Model};

fn our_model() -> Model {
    camview_kurento_model::our_model().unwrap_or_else(|e| panic!("our descriptors: {e}")).0
}

fn reference() -> Model {
    reference_model().unwrap_or_else(|e| panic!("{e}"))
}

fn parse(text: &str) -> Model {
    Model::merge(vec![kmd::parse_lenient(text).expect("test descriptor parses")]).expect("test descriptor merges")
}

#[test]
fn every_declaration_in_our_descriptors_exists_upstream_with_the_same_types() {
    let problems = conformance_problems(&our_model(), &reference());
    assert!(problems.is_empty(), "our descriptors depart from Kurento 7.3.0:\n{}", problems.join("\n"));
}

#[test]
fn our_descriptors_declare_the_flow_the_controller_needs() {
    let ours = our_model();
    for class in ["MediaPipeline", "RtpEndpoint", "WebRtcEndpoint", "BaseRtpEndpoint", "SdpEndpoint", "MediaElement"] {
        assert!(ours.classes.contains_key(class), "{class} missing");
    }
    for event in
        ["IceCandidateFound", "IceGatheringDone", "IceComponentStateChanged", "MediaFlowInStateChanged", "Error"]
    {
        assert!(ours.events.contains_key(event), "{event} missing");
    }
}

#[test]
fn a_wrong_declaration_is_reported() {
    let reference = parse(
        r#"{"name": "core", "remoteClasses": [{"name": "E", "methods": [
              {"name": "processOffer", "params": [{"name": "offer", "type": "String"}], "return": {"type": "String"}}],
              "properties": [{"name": "state", "type": "MediaType", "readOnly": true}], "events": ["Done"]}],
            "complexTypes": [{"name": "MediaType", "typeFormat": "ENUM", "values": ["AUDIO", "VIDEO"]}],
            "events": [{"name": "Done", "properties": [{"name": "streamId", "type": "int"}]}]}"#,
    );
    let wrong = parse(
        r#"{"name": "core", "remoteClasses": [{"name": "E", "methods": [
              {"name": "processOffer", "params": [{"name": "offer", "type": "int"}], "return": {"type": "String"}},
              {"name": "invented", "params": []}],
              "properties": [{"name": "state", "type": "MediaType"}], "events": ["Done", "Other"]},
              {"name": "Ghost"}],
            "complexTypes": [{"name": "MediaType", "typeFormat": "ENUM", "values": ["AUDIO"]}],
            "events": [{"name": "Done", "properties": [{"name": "streamId", "type": "String"}]}]}"#,
    );
    let problems = conformance_problems(&wrong, &reference).join("\n");
    for expected in [
        "E.processOffer: offer has type int, upstream String",
        "method E.invented does not exist upstream",
        "property E.state is read-only upstream",
        "class E does not raise Other upstream",
        "class Ghost does not exist upstream",
        "enum MediaType has values",
        "event Done: streamId has type String, upstream int",
    ] {
        assert!(problems.contains(expected), "`{expected}` not reported in:\n{problems}");
    }
    assert!(conformance_problems(&reference, &reference).is_empty(), "a descriptor conforms to itself");
}

#[test]
fn upstream_style_json_with_comments_and_raw_newlines_parses() {
    let text = "{\"name\": \"elements\", // a comment\n \"events\": [{\"name\": \"X\", \"doc\": \"two\nlines with // no comment\"}]}";
    let module = kmd::parse_lenient(text).expect("lenient parse");
    assert_eq!(module.events[0].doc, "two\nlines with // no comment");
}
