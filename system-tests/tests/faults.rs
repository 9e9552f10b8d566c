//! Faults on the real split stack (engine, controller, api, signaling as processes) while a
//! viewer watches a live camera: what comes back, what is lost. Times are printed, never
//! asserted.

use std::time::{Duration, Instant};

use camview_system_tests::{Stack, StackOptions, Viewer, ViewerError, PATIENCE};

/// Joins `camera` with a new viewer, retrying refusals until `limit`; the viewer and how long
/// it took.
async fn join_when_possible(stack: &Stack, camera: &str, limit: Duration) -> (Viewer, Duration) {
    let start = Instant::now();
    loop {
        let mut viewer = stack.viewer().await;
        match viewer.join(camera, PATIENCE).await {
            Ok(_) => return (viewer, start.elapsed()),
            Err(ViewerError::Refused { code, message }) if start.elapsed() < limit => {
                eprintln!("join refused after {:?}: {code}: {message}", start.elapsed());
                viewer.close().await;
            }
            Err(e) => panic!("no join within {limit:?}: {e}\n{}", stack.all_output()),
        }
    }
}

async fn viewer_count(stack: &Stack, camera: &str) -> u64 {
    let r = stack.http().get(format!("{}/streams/{camera}", stack.api_url)).bearer_auth(&stack.admin_token).send().await.expect("GET /streams");
    let body: serde_json::Value = r.json().await.expect("a JSON stream");
    body["viewers"].as_u64().unwrap_or_else(|| panic!("no viewer count in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_restarts_from_its_append_only_file_the_watching_viewer_keeps_its_slot_and_new_joins_work() {
    // A liveness TTL shorter than the outage: every signaling key expires while Redis is down.
    let liveness = [("SIGNALING_LIVENESS_TTL_SECONDS", "3")];
    let mut stack = Stack::start_with(StackOptions::default().own_redis().all(&liveness)).await;
    stack.start_stream("camfault").await;
    stack.start_camera("camfault");
    let (mut watching, _) = join_when_possible(&stack, "camfault", PATIENCE).await;
    watching.wait_for_media(20, PATIENCE).await.unwrap_or_else(|e| panic!("media: {e}\n{}", stack.all_output()));

    stack.redis().stop();
    // The outage itself (longer than the liveness TTL), with the viewer's peer kept running.
    let outage = watching.drive_until(Duration::from_secs(5), "the Redis outage", |_| false).await;
    assert!(matches!(outage, Err(ViewerError::Timeout(..))), "the viewer must ride out the outage: {outage:?}");
    stack.redis().restart();
    let back = Instant::now();

    let (mut second, waited) = join_when_possible(&stack, "camfault", PATIENCE).await;
    eprintln!("a new join answered {waited:?} after Redis came back ({:?} in all)", back.elapsed());
    if let Err(e) = second.wait_for_media(20, PATIENCE).await {
        let frames: Vec<String> = second.frames.iter().map(|f| f.to_string().chars().take(160).collect()).collect();
        panic!("the new viewer's media: {e}\nframes: {frames:#?}\nconnected: {}", second.peer().connected());
    }
    // The sweep must not have taken the first viewer for dead while its instance could not
    // refresh its liveness key: it plays on, and both are counted.
    let before = watching.peer().packets().len();
    watching.wait_for_media(before + 20, PATIENCE).await.unwrap_or_else(|e| panic!("the first viewer after the outage: {e}\n{}", stack.all_output()));
    let sweep_window = Duration::from_secs(5); // > the liveness TTL: a wrong sweep would have run
    let settled = watching.drive_until(sweep_window, "the sweep window", |_| false).await;
    assert!(matches!(settled, Err(ViewerError::Timeout(..))), "the first viewer was ended: {settled:?}\n{}", stack.all_output());
    assert_eq!(viewer_count(&stack, "camfault").await, 2, "no viewer was released and no slot leaked\n{}", stack.all_output());
}
