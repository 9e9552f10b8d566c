use super::*;
use serde_json::json;

const FIRST_ID: u64 = 1_000;

fn timing() -> Timing {
    Timing::default()
}

fn drain(p: &mut Protocol) -> Vec<Output> {
    std::iter::from_fn(|| p.poll_output()).collect()
}

fn sent(outputs: &[Output]) -> Vec<Value> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(text) => Some(serde_json::from_str(text).expect("we send JSON")),
            _ => None,
        })
        .collect()
}

fn states(outputs: &[Output]) -> Vec<LinkState> {
    outputs.iter().filter_map(|o| if let Output::State(s) = o { Some(s.clone()) } else { None }).collect()
}

fn answer(p: &mut Protocol, now: Instant, request: &Value, result: Value) {
    p.frame(now, &json!({"id": request["id"], "jsonrpc": "2.0", "result": result}).to_string());
}

fn fail(p: &mut Protocol, now: Instant, request: &Value, code: i64, kind: &str) {
    let error = json!({"code": code, "message": "no", "data": {"type": kind}});
    p.frame(now, &json!({"id": request["id"], "jsonrpc": "2.0", "error": error}).to_string());
}

/// A protocol with an established session `sid-1` on server `srv-1`.
fn connected(now: Instant) -> Protocol {
    let mut p = Protocol::new(timing(), FIRST_ID);
    p.start();
    p.socket_opened(now);
    let connect = sent(&drain(&mut p)).remove(0);
    answer(&mut p, now, &connect, json!({"sessionId": "sid-1", "serverId": "srv-1"}));
    drain(&mut p);
    p
}

fn call(p: &mut Protocol, now: Instant, method: &str) -> oneshot::Receiver<Result<Option<Value>, ClientError>> {
    let (tx, rx) = oneshot::channel();
    p.call(now, method, Map::new(), None, tx);
    rx
}

#[test]
fn calls_wait_for_the_session_and_then_carry_its_id() {
    let now = Instant::now();
    let mut p = Protocol::new(timing(), FIRST_ID);
    p.start();
    assert_eq!(drain(&mut p), vec![Output::Open, Output::State(LinkState::Connecting)]);
    let mut reply = call(&mut p, now, "create");
    assert!(drain(&mut p).is_empty(), "nothing is sent before the socket is up");

    p.socket_opened(now);
    let out = sent(&drain(&mut p));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["method"], "connect");
    assert_eq!(out[0]["params"], json!({}), "a first connect asks for a new session");

    answer(&mut p, now, &out[0], json!({"sessionId": "sid-1", "serverId": "srv-1"}));
    let outputs = drain(&mut p);
    let expected = LinkState::Connected { session_id: "sid-1".into(), server_id: Some("srv-1".into()), resumed: false };
    assert_eq!(states(&outputs), vec![expected]);
    let create = sent(&outputs).remove(0);
    assert_eq!(create["method"], "create");
    assert_eq!(create["params"]["sessionId"], "sid-1");

    answer(&mut p, now, &create, json!({"sessionId": "sid-1", "value": "P"}));
    assert_eq!(reply.try_recv().unwrap(), Ok(Some(json!("P"))));
}

#[test]
fn void_results_accept_null_or_absent_value() {
    let now = Instant::now();
    let mut p = connected(now);
    let mut with_null = call(&mut p, now, "invoke");
    let mut without = call(&mut p, now, "release");
    let out = sent(&drain(&mut p));
    answer(&mut p, now, &out[0], json!({"sessionId": "sid-1", "value": null}));
    answer(&mut p, now, &out[1], json!({"sessionId": "sid-1"}));
    assert_eq!(with_null.try_recv().unwrap(), Ok(None));
    assert_eq!(without.try_recv().unwrap(), Ok(None));
}

#[test]
fn server_errors_are_typed_with_their_kurento_code() {
    let now = Instant::now();
    let mut p = connected(now);
    let mut reply = call(&mut p, now, "invoke");
    let out = sent(&drain(&mut p));
    fail(&mut p, now, &out[0], 40101, "MEDIA_OBJECT_NOT_FOUND");
    let err = reply.try_recv().unwrap().unwrap_err();
    assert_eq!(err.kurento_code(), Some(KurentoErrorCode::MediaObjectNotFound));
}

