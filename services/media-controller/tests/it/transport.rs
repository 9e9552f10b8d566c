//! The generated client over a real WebSocket, against the scripted peer in `fake_kms`.

use crate::fake_kms::{event_data, param, FakeKms, Peer, PATIENCE};
use camview_media_controller::kurento::events::{IceCandidateFound, IceGatheringDone, MediaFlowInStateChanged};
use camview_media_controller::kurento::{
    AnyStats, ClientConfig, ClientError, IceCandidate, IceComponentState, KurentoClient, LinkState, MediaFlowState,
    MediaPipeline, MediaType, RtpEndpoint, RtpEndpointParams, Timing, WebRtcEndpoint,
};
use camview_proto::kurento::{KurentoErrorCode, Request};
use serde_json::{json, Value};
use std::future::Future;
use std::time::Duration;
use tokio::sync::broadcast;

const P: &str = "0c4a_kurento.MediaPipeline";
const RTP: &str = "0c4a_kurento.MediaPipeline/91aa_kurento.RtpEndpoint";
const W1: &str = "0c4a_kurento.MediaPipeline/5d0f_kurento.WebRtcEndpoint";

fn config(url: &str) -> ClientConfig {
    let timing = Timing {
        request_timeout: PATIENCE,
        ping_interval: Duration::from_secs(60),
        ping_timeout: PATIENCE,
        backoff_min: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
    };
    ClientConfig { timing, ..ClientConfig::new(url) }
}

async fn connected(kms: &mut FakeKms, tweak: impl FnOnce(&mut ClientConfig)) -> (KurentoClient, Peer) {
    let mut config = config(&kms.url);
    tweak(&mut config);
    let client = KurentoClient::start(config);
    let mut peer = kms.next_peer().await;
    peer.accept_session("sid-1", "srv-1").await;
    client.wait_connected(PATIENCE).await.expect("connected");
    (client, peer)
}

/// Runs `call` while the peer answers its one request with `value`; returns both sides.
async fn exchange<T>(peer: &mut Peer, call: impl Future<Output = T>, value: Value) -> (T, Request) {
    let server = async {
        let request = peer.request().await;
        peer.reply(&request, value);
        request
    };
    tokio::join!(call, server)
}

async fn next_state(states: &mut broadcast::Receiver<LinkState>) -> LinkState {
    tokio::time::timeout(PATIENCE, states.recv()).await.expect("a state change in time").expect("state channel open")
}

#[tokio::test]
async fn generated_handles_send_kmd_wire_names_with_the_session_id() {
    let mut kms = FakeKms::start().await;
    let (client, mut peer) = connected(&mut kms, |_| {}).await;

    let (pipeline, req) = exchange(&mut peer, MediaPipeline::create(&client), json!(P)).await;
    let pipeline = pipeline.expect("pipeline");
    assert_eq!(req.params, Some(json!({"type": "MediaPipeline", "constructorParams": {}, "sessionId": "sid-1"})));

    let (rtp, req) =
        exchange(&mut peer, RtpEndpoint::create(&client, &pipeline, RtpEndpointParams::default()), json!(RTP)).await;
    let rtp = rtp.expect("rtp endpoint");
    assert_eq!(param(&req, "constructorParams"), json!({"mediaPipeline": P}), "unset options are omitted");

    let (set, req) = exchange(&mut peer, rtp.set_max_video_recv_bandwidth(3000), Value::Null).await;
    set.expect("setter");
    assert_eq!((param(&req, "object"), param(&req, "operation")), (json!(RTP), json!("setMaxVideoRecvBandwidth")));
    assert_eq!(param(&req, "operationParams"), json!({"maxVideoRecvBandwidth": 3000}));

    let (answer, req) = exchange(&mut peer, rtp.process_offer("v=0 offer"), json!("v=0 answer")).await;
    assert_eq!(answer.expect("answer"), "v=0 answer");
    assert_eq!(param(&req, "operationParams"), json!({"offer": "v=0 offer"}));

    let (viewer, _) =
        exchange(&mut peer, WebRtcEndpoint::create(&client, &pipeline, Default::default()), json!(W1)).await;
    let viewer = viewer.expect("viewer");
    let (linked, req) = exchange(&mut peer, rtp.connect(&viewer, Some(MediaType::Video)), Value::Null).await;
    linked.expect("connect");
    assert_eq!(param(&req, "operationParams"), json!({"sink": W1, "mediaType": "VIDEO"}));
    let (linked, req) = exchange(&mut peer, rtp.connect(&viewer, None), Value::Null).await;
    linked.expect("connect all media");
    assert_eq!(param(&req, "operationParams"), json!({"sink": W1}), "an unset optional parameter is omitted");

    let candidate = IceCandidate {
        candidate: "candidate:1 1 udp 1 192.0.2.7 5000 typ host".into(),
        sdp_mid: "0".into(),
        sdp_m_line_index: 0,
    };
    let (added, req) = exchange(&mut peer, viewer.add_ice_candidate(&candidate), Value::Null).await;
    added.expect("addIceCandidate");
    assert_eq!(param(&req, "operationParams")["candidate"]["sdpMLineIndex"], 0);

    let (released, req) = exchange(&mut peer, pipeline.release(), Value::Null).await;
    released.expect("release");
    assert_eq!((req.method.as_str(), param(&req, "object")), ("release", json!(P)));
}

