//! Joining, answers, candidates and events across several instances; slots freed on leave and close.

use camview_proto::bus::{Message, Renegotiate, StreamEnded, StreamStateChanged};
use camview_proto::stream::StreamState;
use camview_proto::CameraId;
use camview_proto::ViewerId;
use futures_util::future::join_all;

use crate::helpers::{Client, Deployment, CANDIDATE, WAIT};
use crate::responder::{candidate_for, Responder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_spread_over_three_instances_get_their_own_answer_and_candidate() {
    let d = Deployment::new().await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let apps = [d.spawn_app(&[]).await, d.spawn_app(&[]).await, d.spawn_app(&[]).await];
    let mut clients = Vec::new();
    for i in 0..6 {
        clients.push(apps[i % 3].connect().await);
    }
    for c in &mut clients {
        c.join("cam1").await;
    }
    let mut ids = Vec::new();
    for c in &mut clients {
        let answer = c.expect("answer").await;
        let id = answer["viewerId"].as_str().unwrap().to_owned();
        assert!(answer["sdpAnswer"].as_str().unwrap().contains(&format!("answer-for-{id}")), "{answer}");
        let ice = c.expect("ice").await;
        assert_eq!(ice["candidate"], candidate_for(&id), "each socket gets its own viewer's candidate");
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6);
    assert_eq!(d.viewer_count("cam1").await, 6);
    let viewers = d.registry.list_viewers(Some(&CameraId::from_static("cam1"))).await.unwrap();
    for app in &apps {
        assert_eq!(viewers.iter().filter(|v| v.signaling_instance == app.instance_id()).count(), 2);
        assert!(app.instance_id().starts_with("signaling-"));
        assert!(d.registry.is_alive(app.instance_id()).await.unwrap(), "liveness key set");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_concurrent_joins_over_three_instances_admit_exactly_the_limit() {
    let d = Deployment::new().await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let apps = [d.spawn_app(&[]).await, d.spawn_app(&[]).await, d.spawn_app(&[]).await];
    let mut clients = Vec::new();
    for i in 0..30 {
        clients.push(apps[i % 3].connect().await);
    }
    let outcomes = join_all(clients.iter_mut().map(|c| async move {
        c.join("cam1").await;
        let v = c.recv().await;
        v["type"].as_str().unwrap().to_owned() + ":" + v["code"].as_str().unwrap_or("")
    }))
    .await;
    assert_eq!(outcomes.iter().filter(|o| o.as_str() == "answer:").count(), 10, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| o.as_str() == "error:stream_full").count(), 20, "{outcomes:?}");
    assert_eq!(d.viewer_count("cam1").await, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_for_a_stream_that_is_not_started_gets_the_controllers_stream_not_found() {
    let d = Deployment::new().await;
    let _responder = Responder::start(&d);
    let app = d.spawn_app(&[]).await;
    let mut c = app.connect().await;
    c.join("nosuchcamera").await;
    c.expect_error("stream_not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_frees_the_slot_for_the_next_viewer() {
    let d = Deployment::new().await;
    let responder = Responder::start_with_limit(&d, 1);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[]).await;
    let mut first = app.connect().await;
    first.join_ok("cam1").await;
    let mut second = app.connect().await;
    second.join("cam1").await;
    second.expect_error("stream_full").await;
    first.send(serde_json::json!({"type": "leave"})).await;
    d.wait_viewer_count("cam1", 0).await;
    assert_eq!(responder.count("RemoveViewer"), 1);
    second.join_ok("cam1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_socket_frees_the_slot_for_the_next_viewer() {
    let d = Deployment::new().await;
    let _responder = Responder::start_with_limit(&d, 1);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[]).await;
    let mut first = app.connect().await;
    first.join_ok("cam1").await;
    first.close().await;
    d.wait_viewer_count("cam1", 0).await;
    let mut second = app.connect().await;
    second.join_ok("cam1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_add_viewer_reports_its_code_and_frees_the_slot() {
    let d = Deployment::new().await;
    let responder = Responder::start(&d);
    responder.fail_camera("broken");
    d.start_stream("broken").await;
    let app = d.spawn_app(&[]).await;
    let mut c = app.connect().await;
    c.join("broken").await;
    c.expect_error("media_server_error").await;
    assert_eq!(d.viewer_count("broken").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_that_never_answers_gives_controller_unavailable_and_frees_the_slot() {
    let d = Deployment::new().await;
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[("BUS_REQUEST_TIMEOUT_MS", "300")]).await;
    let mut c = app.connect().await;
    c.join("cam1").await;
    c.expect_error("controller_unavailable").await;
    assert_eq!(d.viewer_count("cam1").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_candidates_reach_the_media_controller_even_before_the_answer() {
    let d = Deployment::new().await;
    let responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[]).await;
    let mut c = app.connect().await;
    c.join("cam1").await;
    c.ice(CANDIDATE).await; // trickled before the answer: buffered, sent after AddViewer
    c.expect("answer").await;
    c.ice(CANDIDATE).await;
    camview_common::testing::wait_until(WAIT, "two AddIceCandidate commands", || {
        let n = responder.count("AddIceCandidate");
        async move { n == 2 }
    })
    .await;
    let kinds: Vec<_> = responder.commands().iter().map(Message::kind).collect();
    assert_eq!(kinds, ["AddViewer", "AddIceCandidate", "AddIceCandidate"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_events_reach_the_viewer_and_stream_ended_lets_it_join_again() {
    let d = Deployment::new().await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[]).await;
    let mut c = app.connect().await;
    let id = c.join_ok("cam1").await;
    c.expect("ice").await;
    let stalled = Message::StreamStateChanged(StreamStateChanged {
        viewer_id: id.parse::<ViewerId>().unwrap(),
        camera_id: CameraId::from_static("cam1"),
        state: StreamState::Stalled,
    });
    d.publish(app.instance_id(), stalled).await;
    assert_eq!(c.expect("streamState").await["state"], "stalled");
    d.publish(
        app.instance_id(),
        Message::Renegotiate(Renegotiate {
            viewer_id: id.parse::<ViewerId>().unwrap(),
            camera_id: CameraId::from_static("cam1"),
        }),
    )
    .await;
    c.expect("renegotiate").await;
    assert_eq!(c.join_ok("cam1").await, id, "a new offer after renegotiate keeps the viewer id");
    c.expect("ice").await;
    d.publish(
        app.instance_id(),
        Message::StreamEnded(StreamEnded {
            viewer_id: id.parse::<ViewerId>().unwrap(),
            camera_id: CameraId::from_static("cam1"),
        }),
    )
    .await;
    c.expect("streamEnded").await;
    let _ = Client::connect(app.port, "/ws").await; // `/ws` works as well as `/`
    assert_ne!(c.join_ok("cam1").await, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_process_bus_and_registry_serve_joins_like_redis() {
    let d = Deployment::in_process().await;
    let _responder = Responder::start_with_limit(&d, 1);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[]).await;
    let mut c = app.connect().await;
    let id = c.join_ok("cam1").await;
    assert_eq!(c.expect("ice").await["candidate"], candidate_for(&id));
    let mut full = app.connect().await;
    full.join("cam1").await;
    full.expect_error("stream_full").await;
    c.close().await;
    d.wait_viewer_count("cam1", 0).await;
    full.join_ok("cam1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_while_redis_is_down_gets_registry_unavailable_and_the_socket_survives() {
    let mut server = camview_common::testing::RedisServer::start();
    let d = Deployment::on(&server).await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[]).await;
    let mut c = app.connect().await;
    server.stop();
    c.join("cam1").await;
    c.expect_error("registry_unavailable").await;
    server.restart(); // empty: the stream and the users are gone
                      // The join above failed at the auth store, so the registry's connection learns of the
                      // restart on its first use here: the first command may fail while it reconnects.
    d.wait_registry_up().await;
    d.start_stream("cam1").await;
    // The instance keeps the signing key it read at start; the user must exist again.
    d.user_token("viewer", &["*"]).await;
    let id = c.join_ok("cam1").await;
    assert_eq!(d.viewer_count("cam1").await, 1, "{id} holds the only slot");
}
