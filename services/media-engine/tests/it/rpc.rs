//! JSON-RPC behaviours of PROTOCOL.md §12 over a real WebSocket.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn ping_answers_pong_without_and_with_a_session() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let r = c.call("ping", json!({"interval": 240000})).await;
    assert_eq!(r["result"], json!({"value": "pong"}));
    assert_eq!(r["jsonrpc"], "2.0");
    let sid = c.ok("connect", json!({})).await;
    assert!(sid.is_null(), "connect has no value");
    let r = c.call("connect", json!({})).await;
    let sid = r["result"]["sessionId"].as_str().unwrap().to_string();
    let r = c.call("ping", json!({})).await;
    assert_eq!(r["result"], json!({"sessionId": sid, "value": "pong"}), "the bound session is injected");
}

#[tokio::test]
async fn connect_resumes_a_session_and_rejects_an_unknown_one() {
    let engine = spawn_engine().await;
    let mut a = Client::connect(&engine).await;
    let r = a.call("connect", json!({})).await;
    let sid = r["result"]["sessionId"].as_str().unwrap().to_string();
    let server_id = r["result"]["serverId"].as_str().unwrap().to_string();
    assert_eq!(server_id, engine.server_id());
    let pipe = a.create("MediaPipeline", json!({})).await;
    let sub = a.subscribe(&pipe, "Error").await;
    assert!(!sub.is_empty());
    a.close().await;

    let mut b = Client::connect(&engine).await;
    let r = b.call("connect", json!({"sessionId": sid})).await;
    assert_eq!(r["result"], json!({"serverId": server_id, "sessionId": sid}));
    let pipes = b.invoke("manager_ServerManager", "getPipelines", json!({})).await;
    assert_eq!(pipes, json!([pipe]));

    let mut c = Client::connect(&engine).await;
    let e = c.err("connect", json!({"sessionId": "no-such-session"})).await;
    assert_eq!(e, json!({"code": 40007, "message": "Invalid session", "data": {"type": "INVALID_SESSION"}}));
}

#[tokio::test]
async fn objects_get_kurento_ids_and_describe_gives_their_hierarchy() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let pipe = c.create("MediaPipeline", json!({})).await;
    assert!(pipe.ends_with("_kurento.MediaPipeline"), "{pipe}");
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    assert!(rtp.starts_with(&format!("{pipe}/")) && rtp.ends_with("_kurento.RtpEndpoint"), "{rtp}");
    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    assert!(web.ends_with("_kurento.WebRtcEndpoint"));

    let r = c.call("describe", json!({"object": web})).await;
    let res = &r["result"];
    assert_eq!(res["type"], "WebRtcEndpoint");
    assert_eq!(res["qualifiedType"], "kurento.WebRtcEndpoint");
    assert_eq!(
        res["hierarchy"],
        json!([
            "kurento.BaseRtpEndpoint",
            "kurento.SdpEndpoint",
            "kurento.SessionEndpoint",
            "kurento.Endpoint",
            "kurento.MediaElement",
            "kurento.MediaObject"
        ])
    );
    assert!(res["sessionId"].is_string());
    let r = c.call("describe", json!({"object": pipe})).await;
    assert_eq!(r["result"]["hierarchy"], json!(["kurento.MediaObject"]));
    let r = c.call("describe", json!({"object": "manager_ServerManager"})).await;
    assert_eq!(r["result"]["type"], "ServerManager");

    assert_eq!(c.invoke(&rtp, "getMediaPipeline", json!({})).await, json!(pipe));
    assert_eq!(c.invoke(&pipe, "getChildren", json!({})).await, json!([rtp, web]));
    assert_eq!(c.invoke(&rtp, "getParent", json!({})).await, json!(pipe));
}

