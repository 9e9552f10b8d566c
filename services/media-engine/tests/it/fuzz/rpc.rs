//! Kurento JSON-RPC frames into `Core::handle` (the socket-free dispatcher the WebSocket feeds):
//! mutated real frames of a session (connect, create, subscribe, processOffer with camera and
//! browser offers, candidates, connect, getStats, release...), frames with the session's real
//! object ids and random parameter values, and raw text.

use std::sync::Arc;
use std::time::Instant;

use camview_common::testing::peer::{Codecs, TestPeer};
use camview_media_engine::events::EventTx;
use camview_media_engine::media::webrtc::WebRtcMux;
use camview_media_engine::media::MediaCounters;
use camview_media_engine::rpc::{Core, MediaCtx};
use camview_media_engine::Settings;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::parsers::{camera_sdps, CHROME_OFFER};
use super::{config, mutate_text, mutations};

struct Harness {
    core: Core,
    events: tokio::sync::mpsc::Receiver<camview_media_engine::events::EngineEvent>,
    counters: Arc<MediaCounters>,
    offers: Vec<String>,
    next: u64,
    /// Answers by outcome: (results, errors), to see the runs reach past the parser.
    outcomes: (u64, u64),
    _rt: tokio::runtime::Runtime,
    _cancel: tokio_util::sync::DropGuard,
}