#[tokio::test]
async fn typed_results_decode_server_values_with_module_and_type_tags() {
    let mut kms = FakeKms::start().await;
    let (client, mut peer) = connected(&mut kms, |_| {}).await;
    let viewer = WebRtcEndpoint::attach(&client, W1);

    let states = json!([{"__module__": "kurento", "__type__": "IceConnection", "streamId": "1", "componentId": 1, "state": "CONNECTED"}]);
    let (ice, req) = exchange(&mut peer, viewer.get_ice_connection_state(), states).await;
    assert_eq!(param(&req, "operation"), "getIceConnectionState");
    assert_eq!(ice.expect("ice state")[0].state, IceComponentState::Connected);

    let stats = json!({
        "out1": {"__module__": "kurento", "__type__": "RTCOutboundRTPStreamStats", "id": "out1", "type": "outboundrtp",
                 "timestampMillis": 1732400001000_i64, "ssrc": "1234", "firCount": 0, "pliCount": 1, "nackCount": 0,
                 "packetsLost": 0, "fractionLost": 0.0, "packetsSent": 19778, "bytesSent": 1463634, "roundTripTime": 0.02},
        "el": {"__module__": "kurento", "__type__": "ElementStats", "id": "el", "type": "element", "timestampMillis": 1, "inputLatency": []},
        "new": {"__module__": "kurento", "__type__": "SomethingNewer", "id": "new", "type": "endpoint", "timestampMillis": 1},
        "odd": {"__module__": "kurento", "__type__": "RTCCodec", "id": "odd", "type": "codec"}
    });
    let (got, _) = exchange(&mut peer, viewer.get_stats(Some(MediaType::Video)), stats).await;
    let got = got.expect("stats");
    assert!(
        matches!(&got["out1"], AnyStats::RTCOutboundRTPStreamStats(s) if s.packets_sent == 19778 && s.pli_count == 1)
    );
    assert!(matches!(&got["el"], AnyStats::ElementStats(_)));
    assert!(matches!(&got["new"], AnyStats::Stats(s) if s.id == "new"), "unknown subtypes fall back to the base type");
    assert!(matches!(&got["odd"], AnyStats::Other(v) if v["type"] == "codec"), "and then to raw JSON");

    let (flowing, req) = exchange(&mut peer, viewer.is_media_flowing_in(MediaType::Video), json!(true)).await;
    assert!(flowing.expect("flowing"));
    assert_eq!(param(&req, "operationParams"), json!({"mediaType": "VIDEO"}));

    let (bad, _) = exchange(&mut peer, viewer.is_media_flowing_out(MediaType::Video), json!("yes")).await;
    assert!(matches!(bad, Err(ClientError::Decode { .. })), "a mistyped value is an error, not a panic");
}