#[tokio::test]
async fn kurento_error_codes_for_unknown_objects_types_methods_and_bad_params() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let pipe = c.create("MediaPipeline", json!({})).await;
    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;

    let e = c.invoke_err("nope_kurento.MediaPipeline", "getName", json!({})).await;
    assert_eq!(
        e,
        json!({"code": 40101, "message": "Object 'nope_kurento.MediaPipeline' not found", "data": {"type": "MEDIA_OBJECT_NOT_FOUND"}})
    );
    let e = c.err("create", json!({"type": "RecorderEndpoint", "constructorParams": {"mediaPipeline": pipe}})).await;
    assert_eq!((e["code"].as_i64(), e["data"]["type"].as_str()), (Some(40108), Some("MEDIA_OBJECT_NOT_AVAILABLE")));
    let e = c.err("create", json!({"type": "RtpEndpoint", "constructorParams": {}})).await;
    assert_eq!(e["code"], 40001);
    let e = c.err("create", json!({"type": "RtpEndpoint", "constructorParams": {"mediaPipeline": "missing"}})).await;
    assert_eq!(e["code"], 40101);
    let e = c.err("frobnicate", json!({})).await;
    assert_eq!(e, json!({"code": -32601, "message": "Method not found."}));
    let e = c.invoke_err(&web, "fly", json!({"x": 1})).await;
    assert_eq!(
        (e["code"].as_i64(), e["message"].as_str()),
        (Some(40008), Some("Method 'fly' with 1 parameters not found"))
    );
    let e = c.invoke_err(&web, "setMaxVideoSendBandwidth", json!({"maxVideoSendBandwidth": "fast"})).await;
    assert_eq!((e["code"].as_i64(), e["data"]["type"].as_str()), (Some(40001), Some("MARSHALL_ERROR")));
    let e = c.err("invoke", json!({"object": web, "operation": "processOffer"})).await;
    assert_eq!((e["code"].as_i64(), e["message"].as_str()), (Some(40001), Some("'operationParams' is required")));
    let e = c.invoke_err(&web, "processOffer", json!({"offer": 7})).await;
    assert_eq!(e["code"], 40001);
    let e = c.invoke_err(&web, "connect", json!({"sink": web, "mediaType": "SMELL"})).await;
    assert_eq!(e["code"], 40001);
    let e = c.err("invoke", json!({"operation": "getName"})).await;
    assert_eq!(e, json!({"code": -32000, "message": "'object' parameter is required"}));
    let e = c.err("invoke", json!({"object": 5, "operation": "getName"})).await;
    assert_eq!(e["message"], "'object' parameter should be a string");
    let r = c.call("create", Value::Null).await;
    assert_eq!(r["error"]["code"], -32602);
    let e = c.err("subscribe", json!({"type": "OnIceCandidate", "object": web})).await;
    assert_eq!(
        e,
        json!({"code": 40106, "message": "Event 'OnIceCandidate' not supported", "data": {"type": "MEDIA_OBJECT_EVENT_NOT_SUPPORTED"}})
    );
    let e = c.invoke_err(&pipe, "requestKeyframe", json!({})).await;
    assert_eq!(e["code"], 40008, "pipelines have no requestKeyframe");
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    let e = c.invoke_err(&rtp, "requestKeyframe", json!({})).await;
    assert_eq!(e["code"], 40111);
    let e = c.invoke_err(&rtp, "getLocalSessionDescriptor", json!({})).await;
    assert_eq!(e["code"], 40202);
}