impl Harness {
    fn new() -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let _g = rt.enter();
        // No request cache: the seeds' ids repeat, and every frame should reach the dispatcher.
        let cfg = Arc::new(Settings { request_cache_ttl: std::time::Duration::ZERO, ..Settings::for_tests() });
        let counters = Arc::new(MediaCounters::default());
        let (tx, events) = tokio::sync::mpsc::channel(camview_media_engine::EVENT_QUEUE);
        let ev = EventTx::new(tx, counters.faults.clone());
        let cancel = CancellationToken::new();
        let mux = WebRtcMux::start(cfg.clone(), ev.clone(), counters.clone(), cancel.clone()).unwrap();
        let core = Core::new(MediaCtx { cfg, mux, events: ev, counters: counters.clone() });
        let mut offers: Vec<String> = (0..2)
            .map(|i| {
                let mut p = rt.block_on(TestPeer::bind(if i == 0 { Codecs::Vp8AndH264 } else { Codecs::Vp8 })).unwrap();
                p.offer()
            })
            .collect();
        offers.push(CHROME_OFFER.to_string());
        Harness { core, events, counters, offers, next: 1, outcomes: (0, 0), _rt: rt, _cancel: cancel.drop_guard() }
    }

    fn call(&mut self, text: &str) -> Option<Value> {
        let _g = self._rt.enter();
        let r = self.core.handle(1, text, Instant::now());
        while let Ok(ev) = self.events.try_recv() {
            self.core.route_event(ev);
        }
        let v: Option<Value> = r.map(|r| serde_json::from_str(&r).expect("every answer is JSON"));
        match v.as_ref().map(|v| v.get("result").is_some()) {
            Some(true) => self.outcomes.0 += 1,
            Some(false) => self.outcomes.1 += 1,
            None => {}
        }
        v
    }

    fn frame(&mut self, method: &str, params: Value) -> String {
        self.next += 1;
        json!({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params}).to_string()
    }

    fn value(&mut self, method: &str, params: Value) -> Value {
        let f = self.frame(method, params);
        let r = self.call(&f).expect("a response");
        r["result"]["value"].clone()
    }

    /// A pipeline with a camera endpoint and a viewer endpoint; the frames of a real session
    /// on them, as seeds.
    fn session(&mut self) -> (String, Vec<String>) {
        let pipe = self.value("create", json!({"type": "MediaPipeline"})).as_str().unwrap().to_string();
        let rtp = self.value("create", json!({"type": "RtpEndpoint", "constructorParams": {"mediaPipeline": pipe}}));
        let web = self.value("create", json!({"type": "WebRtcEndpoint", "constructorParams": {"mediaPipeline": pipe}}));
        let invoke = |o: &Value, op: &str, p: Value| json!({"object": o, "operation": op, "operationParams": p});
        let cam = camera_sdps()[0].clone();
        let browser = self.offers[0].clone();
        let seeds = vec![
            self.frame("connect", json!({})),
            self.frame("ping", json!({"interval": 240000})),
            self.frame("create", json!({"type": "WebRtcEndpoint", "constructorParams": {"mediaPipeline": pipe}})),
            self.frame("subscribe", json!({"type": "IceCandidateFound", "object": web})),
            self.frame("subscribe", json!({"type": "MediaFlowInStateChanged", "object": rtp})),
            self.frame("invoke", invoke(&rtp, "processOffer", json!({"offer": cam}))),
            self.frame("invoke", invoke(&rtp, "generateOffer", json!({}))),
            self.frame("invoke", invoke(&web, "processOffer", json!({"offer": browser}))),
            self.frame("invoke", invoke(&web, "generateOffer", json!({"options": {"offerToReceiveVideo": true}}))),
            self.frame("invoke", invoke(&web, "processAnswer", json!({"answer": browser}))),
            self.frame("invoke", invoke(&web, "gatherCandidates", json!({}))),
            self.frame("invoke", invoke(&web, "addIceCandidate", json!({"candidate": {"__module__": "kurento", "__type__": "IceCandidate", "candidate": "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}}))),
            self.frame("invoke", invoke(&rtp, "connect", json!({"sink": web, "mediaType": "VIDEO"}))),
            self.frame("invoke", invoke(&web, "getStats", json!({"mediaType": "VIDEO"}))),
            self.frame("invoke", invoke(&web, "addTag", json!({"key": "k", "value": "v"}))),
            self.frame("invoke", invoke(&rtp, "setMaxVideoRecvBandwidth", json!({"maxVideoRecvBandwidth": 500}))),
            self.frame("invoke", invoke(&json!("manager_ServerManager"), "getInfo", json!({}))),
            self.frame("describe", json!({"object": web})),
            self.frame("release", json!({"object": web})),
            self.frame("keepAlive", json!({})),
        ];
        (pipe, seeds)
    }

    fn release(&mut self, pipe: &str) {
        let f = self.frame("release", json!({"object": pipe}));
        self.call(&f);
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "[ -~]{0,16}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            proptest::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const METHODS: &[&str] = &[
    "connect",
    "ping",
    "create",
    "invoke",
    "describe",
    "subscribe",
    "unsubscribe",
    "release",
    "closeSession",
    "keepAlive",
    "nope",
];
const OPERATIONS: &[&str] = &[
    "processOffer",
    "processAnswer",
    "generateOffer",
    "gatherCandidates",
    "addIceCandidate",
    "connect",
    "disconnect",
    "getStats",
    "getSourceConnections",
    "getSinkConnections",
    "isMediaFlowingIn",
    "getMediaState",
    "requestKeyframe",
    "addTag",
    "getTag",
    "setExternalIPv4",
    "setMaxVideoRecvBandwidth",
    "getLocalSessionDescriptor",
    "getChildren",
    "getInfo",
];

#[test]
fn kurento_json_rpc_frames_never_panic_the_dispatcher() {
    let h = std::cell::RefCell::new(Harness::new());
    let (pipe, seeds) = h.borrow_mut().session();
    let mut runner = TestRunner::new(config(800));
    let offers = h.borrow().offers.clone();
    // Mutated frames of a real session.
    runner
        .run(&mutations(3), |(pick, edits)| {
            let text = mutate_text(&seeds, pick, &edits);
            h.borrow_mut().call(&text);
            Ok(())
        })
        .unwrap();
    h.borrow_mut().release(&pipe);
    println!("mutated frames: {:?}", h.borrow().outcomes);

    // Structured frames: real ids and operations, random values and offers, mutated offers.
    let (pipe, seeds) = h.borrow_mut().session();
    let ids: Vec<Value> = seeds
        .iter()
        .filter_map(|s| serde_json::from_str::<Value>(s).ok())
        .filter_map(|v| v["params"]["object"].as_str().map(|o| json!(o)))
        .chain([json!(pipe), json!("manager_ServerManager")])
        .collect();
    let mut sdps = camera_sdps();
    sdps.extend(offers);
    let mut runner = TestRunner::new(config(800));
    let strategy = (
        0..METHODS.len(),
        0..OPERATIONS.len(),
        0..ids.len(),
        any_json(),
        proptest::option::of(mutations(4)),
        0..sdps.len(),
    );
    runner
        .run(&strategy, |(m, op, id, value, sdp_edits, sdp)| {
            let mut params = json!({"object": ids[id], "operation": OPERATIONS[op], "type": value.clone()});
            params["operationParams"] = match sdp_edits {
                Some((_, edits)) => {
                    let offer = mutate_text(&sdps, sdp, &edits);
                    json!({"offer": offer, "answer": offer, "sink": ids[id], "candidate": value})
                }
                None => json!({"offer": value, "sink": value, "mediaType": value, "key": value, "value": value}),
            };
            let mut h = h.borrow_mut();
            let f = h.frame(METHODS[m], params);
            h.call(&f);
            Ok(())
        })
        .unwrap();
    let mut h = h.borrow_mut();
    h.release(&pipe);
    println!("{} frames answered with a result, {} with an error; {:?}", h.outcomes.0, h.outcomes.1, h.core.stats());
    assert!(h.outcomes.0 > 100, "the frames get past the parser into the dispatcher: {:?}", h.outcomes);
    assert!(h.counters.faults.panics().is_empty());
}

proptest! {
    #![proptest_config(config(400))]

    #[test]
    fn any_text_gets_a_json_answer_or_none(text in "\\PC{0,200}") {
        thread_local!(static H: std::cell::RefCell<Option<Harness>> = const { std::cell::RefCell::new(None) });
        H.with(|h| {
            let mut h = h.borrow_mut();
            let h = h.get_or_insert_with(Harness::new);
            h.call(&text);
        });
    }
}
