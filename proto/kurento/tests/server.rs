//! The server generator: operations are accepted only on the classes declaring or inheriting
//! them, read-only properties get no setter, and shapes it cannot express are errors.

use camview_kurento_model::{kmd, server};

fn model(text: &str) -> kmd::Model {
    kmd::Model::merge(vec![kmd::parse_lenient(text).expect("test descriptor parses")]).expect("merges")
}

const BASE_AND_LEAF: &str = r#"{"remoteClasses": [
    {"name": "Base", "abstract": true, "events": ["Done"],
     "methods": [{"name": "connect", "params": [{"name": "sink", "type": "Base"}, {"name": "kind", "type": "Kind", "optional": true}]}],
     "properties": [{"name": "mediaState", "type": "String", "readOnly": true}, {"name": "mtu", "type": "int"}]},
    {"name": "Leaf", "extends": "Base", "events": ["Other"],
     "constructor": {"params": [{"name": "useIpv6", "type": "boolean", "optional": true}]},
     "methods": [{"name": "gather", "params": []}]}],
  "complexTypes": [{"name": "Kind", "typeFormat": "ENUM", "values": ["AUDIO", "VIDEO"]}],
  "events": [{"name": "Done"}, {"name": "Other"}]}"#;

#[test]
fn operations_are_guarded_by_the_declaring_class_and_typed() {
    let code = server::generate(&model(BASE_AND_LEAF)).expect("generates");
    for expected in [
        "\"connect\" if class.is_a(Class::Base) => Ok(Operation::Connect(ConnectParams {",
        "sink: params.required(\"sink\")?,",
        "kind: params.optional(\"kind\")?,",
        "pub kind: Option<Kind>,",
        "\"gather\" if class.is_a(Class::Leaf) => Ok(Operation::Gather),",
        "\"getMtu\" if class.is_a(Class::Base) => Ok(Operation::Get(Property::Mtu)),",
        "\"setMtu\" if class.is_a(Class::Base) => Ok(Operation::Set(SetProperty::Mtu(params.required(\"mtu\")?))),",
        "\"getMediaState\" if class.is_a(Class::Base) => Ok(Operation::Get(Property::MediaState)),",
        "Class::Leaf => Ok(Some(Constructor::Leaf(LeafConstructor {",
        "Class::Leaf => &[\"kurento.Base\"],",
        "Class::Leaf => &[\"Done\", \"Other\"],",
        "Class::Base => true,",
    ] {
        assert!(code.contains(expected), "`{expected}` missing from:\n{code}");
    }
    assert!(!code.contains("setMediaState"), "read-only properties have no setter");
    assert!(!code.contains("Constructor::Base"), "abstract classes cannot be created");
}

#[test]
fn a_method_declared_twice_with_other_parameters_is_an_error() {
    let clash = model(
        r#"{"remoteClasses": [
            {"name": "A", "methods": [{"name": "dot", "params": []}]},
            {"name": "B", "methods": [{"name": "dot", "params": [{"name": "x", "type": "int"}]}]}]}"#,
    );
    let err = server::generate(&clash).expect_err("clashing declarations");
    assert!(err.contains("dot"), "{err}");

    let same = model(
        r#"{"remoteClasses": [
            {"name": "A", "methods": [{"name": "dot", "params": []}]},
            {"name": "B", "methods": [{"name": "dot", "params": []}]}]}"#,
    );
    let code = server::generate(&same).expect("the same declaration twice is one operation");
    assert!(code.contains("\"dot\" if class.is_a(Class::A) || class.is_a(Class::B) => Ok(Operation::Dot),"), "{code}");
}

#[test]
fn unknown_parameter_types_are_errors_naming_the_entry() {
    let unknown = model(
        r#"{"remoteClasses": [{"name": "E", "methods": [{"name": "link", "params": [{"name": "peer", "type": "Mystery"}]}]}]}"#,
    );
    let err = server::generate(&unknown).expect_err("unknown type");
    assert!(err.contains("E.link: peer") && err.contains("Mystery"), "{err}");
}

#[test]
fn both_ends_generate_from_our_descriptors() {
    let (ours, _) = camview_kurento_model::our_model().expect("our descriptors load");
    camview_kurento_model::client::generate(&ours).expect("the controller's client generates");
    let code = server::generate(&ours).expect("the engine's requests generate");
    for served in ["MediaPipeline", "RtpEndpoint", "WebRtcEndpoint"] {
        assert!(code.contains(&format!("Constructor::{served}({served}Constructor")), "{served} is not creatable");
    }
}