#[test]
fn request_ids_are_never_reused_across_reconnects() {
    let now = Instant::now();
    let mut p = connected(now);
    let _first = call(&mut p, now, "invoke");
    let mut ids: Vec<u64> = sent(&drain(&mut p)).iter().map(|r| r["id"].as_u64().unwrap()).collect();
    p.socket_closed(now);
    drain(&mut p);
    p.tick(now + Duration::from_secs(1));
    assert!(drain(&mut p).contains(&Output::Open));
    p.socket_opened(now + Duration::from_secs(1));
    let connect = sent(&drain(&mut p)).remove(0);
    ids.push(connect["id"].as_u64().unwrap());
    assert_eq!(connect["params"], json!({"sessionId": "sid-1"}), "reconnect resumes the old session");
    answer(&mut p, now, &connect, json!({"sessionId": "sid-1", "serverId": "srv-1"}));
    let _second = call(&mut p, now, "invoke");
    let resent: Vec<u64> = sent(&drain(&mut p)).iter().map(|r| r["id"].as_u64().unwrap()).collect();
    let mut fresh: Vec<u64> = ids.iter().copied().chain(resent.iter().copied().skip(1)).collect();
    let before = fresh.len();
    fresh.sort_unstable();
    fresh.dedup();
    assert_eq!(fresh.len(), before, "ids {fresh:?} repeat");
    assert!(fresh.iter().all(|id| *id >= FIRST_ID));
}

#[test]
fn a_call_in_flight_when_the_socket_drops_is_resent_with_the_same_id_after_resume() {
    let now = Instant::now();
    let mut p = connected(now);
    let mut reply = call(&mut p, now, "create");
    let original = sent(&drain(&mut p)).remove(0);
    p.socket_closed(now);
    let outputs = drain(&mut p);
    assert_eq!(states(&outputs), vec![LinkState::Disconnected]);
    p.tick(now + Duration::from_secs(1));
    drain(&mut p);
    p.socket_opened(now + Duration::from_secs(1));
    let connect = sent(&drain(&mut p)).remove(0);
    answer(&mut p, now, &connect, json!({"sessionId": "sid-1", "serverId": "srv-1"}));
    let outputs = drain(&mut p);
    let resumed = LinkState::Connected { session_id: "sid-1".into(), server_id: Some("srv-1".into()), resumed: true };
    assert_eq!(states(&outputs), vec![resumed]);
    let resent = sent(&outputs).remove(0);
    assert_eq!(resent, original, "same id and session: the server's cache answers without re-running it");
    answer(&mut p, now, &resent, json!({"value": "P"}));
    assert_eq!(reply.try_recv().unwrap(), Ok(Some(json!("P"))));
}

#[test]
fn a_call_older_than_the_server_request_cache_fails_as_disconnected() {
    let now = Instant::now();
    let timing = Timing { request_timeout: Duration::from_secs(60), ..Timing::default() };
    let mut p = Protocol::new(timing, FIRST_ID);
    p.start();
    p.socket_opened(now);
    let connect = sent(&drain(&mut p)).remove(0);
    answer(&mut p, now, &connect, json!({"sessionId": "sid-1"}));
    let mut reply = call(&mut p, now, "create");
    drain(&mut p);
    p.socket_closed(now + REQUEST_CACHE_TTL);
    assert_eq!(reply.try_recv().unwrap(), Err(ClientError::Disconnected));
}

#[test]
fn invalid_session_on_resume_reports_session_lost_and_starts_a_new_session() {
    let now = Instant::now();
    let mut p = connected(now);
    let (sink, mut events) = mpsc::channel(EVENT_BUFFER);
    let (tx, _rx) = oneshot::channel();
    p.subscribe(now, "P/W", "IceGatheringDone", sink, None, tx);
    let mut pending = call(&mut p, now, "invoke");
    drain(&mut p);
    p.socket_closed(now);
    p.tick(now + Duration::from_secs(1));
    p.socket_opened(now + Duration::from_secs(1));
    let connect = sent(&drain(&mut p)).pop().unwrap();
    fail(&mut p, now, &connect, 40007, "INVALID_SESSION");
    let outputs = drain(&mut p);
    assert_eq!(states(&outputs), vec![LinkState::SessionLost { session_id: "sid-1".into() }]);
    assert_eq!(pending.try_recv().unwrap(), Err(ClientError::SessionLost));
    assert!(matches!(events.try_recv(), Err(mpsc::error::TryRecvError::Disconnected)), "event streams end");
    let fresh = sent(&outputs).remove(0);
    assert_eq!((fresh["method"].as_str(), &fresh["params"]), (Some("connect"), &json!({})));
    answer(&mut p, now, &fresh, json!({"sessionId": "sid-2", "serverId": "srv-1"}));
    let connected =
        LinkState::Connected { session_id: "sid-2".into(), server_id: Some("srv-1".into()), resumed: false };
    assert_eq!(states(&drain(&mut p)), vec![connected]);
}