#[tokio::test]
async fn server_errors_surface_as_typed_kurento_errors() {
    let mut kms = FakeKms::start().await;
    let (client, mut peer) = connected(&mut kms, |_| {}).await;
    let rtp = RtpEndpoint::attach(&client, RTP);
    let server = async {
        let request = peer.request().await;
        peer.fail(&request, KurentoErrorCode::SdpEndPointAlreadyNegotiated, "already negotiated");
    };
    let (result, ()) = tokio::join!(rtp.process_offer("v=0"), server);
    let err = result.expect_err("server error");
    assert_eq!(err.kurento_code(), Some(KurentoErrorCode::SdpEndPointAlreadyNegotiated));
}

#[tokio::test]
async fn an_event_sent_before_the_subscribe_response_is_delivered_typed() {
    let mut kms = FakeKms::start().await;
    let (client, mut peer) = connected(&mut kms, |_| {}).await;
    let viewer = WebRtcEndpoint::attach(&client, W1);
    let server = async {
        let request = peer.request().await;
        assert_eq!((request.method.as_str(), param(&request, "type")), ("subscribe", json!("IceCandidateFound")));
        let candidate = json!({"__module__": "kurento", "__type__": "IceCandidate", "candidate": "candidate:1 1 UDP 2015363327 192.168.1.10 40128 typ host", "sdpMLineIndex": 0, "sdpMid": "0"});
        peer.event(W1, "IceCandidateFound", event_data(W1, "IceCandidateFound", json!({"candidate": candidate})));
        peer.reply(&request, json!("sub-1"));
    };
    let (stream, ()) = tokio::join!(viewer.subscribe::<IceCandidateFound>(), server);
    let mut stream = stream.expect("subscribed");
    assert_eq!(stream.subscription_id(), "sub-1");
    let event = tokio::time::timeout(PATIENCE, stream.recv()).await.expect("event in time").expect("event");
    assert_eq!(event.candidate.sdp_m_line_index, 0);
    assert_eq!((event.source.as_str(), event.timestamp_millis.as_str()), (W1, "1732400000123"));
}

#[tokio::test]
async fn a_dropped_socket_resumes_the_old_session_and_events_keep_flowing() {
    let mut kms = FakeKms::start().await;
    let (client, mut peer) = connected(&mut kms, |_| {}).await;
    let mut states = client.connection_events();
    let rtp = RtpEndpoint::attach(&client, RTP);
    let (stream, _) = exchange(&mut peer, rtp.subscribe::<MediaFlowInStateChanged>(), json!("sub-1")).await;
    let mut stream = stream.expect("subscribed");

    peer.close();
    assert_eq!(next_state(&mut states).await, LinkState::Disconnected);
    let mut peer = kms.next_peer().await;
    let connect = peer.accept_session("sid-1", "srv-1").await;
    assert_eq!(connect.params, Some(json!({"sessionId": "sid-1"})), "the old session is resumed");
    let resumed = LinkState::Connected { session_id: "sid-1".into(), server_id: Some("srv-1".into()), resumed: true };
    assert_eq!(next_state(&mut states).await, resumed);

    let data = event_data(
        RTP,
        "MediaFlowInStateChanged",
        json!({"state": "FLOWING", "padName": "default", "mediaType": "VIDEO"}),
    );
    peer.event(RTP, "MediaFlowInStateChanged", data);
    let event = tokio::time::timeout(PATIENCE, stream.recv()).await.expect("event in time").expect("event");
    assert_eq!((event.state, event.media_type), (MediaFlowState::Flowing, MediaType::Video));
}

#[tokio::test]
async fn a_request_in_flight_when_the_socket_drops_is_resent_with_the_same_id() {
    let mut kms = FakeKms::start().await;
    let (client, mut peer) = connected(&mut kms, |_| {}).await;
    let server = async move {
        let first = peer.request().await;
        peer.close();
        let mut peer = kms.next_peer().await;
        peer.accept_session("sid-1", "srv-1").await;
        let again = peer.request().await;
        assert_eq!(again, first, "same id and session, so the server's request cache answers it once");
        peer.reply(&again, json!(P));
        peer
    };
    let (pipeline, _peer) = tokio::join!(MediaPipeline::create(&client), server);
    assert_eq!(pipeline.expect("pipeline").id(), P);
}

