//! Faults on the real split stack (engine, controller, api, signaling as processes) while a
//! viewer watches a live camera: what comes back, what is lost. Times are printed, never
//! asserted.

use std::time::{Duration, Instant};

use camview_common::testing::sample;
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
    watching
        .wait_for_media(before + 20, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("the first viewer after the outage: {e}\n{}", stack.all_output()));
    let sweep_window = Duration::from_secs(5); // > the liveness TTL: a wrong sweep would have run
    let settled = watching.drive_until(sweep_window, "the sweep window", |_| false).await;
    assert!(
        matches!(settled, Err(ViewerError::Timeout(..))),
        "the first viewer was ended: {settled:?}\n{}",
        stack.all_output()
    );
    assert_eq!(
        stack.viewer_count("camfault").await,
        2,
        "no viewer was released and no slot leaked\n{}",
        stack.all_output()
    );
    stack.assert_registry_and_media_agree().await;
}

/// A stack with a short liveness TTL, a live camera and one viewer playing it.
async fn watched_stack(camera: &str) -> (Stack, Viewer) {
    let mut stack = Stack::start_with(StackOptions::default().all(&[("SIGNALING_LIVENESS_TTL_SECONDS", "3")])).await;
    stack.start_stream(camera).await;
    stack.start_camera(camera);
    let (mut viewer, _) = join_when_possible(&stack, camera, PATIENCE).await;
    viewer.wait_for_media(20, PATIENCE).await.unwrap_or_else(|e| panic!("media: {e}\n{}", stack.all_output()));
    (stack, viewer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_engine_is_killed_and_restarted_the_stream_is_recreated_and_the_viewer_renegotiates_and_plays_again()
{
    let (mut stack, mut viewer) = watched_stack("camengine").await;
    let killed = Instant::now();
    stack.kill_and_restart("media-engine").await;
    // The controller reconciles: the stream's objects are gone, so it recreates them (the
    // camera learns the new port from its next keepalive) and asks the viewer to renegotiate.
    viewer
        .drive_until(PATIENCE, "renegotiate", Viewer::asked_to_renegotiate)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", stack.all_output()));
    viewer.rejoin("camengine", PATIENCE).await.unwrap_or_else(|e| panic!("rejoin: {e}\n{}", stack.all_output()));
    viewer
        .wait_for_media(20, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("media after the restart: {e}\n{}", stack.all_output()));
    eprintln!("the viewer played again {:?} after the engine was killed", killed.elapsed());
    assert_eq!(stack.viewer_count("camengine").await, 1, "one viewer, no leaked slot\n{}", stack.all_output());
    stack.assert_registry_and_media_agree().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_signaling_is_killed_the_viewer_reconnects_and_plays_and_its_old_slot_is_freed() {
    let (mut stack, viewer) = watched_stack("camsig").await;
    let killed = Instant::now();
    stack.kill_and_restart("signaling").await;
    drop(viewer); // its WebSocket died with the process: the page reconnects with a new one
    let (mut again, _) = join_when_possible(&stack, "camsig", PATIENCE).await;
    again
        .wait_for_media(20, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("media after the restart: {e}\n{}", stack.all_output()));
    eprintln!("the viewer played again {:?} after signaling was killed", killed.elapsed());
    // The dead instance's viewer is released once its liveness key expired (TTL 3 s).
    let mut released = false;
    for _ in 0..60 {
        if stack.viewer_count("camsig").await == 1 {
            released = true;
            break;
        }
        let _ = again.drive_until(Duration::from_millis(500), "the sweep", |_| false).await;
        // keeps the peer running
    }
    assert!(released, "the killed instance's viewer slot was never freed\n{}", stack.all_output());
    stack.assert_registry_and_media_agree().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_killed_and_restarted_never_interrupts_a_viewer_and_serves_again() {
    let (mut stack, mut viewer) = watched_stack("camapi").await;
    stack.kill_and_restart("api").await;
    let before = viewer.peer().packets().len();
    viewer
        .wait_for_media(before + 30, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("media during the api restart: {e}\n{}", stack.all_output()));
    assert_eq!(stack.viewer_count("camapi").await, 1, "the restarted api sees the viewer\n{}", stack.all_output());
    stack.assert_registry_and_media_agree().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_leading_controller_is_killed_the_standby_takes_over_the_viewer_plays_on_and_new_joins_work() {
    let mut stack = Stack::start_with(StackOptions::default().standby_controller()).await;
    stack.start_stream("camlead").await;
    stack.start_camera("camlead");
    let (mut watching, _) = join_when_possible(&stack, "camlead", PATIENCE).await;
    watching.wait_for_media(20, PATIENCE).await.unwrap_or_else(|e| panic!("media: {e}\n{}", stack.all_output()));

    let killed = Instant::now();
    stack.service("media-controller").kill();
    // The standby takes the lease once it expires (CONTROLLER_LEASE_TTL_SECONDS), adopts the
    // stream's objects and serves the queue; the media path never involved the controller.
    let (mut second, waited) = join_when_possible(&stack, "camlead", PATIENCE * 2).await;
    eprintln!("a new join answered {:?} after the leader was SIGKILLed ({waited:?} of joining)", killed.elapsed());
    second
        .wait_for_media(20, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("the new viewer's media: {e}\n{}", stack.all_output()));
    let before = watching.peer().packets().len();
    watching
        .wait_for_media(before + 20, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("the first viewer after the takeover: {e}\n{}", stack.all_output()));
    assert!(!watching.asked_to_renegotiate(), "the adopted endpoint needed no renegotiation");
    assert_eq!(stack.viewer_count("camlead").await, 2, "both viewers counted\n{}", stack.all_output());
    stack.assert_registry_and_media_agree().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_paused_past_its_lease_changes_nothing_when_it_resumes_and_stands_by() {
    let lease = [("CONTROLLER_LEASE_TTL_SECONDS", "3")];
    let mut stack = Stack::start_with(StackOptions::default().standby_controller().controller(&lease)).await;
    stack.start_stream("campause").await;
    stack.start_camera("campause");
    let (mut watching, _) = join_when_possible(&stack, "campause", PATIENCE).await;
    watching.wait_for_media(20, PATIENCE).await.unwrap_or_else(|e| panic!("media: {e}\n{}", stack.all_output()));

    let paused = Instant::now();
    stack.service("media-controller").pause();
    // A join sent at once is most likely read by the frozen leader's blocking read: it must
    // neither run later nor leak a slot. Its sender is answered an error or the new leader's
    // answer (when the standby read it), never both.
    let mut caught = stack.viewer().await;
    let caught_join = caught.join("campause", PATIENCE * 2).await;
    eprintln!("the join sent during the pause: {caught_join:?} after {:?}", paused.elapsed());
    caught.close().await;
    // The standby takes over once the lease lapsed; new joins work meanwhile.
    let (mut during, waited) = join_when_possible(&stack, "campause", PATIENCE * 2).await;
    eprintln!("a join answered {:?} after the leader was paused ({waited:?} of joining)", paused.elapsed());
    during.wait_for_media(20, PATIENCE).await.unwrap_or_else(|e| panic!("media: {e}\n{}", stack.all_output()));

    // The old leader wakes up believing it leads, with timers and reads due: whatever it had
    // read goes back to the queue, its writes are refused, and it stands by.
    stack.service("media-controller").resume();
    let resumed = Instant::now();
    let (mut after, _) = join_when_possible(&stack, "campause", PATIENCE).await;
    after.wait_for_media(20, PATIENCE).await.unwrap_or_else(|e| panic!("media: {e}\n{}", stack.all_output()));
    stack
        .eventually("the resumed controller stands by", || async {
            let metrics = stack.metrics(&stack.controller_metrics_url).await;
            sample(&metrics, "camview_controller_leader", &[]) == Some(0.0)
        })
        .await;
    eprintln!("the resumed leader stood by within {:?}", resumed.elapsed());
    for (name, viewer) in [("watching", &mut watching), ("during", &mut during)] {
        let before = viewer.peer().packets().len();
        viewer
            .wait_for_media(before + 20, PATIENCE)
            .await
            .unwrap_or_else(|e| panic!("{name} after the resume: {e}\n{}", stack.all_output()));
        assert!(!viewer.asked_to_renegotiate(), "{name} was disturbed by the resumed controller");
    }
    assert_eq!(stack.viewer_count("campause").await, 3, "three live viewers, no leaked slot\n{}", stack.all_output());
    stack.assert_registry_and_media_agree().await;
}