#[test]
fn a_changed_server_id_counts_as_a_lost_session() {
    let now = Instant::now();
    let mut p = connected(now);
    p.socket_closed(now);
    p.tick(now + Duration::from_secs(1));
    p.socket_opened(now + Duration::from_secs(1));
    let connect = sent(&drain(&mut p)).pop().unwrap();
    answer(&mut p, now, &connect, json!({"sessionId": "sid-1", "serverId": "srv-2"}));
    let got = states(&drain(&mut p));
    assert_eq!(got[0], LinkState::SessionLost { session_id: "sid-1".into() });
    assert!(matches!(&got[1], LinkState::Connected { resumed: false, .. }));
}

#[test]
fn an_unanswered_ping_drops_the_socket_and_reconnects_with_backoff() {
    let now = Instant::now();
    let t = timing();
    let mut p = connected(now);
    assert_eq!(p.poll_timeout(), Some(now + t.ping_interval));
    p.tick(now + t.ping_interval);
    let ping = sent(&drain(&mut p)).remove(0);
    assert_eq!(ping["method"], "ping");
    assert_eq!(ping["params"]["sessionId"], "sid-1");
    let dead_at = now + t.ping_interval + t.ping_timeout;
    p.tick(dead_at);
    let outputs = drain(&mut p);
    assert_eq!(outputs[0], Output::Close);
    assert_eq!(states(&outputs), vec![LinkState::Disconnected]);
    assert_eq!(p.poll_timeout(), Some(dead_at + t.backoff_min));
}

#[test]
fn an_answered_ping_schedules_the_next_one() {
    let now = Instant::now();
    let t = timing();
    let mut p = connected(now);
    p.tick(now + t.ping_interval);
    let ping = sent(&drain(&mut p)).remove(0);
    let later = now + t.ping_interval + Duration::from_secs(1);
    answer(&mut p, later, &ping, json!({"sessionId": "sid-1", "value": "pong"}));
    assert_eq!(p.poll_timeout(), Some(later + t.ping_interval));
}

#[test]
fn calls_time_out_at_their_deadline_even_while_disconnected() {
    let now = Instant::now();
    let mut p = Protocol::new(timing(), FIRST_ID);
    p.start();
    let (tx, mut rx) = oneshot::channel();
    p.call(now, "create", Map::new(), Some(Duration::from_millis(50)), tx);
    p.tick(now + Duration::from_millis(49));
    assert!(rx.try_recv().is_err());
    p.tick(now + Duration::from_millis(50));
    assert_eq!(rx.try_recv().unwrap(), Err(ClientError::Timeout(Duration::from_millis(50))));
}

#[test]
fn events_reach_subscribers_even_before_the_subscribe_response() {
    let now = Instant::now();
    let mut p = connected(now);
    let (sink, mut events) = mpsc::channel(EVENT_BUFFER);
    let (tx, _rx) = oneshot::channel();
    p.subscribe(now, "P/W", "IceGatheringDone", sink, None, tx);
    let request = sent(&drain(&mut p)).remove(0);
    assert_eq!(request["params"]["type"], "IceGatheringDone");
    let data = json!({"source": "P/W", "tags": [], "timestampMillis": "1", "type": "IceGatheringDone"});
    let event = json!({"jsonrpc": "2.0", "method": "onEvent", "params": {"value": {"data": data, "object": "P/W", "type": "IceGatheringDone"}}});
    p.frame(now, &event.to_string());
    assert_eq!(events.try_recv().unwrap(), data);
    let other = json!({"jsonrpc": "2.0", "method": "onEvent", "params": {"value": {"data": data, "object": "P/X", "type": "IceGatheringDone"}}});
    p.frame(now, &other.to_string());
    assert!(events.try_recv().is_err(), "events of other objects are not delivered");
}