#[tokio::test]
async fn invalid_session_after_a_reconnect_reports_session_lost_then_a_new_session() {
    let mut kms = FakeKms::start().await;
    let (client, mut peer) = connected(&mut kms, |_| {}).await;
    let mut states = client.connection_events();
    let viewer = WebRtcEndpoint::attach(&client, W1);
    let (stream, _) = exchange(&mut peer, viewer.subscribe::<IceGatheringDone>(), json!("sub-1")).await;
    let mut stream = stream.expect("subscribed");

    peer.close();
    assert_eq!(next_state(&mut states).await, LinkState::Disconnected);
    let mut peer = kms.next_peer().await;
    let resume = peer.request().await;
    assert_eq!(param(&resume, "sessionId"), "sid-1");
    peer.fail(&resume, KurentoErrorCode::InvalidSession, "Invalid session");
    assert_eq!(next_state(&mut states).await, LinkState::SessionLost { session_id: "sid-1".into() });
    let fresh = peer.accept_session("sid-2", "srv-2").await;
    assert_eq!(fresh.params, Some(json!({})), "a new session is requested");
    assert!(
        matches!(next_state(&mut states).await, LinkState::Connected { session_id, resumed: false, .. } if session_id == "sid-2")
    );
    let ended = tokio::time::timeout(PATIENCE, stream.recv()).await.expect("stream ends in time");
    assert!(ended.is_none(), "event streams of the lost session end");

    let (pipeline, req) = exchange(&mut peer, MediaPipeline::create(&client), json!(P)).await;
    pipeline.expect("objects can be recreated");
    assert_eq!(param(&req, "sessionId"), "sid-2");
}

#[tokio::test]
async fn a_slow_reply_fails_with_the_per_request_timeout() {
    let mut kms = FakeKms::start().await;
    let (client, mut peer) = connected(&mut kms, |_| {}).await;
    let impatient = client.with_request_timeout(Duration::from_millis(200));
    let pipeline = MediaPipeline::attach(&impatient, P);
    let (result, request) = tokio::join!(pipeline.release(), peer.request());
    assert_eq!(result, Err(ClientError::Timeout(Duration::from_millis(200))));
    peer.reply(&request, Value::Null);
    let (ok, _) = exchange(&mut peer, MediaPipeline::attach(&client, P).release(), Value::Null).await;
    ok.expect("a late reply does not confuse later calls");
}

#[tokio::test]
async fn a_silent_server_is_detected_by_ping_timeout_and_the_client_reconnects() {
    let mut kms = FakeKms::start().await;
    let (client, mut peer) = connected(&mut kms, |config| {
        config.timing.ping_interval = Duration::from_millis(100);
        config.timing.ping_timeout = Duration::from_millis(200);
    })
    .await;
    let mut states = client.connection_events();
    let ping = peer.request().await;
    assert_eq!((ping.method.as_str(), param(&ping, "sessionId")), ("ping", json!("sid-1")));
    // The socket stays open but nothing answers.
    assert_eq!(next_state(&mut states).await, LinkState::Disconnected);
    let mut peer2 = kms.next_peer().await;
    peer2.accept_session("sid-1", "srv-1").await;
    assert!(matches!(next_state(&mut states).await, LinkState::Connected { resumed: true, .. }));
    drop(peer);
}

#[tokio::test]
async fn shutdown_closes_the_socket_ends_streams_and_fails_later_calls() {
    let mut kms = FakeKms::start().await;
    let (client, mut peer) = connected(&mut kms, |_| {}).await;
    let viewer = WebRtcEndpoint::attach(&client, W1);
    let (stream, _) = exchange(&mut peer, viewer.subscribe::<IceGatheringDone>(), json!("sub-1")).await;
    let mut stream = stream.expect("subscribed");
    let mut states = client.connection_events();
    client.shutdown();
    assert_eq!(next_state(&mut states).await, LinkState::Closed);
    let ended = tokio::time::timeout(PATIENCE, stream.recv()).await.expect("stream ends in time");
    assert!(ended.is_none());
    assert_eq!(MediaPipeline::create(&client).await.err(), Some(ClientError::Closed));
}
