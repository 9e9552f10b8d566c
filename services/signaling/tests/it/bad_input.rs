//! Bad input gets its error code, never breaks the socket, and never touches other viewers.

use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{Deployment, CANDIDATE, OFFER};
use crate::responder::{candidate_for, Responder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_gets_its_error_code_and_the_socket_still_joins() {
    let d = Deployment::new().await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[]).await;
    let mut c = app.connect().await;
    let cases = [
        ("{not json".to_owned(), "malformed_message"),
        ("42".to_owned(), "malformed_message"),
        (json!({"type": "join", "camera": "cam1"}).to_string(), "malformed_message"),
        (json!({"type": "dance"}).to_string(), "unknown_message_type"),
        (json!({"type": "ice", "candidate": CANDIDATE, "sdpMid": "0", "sdpMLineIndex": 0}).to_string(), "out_of_order"),
        (json!({"type": "join", "camera": "cam1", "sdpOffer": "hello"}).to_string(), "invalid_sdp"),
        (json!({"type": "join", "camera": "cam1", "sdpOffer": "v=0\r\ns=-\r\n"}).to_string(), "invalid_sdp"),
        (json!({"type": "join", "camera": "../../etc/passwd", "sdpOffer": OFFER}).to_string(), "invalid_camera_id"),
        (json!({"type": "join", "camera": "", "sdpOffer": OFFER}).to_string(), "invalid_camera_id"),
    ];
    for (frame, code) in cases {
        c.send_text(frame.clone()).await;
        let v = c.expect_error(code).await;
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{frame} -> {v}");
    }
    let id = c.join_ok("cam1").await;
    assert_eq!(c.expect("ice").await["candidate"], candidate_for(&id));
    c.ice("not a candidate").await;
    c.expect_error("invalid_candidate").await;
    c.join("cam1").await;
    c.expect_error("out_of_order").await;
    // still the same viewer, still usable
    c.ice(CANDIDATE).await;
    c.send(json!({"type": "leave"})).await;
    d.wait_viewer_count("cam1", 0).await;
    c.join_ok("cam1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_64_kib_closes_with_1009_and_other_viewers_are_unaffected() {
    let d = Deployment::new().await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[]).await;
    let mut bystander = app.connect().await;
    bystander.join_ok("cam1").await;
    bystander.expect("ice").await;

    let mut big = app.connect().await;
    big.join_ok("cam1").await;
    big.send_text("x".repeat(camview_proto::signaling::MAX_FRAME_BYTES + 1)).await;
    assert_eq!(big.expect_close().await, Some(CloseCode::Size));
    d.wait_viewer_count("cam1", 1).await; // the closed socket's viewer was released

    let mut exact = app.connect().await;
    exact.send_text(format!("\"{}\"", "x".repeat(camview_proto::signaling::MAX_FRAME_BYTES - 2))).await;
    exact.expect_error("malformed_message").await; // 64 KiB exactly is read (and is not an object)

    bystander.ice(CANDIDATE).await;
    bystander.send(json!({"type": "dance"})).await;
    bystander.expect_error("unknown_message_type").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragmented_message_over_64_kib_also_closes_with_1009() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    let d = Deployment::new().await;
    let app = d.spawn_app(&[]).await;
    let mut c = app.connect().await;
    let half = "x".repeat(40 * 1024);
    let first = Frame::message(half.clone(), OpCode::Data(Data::Text), false);
    let rest = Frame::message(half, OpCode::Data(Data::Continue), true);
    c.ws().send(WsMessage::Frame(first)).await.expect("send first fragment");
    let _ = c.ws().send(WsMessage::Frame(rest)).await; // the server may already be closing
    assert_eq!(c.expect_close().await, Some(CloseCode::Size));
}