#[tokio::test]
async fn getters_and_setters_follow_the_kmd_names() {
    let engine = spawn_engine_with(|c| c.stun_address = "192.0.2.7".into()).await;
    let mut c = Client::connect(&engine).await;
    let pipe = c.create("MediaPipeline", json!({})).await;
    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    assert_eq!(c.invoke(&web, "getStunServerAddress", json!({})).await, "192.0.2.7");
    assert_eq!(c.invoke(&web, "getMaxVideoSendBandwidth", json!({})).await, 500);
    assert_eq!(c.invoke(&web, "getMinVideoSendBandwidth", json!({})).await, 100);
    assert_eq!(c.invoke(&web, "getMaxVideoRecvBandwidth", json!({})).await, 0);
    for (op, key, v) in [
        ("MaxVideoSendBandwidth", "maxVideoSendBandwidth", json!(2500)),
        ("MinVideoSendBandwidth", "minVideoSendBandwidth", json!(300)),
        ("MaxVideoRecvBandwidth", "maxVideoRecvBandwidth", json!(3000)),
        ("StunServerAddress", "stunServerAddress", json!("192.0.2.10")),
        ("StunServerPort", "stunServerPort", json!(3479)),
        ("TurnUrl", "turnUrl", json!("u:p@192.0.2.10:3478?transport=udp")),
        ("ExternalIPv4", "externalIPv4", json!("198.51.100.1")),
    ] {
        let r = c
            .call("invoke", json!({"object": web, "operation": format!("set{op}"), "operationParams": {key: v}}))
            .await;
        assert_eq!(r["result"]["value"], Value::Null, "void methods answer value null: {r}");
        assert!(r["result"].as_object().unwrap().contains_key("value"));
        assert_eq!(c.invoke(&web, &format!("get{op}"), json!({})).await, v);
    }
    assert_eq!(c.invoke(&web, "getIceConnectionState", json!({})).await[0]["state"], "DISCONNECTED");
    assert_eq!(c.invoke(&web, "getMediaState", json!({})).await, "DISCONNECTED");
    assert_eq!(c.invoke(&web, "getConnectionState", json!({})).await, "DISCONNECTED");
    assert_eq!(c.invoke(&web, "isMediaFlowingIn", json!({"mediaType": "VIDEO"})).await, false);
    assert_eq!(c.invoke(&web, "isMediaFlowingOut", json!({"mediaType": "VIDEO"})).await, false);
    c.invoke(&web, "addTag", json!({"key": "camera", "value": "cam-1"})).await;
    assert_eq!(c.invoke(&web, "getTag", json!({"key": "camera"})).await, "cam-1");
    let e = c.invoke_err(&web, "getTag", json!({"key": "nope"})).await;
    assert_eq!(
        e,
        json!({"code": 40110, "message": "Tag 'nope' not found", "data": {"type": "MEDIA_OBJECT_TAG_KEY_NOT_FOUND"}})
    );
}

#[tokio::test]
async fn the_request_cache_answers_a_repeated_id_without_executing_it_again() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let r = c.call("connect", json!({})).await;
    let sid = r["result"]["sessionId"].as_str().unwrap().to_string();
    let params = json!({"type": "MediaPipeline", "constructorParams": {}, "sessionId": sid});
    let first = c.call_with_id(json!(500), "create", params.clone()).await;
    let again = c.call_with_id(json!(500), "create", params.clone()).await;
    assert_eq!(first, again);
    assert_eq!(engine.stats().core.pipelines, 1, "the retransmission was not executed");
    // Errors are cached too, and another id executes again.
    let e1 = c
        .call_with_id(json!("x"), "invoke", json!({"object": "missing", "operation": "getName", "sessionId": sid}))
        .await;
    let e2 = c
        .call_with_id(json!("x"), "invoke", json!({"object": "missing", "operation": "getName", "sessionId": sid}))
        .await;
    assert_eq!(e1, e2);
    c.call_with_id(json!(501), "create", params.clone()).await;
    assert_eq!(engine.stats().core.pipelines, 2);
    // The same id in another session is another request.
    let mut d = Client::connect(&engine).await;
    let other = d.call_with_id(json!(500), "create", json!({"type": "MediaPipeline", "constructorParams": {}})).await;
    assert_ne!(other["result"]["value"], first["result"]["value"]);
}