#[test]
fn a_subscriber_that_falls_behind_loses_newer_events_not_its_subscription_nor_others_events() {
    let now = Instant::now();
    let mut p = connected(now);
    let (slow, mut slow_events) = mpsc::channel(EVENT_BUFFER);
    let (fast, mut fast_events) = mpsc::channel(EVENT_BUFFER + 8);
    for sink in [slow, fast] {
        let (tx, _rx) = oneshot::channel();
        p.subscribe(now, "P/W", "IceCandidateFound", sink, None, tx);
    }
    drain(&mut p);
    let event = |n: usize| {
        let data = json!({"source": "P/W", "n": n});
        json!({"jsonrpc": "2.0", "method": "onEvent", "params": {"value": {"data": data, "object": "P/W", "type": "IceCandidateFound"}}})
            .to_string()
    };
    for n in 0..EVENT_BUFFER + 5 {
        p.frame(now, &event(n));
    }
    let mut got = 0;
    while slow_events.try_recv().is_ok() {
        got += 1;
    }
    assert_eq!(got, EVENT_BUFFER, "the slow subscriber got what fits, the rest was dropped");
    let mut fast_got = 0;
    while fast_events.try_recv().is_ok() {
        fast_got += 1;
    }
    assert_eq!(fast_got, EVENT_BUFFER + 5, "the other subscriber lost nothing");
    p.frame(now, &event(9999));
    assert_eq!(slow_events.try_recv().unwrap()["n"], 9999, "still subscribed once it caught up");
}

#[test]
fn malformed_frames_are_ignored() {
    let now = Instant::now();
    let mut p = connected(now);
    let mut reply = call(&mut p, now, "invoke");
    let request = sent(&drain(&mut p)).remove(0);
    for junk in [
        "",
        "nonsense",
        "[]",
        "{\"id\":\"x\"}",
        "{\"method\":\"onEvent\"}",
        "{\"id\":null,\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":\"bad\"}}",
    ] {
        p.frame(now, junk);
    }
    assert!(drain(&mut p).is_empty());
    answer(&mut p, now, &request, json!({"value": true}));
    assert_eq!(reply.try_recv().unwrap(), Ok(Some(json!(true))));
}

#[test]
fn shutdown_fails_pending_calls_and_refuses_new_ones() {
    let now = Instant::now();
    let mut p = connected(now);
    let mut pending = call(&mut p, now, "invoke");
    p.shutdown();
    assert_eq!(pending.try_recv().unwrap(), Err(ClientError::Closed));
    let mut late = call(&mut p, now, "invoke");
    assert_eq!(late.try_recv().unwrap(), Err(ClientError::Closed));
    assert_eq!(states(&drain(&mut p)), vec![LinkState::Closed]);
}

mod props {
    //! Whatever the media server sends, the protocol core never panics and never leaves a
    //! call hanging: once its timeout has passed, every call has its answer or its error.

    use proptest::prelude::*;

    use super::*;

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::from),
            "[ -~]{0,24}".prop_map(Value::from),
            Just(json!({"sessionId": "sid-2"})),
            Just(
                json!({"value": {"type": "IceCandidateFound", "object": "o", "data": {"source": "o", "candidate": 5}}})
            ),
            Just(json!({"code": 40101, "message": "gone", "data": {"type": "MEDIA_OBJECT_NOT_FOUND"}})),
            Just(json!([1, {"a": null}])),
        ]
    }

    /// Frames shaped like JSON-RPC 2.0 (ids near the calls in flight), or any text at all.
    fn frame() -> impl Strategy<Value = String> {
        let id = prop_oneof![
            (FIRST_ID..FIRST_ID + 8).prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z0-9]{0,6}".prop_map(Value::from)
        ];
        let keys = prop::collection::vec(
            (prop_oneof![Just("result"), Just("error"), Just("method"), Just("params"), Just("jsonrpc")], value()),
            0..4,
        );
        let shaped = (prop::option::of(id), keys, prop::option::of(Just("onEvent"))).prop_map(|(id, fields, event)| {
            let mut v = json!({});
            if let Some(id) = id {
                v["id"] = id;
            }
            for (k, val) in fields {
                v[k] = val;
            }
            if let Some(m) = event {
                v["method"] = m.into();
            }
            v.to_string()
        });
        prop_oneof![3 => shaped, 1 => any::<String>()]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn no_frame_from_the_server_panics_the_protocol_or_leaves_a_call_unanswered(frames in prop::collection::vec(frame(), 1..30)) {
            let now = Instant::now();
            let mut p = connected(now);
            let mut calls: Vec<_> = (0..4).map(|_| call(&mut p, now, "create")).collect();
            drain(&mut p);
            for (i, text) in frames.iter().enumerate() {
                p.frame(now + Duration::from_millis(i as u64), text);
                drain(&mut p);
            }
            p.tick(now + Duration::from_secs(3600));
            drain(&mut p);
            for rx in &mut calls {
                prop_assert!(!matches!(rx.try_recv(), Err(oneshot::error::TryRecvError::Empty)), "a call hangs after its timeout");
            }
        }
    }
}
