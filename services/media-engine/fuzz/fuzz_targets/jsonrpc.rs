//! Kurento JSON-RPC frames into the dispatcher (`Core::handle`), one engine for the whole run:
//! the input is split at newlines into frames of one connection, so a run can build objects
//! and then use them (object ids are random, but `create` answers can be referred to as `$0`,
//! `$1`... in later frames).
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use camview_media_engine::events::{EngineEvent, EventTx};
use camview_media_engine::media::webrtc::WebRtcMux;
use camview_media_engine::media::MediaCounters;
use camview_media_engine::rpc::{Core, MediaCtx};
use camview_media_engine::Settings;
use libfuzzer_sys::fuzz_target;
use tokio::sync::mpsc::Receiver;

struct Harness {
    rt: tokio::runtime::Runtime,
    core: Core,
    events: Receiver<EngineEvent>,
}

fn harness() -> &'static Mutex<Harness> {
    static H: OnceLock<Mutex<Harness>> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let _g = rt.enter();
        let cfg = Arc::new(Settings::for_tests());
        let counters = Arc::new(MediaCounters::default());
        let (tx, events) = tokio::sync::mpsc::channel(camview_media_engine::EVENT_QUEUE);
        let ev = EventTx::new(tx, counters.faults.clone());
        let cancel = tokio_util::sync::CancellationToken::new();
        let mux = WebRtcMux::start(cfg.clone(), ev.clone(), counters.clone(), cancel).unwrap();
        let core = Core::new(MediaCtx { cfg, mux, events: ev, counters });
        drop(_g);
        Mutex::new(Harness { rt, core, events })
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut h = harness().lock().unwrap();
    let h = &mut *h;
    let _g = h.rt.enter();
    let mut created: Vec<String> = vec![];
    for frame in text.split('\n').take(16) {
        let mut frame = frame.to_string();
        for (i, id) in created.iter().enumerate().rev() {
            frame = frame.replace(&format!("${i}"), id);
        }
        if let Some(resp) = h.core.handle(1, &frame, Instant::now()) {
            let v: serde_json::Value = serde_json::from_str(&resp).expect("answers are JSON");
            if let Some(id) = v["result"]["value"].as_str() {
                created.push(id.to_string());
            }
        }
        while let Ok(ev) = h.events.try_recv() {
            h.core.route_event(ev);
        }
    }
    // Nothing outlives the input: every session this input used is closed with its objects.
    let _ = h.core.handle(
        1,
        r#"{"jsonrpc":"2.0","id":0,"method":"closeSession","params":{"release":true}}"#,
        Instant::now(),
    );
    for id in created {
        let f = serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "release", "params": {"object": id}});
        let _ = h.core.handle(1, &f.to_string(), Instant::now());
    }
    // Two collector runs drop the sessions this input made (none has a socket), so a long run
    // stays flat, and the collector sees whatever state the input left.
    h.core.collect_garbage(Instant::now());
    h.core.collect_garbage(Instant::now());
});