#[tokio::test]
async fn the_request_cache_forgets_after_its_ttl() {
    let engine = spawn_engine_with(|c| c.request_cache_ttl = Duration::from_millis(200)).await;
    let mut c = Client::connect(&engine).await;
    let params = json!({"type": "MediaPipeline", "constructorParams": {}, "sessionId": "client-chosen"});
    let first = c.call_with_id(json!(1), "create", params.clone()).await;
    assert_eq!(first["result"]["sessionId"], "client-chosen");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = c.call_with_id(json!(1), "create", params).await;
    assert_ne!(first["result"]["value"], again["result"]["value"]);
}

#[tokio::test]
async fn release_cascades_from_a_pipeline_and_is_idempotent() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let pipe = c.create("MediaPipeline", json!({})).await;
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    c.subscribe(&web, "IceCandidateFound").await;
    c.invoke(&rtp, "connect", json!({"sink": web, "mediaType": "VIDEO"})).await;
    let conns = c.invoke(&web, "getSourceConnections", json!({})).await;
    assert_eq!(conns[0]["source"], json!(rtp));
    assert_eq!(conns[0]["type"], "VIDEO");
    assert_eq!(c.invoke(&rtp, "getSinkConnections", json!({"mediaType": "AUDIO"})).await, json!([]));
    assert_eq!(engine.stats().core.objects, 3);

    let r = c.call("release", json!({"object": web})).await;
    assert!(r["result"]["sessionId"].is_string());
    assert_eq!(
        c.invoke(&rtp, "getSinkConnections", json!({})).await,
        json!([]),
        "released sinks disappear from connections"
    );
    let r = c.call("release", json!({"object": pipe})).await;
    assert!(r.get("error").is_none());
    assert_eq!(engine.stats().core.objects, 0);
    assert_eq!(engine.stats().core.subscriptions, 0);
    assert_eq!(c.invoke_err(&rtp, "getName", json!({})).await["code"], 40101);
    let r = c.call("release", json!({"object": pipe})).await;
    assert!(r.get("error").is_none(), "releasing twice succeeds");
}

#[tokio::test]
async fn garbage_collection_drops_sessions_without_a_socket_but_keeps_connected_ones() {
    let engine = spawn_engine_with(|c| c.gc_period = Duration::from_millis(100)).await;
    let mut keeper = Client::connect(&engine).await;
    let kept = keeper.create("MediaPipeline", json!({})).await;
    let mut leaver = Client::connect(&engine).await;
    let r = leaver.call("create", json!({"type": "MediaPipeline", "constructorParams": {}})).await;
    let sid = r["result"]["sessionId"].as_str().unwrap().to_string();
    leaver.close().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while engine.stats().core.pipelines != 1 {
        assert!(tokio::time::Instant::now() < deadline, "the dropped session's pipeline was never collected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(keeper.invoke("manager_ServerManager", "getPipelines", json!({})).await, json!([kept]));
    let mut back = Client::connect(&engine).await;
    assert_eq!(back.err("connect", json!({"sessionId": sid})).await["code"], 40007);
}

#[tokio::test]
async fn subscriptions_survive_a_resume_and_events_are_delivered_once_per_session() {
    let engine = spawn_engine().await;
    let mut a = Client::connect(&engine).await;
    let r = a.call("connect", json!({})).await;
    let sid = r["result"]["sessionId"].as_str().unwrap().to_string();
    let pipe = a.create("MediaPipeline", json!({})).await;
    let rtp = a.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    let web = a.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    let s1 = a.subscribe(&rtp, "ElementConnected").await;
    let s2 = a.subscribe(&rtp, "ElementConnected").await;
    assert_ne!(s1, s2);
    a.close().await;

    let mut b = Client::connect(&engine).await;
    b.ok("connect", json!({"sessionId": sid})).await;
    b.invoke(&rtp, "connect", json!({"sink": web, "mediaType": "VIDEO"})).await;
    let ev = b.event("ElementConnected").await;
    assert_eq!(ev["object"], json!(rtp));
    let data = &ev["data"];
    assert_eq!(data["sink"], json!(web));
    assert_eq!(data["mediaType"], "VIDEO");
    assert_eq!(data["source"], json!(rtp));
    assert_eq!(data["type"], "ElementConnected");
    assert_eq!(data["tags"], json!([]));
    assert!(data["timestampMillis"].as_str().unwrap().parse::<u64>().is_ok(), "timestampMillis is a string of digits");
    assert!(
        !b.saw_event_within("ElementConnected", Duration::from_millis(300)).await,
        "two subscriptions, one delivery"
    );

    // Unsubscribing one id keeps the other flowing; an unknown id is fine.
    let r = b.call("unsubscribe", json!({"subscription": s1, "object": rtp})).await;
    assert_eq!(r["result"]["sessionId"], json!(sid));
    b.ok("unsubscribe", json!({"subscription": "nope", "object": rtp})).await;
    b.invoke(&rtp, "disconnect", json!({"sink": web})).await;
    b.invoke(&rtp, "connect", json!({"sink": web})).await;
    assert!(b.saw_event_within("ElementConnected", Duration::from_secs(2)).await);
}

#[tokio::test]
async fn the_server_manager_describes_its_modules() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let info = c.invoke("manager_ServerManager", "getInfo", json!({})).await;
    let names: Vec<&str> = info["modules"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["core", "elements", "filters"]);
    assert_eq!(info["__type__"], "ServerInfo");
    assert!(info["version"].as_str().unwrap().starts_with('7'));
    let sessions = c.invoke("manager_ServerManager", "getSessions", json!({})).await;
    assert_eq!(sessions.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn malformed_frames_get_errors_and_harm_nobody() {
    let engine = spawn_engine().await;
    let mut other = Client::connect(&engine).await;
    let pipe = other.create("MediaPipeline", json!({})).await;

    let mut c = Client::connect(&engine).await;
    for (frame, code) in [
        ("{not json", -32700),
        ("[1,2,3]", -32600),
        (r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, -32600),
        (r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, -32600),
        (r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#, -32600),
        (r#"{"jsonrpc":"2.0","id":1,"method":5}"#, -32600),
        (r#"{"jsonrpc":"2.0","id":1}"#, -32600),
        (r#"{"jsonrpc":"2.0","id":1,"method":"invoke","params":[1]}"#, -32602),
        (r#"{"jsonrpc":"2.0","id":1,"method":"invoke","params":{"sessionId":7}}"#, -32000),
        ("\u{0}\u{1}garbage", -32700),
        ("", -32700),
    ] {
        c.send_raw(frame).await;
        let r = c.recv_response().await;
        assert_eq!(r["error"]["code"], code, "frame {frame:?} -> {r}");
    }
    let big = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"pad":"{}"}}}}"#, "x".repeat(100_000));
    c.send_raw(&big).await;
    assert_eq!(c.recv_response().await["result"]["value"], "pong");
    assert_eq!(c.call("ping", json!({})).await["result"]["value"], "pong", "the socket still works");
    assert_eq!(other.invoke(&pipe, "getChildren", json!({})).await, json!([]), "other sessions are untouched");
}

#[tokio::test]
async fn a_wrong_path_is_closed_with_1002() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let engine = spawn_engine().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/other", engine.ws_addr())).await.unwrap();
    match ws.next().await {
        Some(Ok(Message::Close(Some(f)))) => {
            assert_eq!(u16::from(f.code), 1002);
            assert_eq!(f.reason.as_str(), "Invalid path");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // The query string is ignored.
    let mut c = Client::connect_url(&format!("{}?x=1", engine.ws_url())).await;
    assert_eq!(c.call("ping", json!({})).await["result"]["value"], "pong");
}

#[tokio::test]
async fn close_session_unrefs_its_objects() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    c.create("MediaPipeline", json!({})).await;
    let r = c.call("closeSession", json!({})).await;
    assert!(r.get("error").is_none(), "{r}");
    assert_eq!(engine.stats().core.pipelines, 0);
}
