//! A bad network on the real split stack: impairment relays (loss, reordering, duplication,
//! delay; this kernel has no netem) between the camera and the engine, and between the engine
//! and a viewer that recovers as a browser does (NACK, PLI). The stream must stay `live`, the
//! picture must come back after loss, and the viewer must keep getting frames. Figures are
//! printed, never asserted as timings.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use camview_common::testing::impair::Impairment;
use camview_common::testing::peer::Recovery;
use camview_common::testing::relay::{UdpRelay, Way};
use camview_system_tests::{free_port, Stack, StackOptions, Viewer, ViewerError, PATIENCE};

/// Runs the viewer for `span` (it plays on; nothing ends the wait early).
async fn watch(stack: &Stack, viewer: &mut Viewer, span: Duration) {
    match viewer.drive_until(span, "watching", |_| false).await {
        Err(ViewerError::Timeout(..)) => {}
        other => panic!("the viewer stopped watching: {other:?}\n{}", stack.all_output()),
    }
}

/// Watches for `span` in half-second steps, reading `GET /streams/{camera}` after each; the
/// states seen.
async fn watch_state(stack: &Stack, viewer: &mut Viewer, camera: &str, span: Duration) -> Vec<String> {
    let until = Instant::now() + span;
    let mut states = Vec::new();
    while Instant::now() < until {
        watch(stack, viewer, Duration::from_millis(500)).await;
        states.push(stack.stream(camera).await["state"].as_str().unwrap_or("?").to_owned());
    }
    states
}

fn recovery(viewer: &Viewer) -> Recovery {
    viewer.peer().recovery().expect("the viewer recovers like a browser")
}

/// A joined viewer that recovers like a browser, playing (a keyframe was shown).
async fn playing_viewer(stack: &Stack, camera: &str, route: Option<(SocketAddr, SocketAddr)>) -> Viewer {
    let mut viewer = stack.viewer().await;
    viewer.peer_mut().recover_like_a_browser();
    if let Some((engine, relay)) = route {
        viewer.route_via(engine, relay);
    }
    viewer.join(camera, PATIENCE).await.unwrap_or_else(|e| panic!("join: {e}\n{}", stack.all_output()));
    viewer
        .drive_until(PATIENCE, "a first keyframe shown", |v| {
            v.peer().recovery().is_some_and(|r| r.frames.keyframes > 0)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", viewer.peer().recovery(), stack.all_output()));
    viewer
}

/// Stops the camera (SIGINT, on which it reports) and returns its closing figures (frames,
/// keyframes, PLIs received).
async fn camera_figures(stack: &mut Stack) -> String {
    let camera = stack.service("camera");
    let _ = std::process::Command::new("kill").args(["-INT", &camera.pid().to_string()]).status();
    let deadline = Instant::now() + PATIENCE;
    while camera.exited().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await; // polling a child's exit status
    }
    let output = without_colours(&camera.output());
    output.lines().find(|l| l.contains("camera stopped")).unwrap_or("(no closing figures)").trim().to_owned()
}

/// `text` without its ANSI colour sequences (ESC [ ... m).
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|&c| c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_camera_link_never_stalls_the_stream_and_the_viewer_gets_its_picture_back_by_asking_for_keyframes() {
    let mut stack = Stack::start().await;
    stack.start_stream("camlossy").await;
    let loss = Impairment { loss_percent: 5.0, ..Impairment::default() };
    // A periodic keyframe only every hour: every later keyframe answers a PLI.
    let path = stack.start_camera_through("camlossy", loss, Impairment::default(), 13, 3600).await;
    let mut viewer = playing_viewer(&stack, "camlossy", None).await;

    // Loss alone: every loss breaks the picture, the viewer's PLI brings a keyframe.
    let start = recovery(&viewer);
    let states = watch_state(&stack, &mut viewer, "camlossy", Duration::from_secs(10)).await;
    let lossy = recovery(&viewer);
    eprintln!("camera leg, 10 s at 5% loss: {:?}", path.rtp.counters(Way::Up));
    eprintln!("viewer: {:?} -> {lossy:?}", start.frames);
    assert!(states.iter().all(|s| s == "live"), "the stream left `live` on a lossy link: {states:?}");
    assert!(lossy.frames.frames > start.frames.frames + 50, "frames kept coming: {lossy:?}");
    if lossy.frames.broken > 0 {
        assert!(lossy.plis_sent > start.plis_sent, "a broken picture is followed by a PLI: {lossy:?}");
        assert!(!lossy.frames.recoveries.is_empty(), "a keyframe mended the picture during the loss: {lossy:?}");
    }

    // Everything at once: loss, duplicates, reordering, delay with jitter.
    let bad = Impairment {
        loss_percent: 2.0,
        duplicate_percent: 2.0,
        reorder_percent: 2.0,
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(10),
    };
    path.rtp.set(Way::Up, bad);
    let (before_mix, counted) = (recovery(&viewer), path.rtp.counters(Way::Up));
    let states = watch_state(&stack, &mut viewer, "camlossy", Duration::from_secs(10)).await;
    let mixed = recovery(&viewer);
    eprintln!("camera leg, 10 s of loss/dup/reorder/delay+jitter: {counted:?} -> {:?}", path.rtp.counters(Way::Up));
    eprintln!("viewer: {before_mix:?} -> {mixed:?}");
    eprintln!(
        "keyframes during the mix: {} whole, {} broken on the way; picture breaks {}, mended {}",
        mixed.frames.keyframes - before_mix.frames.keyframes,
        mixed.frames.broken_keyframes - before_mix.frames.broken_keyframes,
        mixed.frames.broken - before_mix.frames.broken,
        mixed.frames.recoveries.len() - before_mix.frames.recoveries.len(),
    );
    assert!(states.iter().all(|s| s == "live"), "the stream left `live` on a bad link: {states:?}");
    assert!(mixed.frames.frames > before_mix.frames.frames + 50, "frames kept coming: {mixed:?}");
    // The engine keeps the camera's sequence steps, so jitter and duplicates reach the viewer
    // as what they are (reordered, repeated) and it can put keyframes back together.
    let (whole, broken) = (
        mixed.frames.keyframes - before_mix.frames.keyframes,
        mixed.frames.broken_keyframes - before_mix.frames.broken_keyframes,
    );
    assert!(whole > broken, "keyframes mostly arrive whole on a jittery link ({whole} whole, {broken} broken)");
    if mixed.frames.broken > before_mix.frames.broken {
        assert!(
            mixed.frames.recoveries.len() > before_mix.frames.recoveries.len(),
            "a broken picture is mended during the mix: {mixed:?}"
        );
    }

    // A one-second outage of the camera's link: shorter than the flow timeout, so not a stall.
    path.rtp.set(Way::Up, Impairment::blackout());
    let states_in_burst = watch_state(&stack, &mut viewer, "camlossy", Duration::from_secs(1)).await;
    path.rtp.set(Way::Up, Impairment::default());
    let (lifted, before) = (Instant::now(), recovery(&viewer));
    let packets_before = viewer.peer().packets().len();
    viewer
        .drive_until(PATIENCE, "a packet after the outage", |v| v.peer().packets().len() > packets_before)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", stack.all_output()));
    let first_packet = lifted.elapsed();
    viewer
        .drive_until(PATIENCE, "a keyframe after the outage (PLI honoured)", |v| {
            v.peer().recovery().is_some_and(|r| r.frames.keyframes > before.frames.keyframes)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", viewer.peer().recovery(), stack.all_output()));
    let first_keyframe = lifted.elapsed();
    let states_after = watch_state(&stack, &mut viewer, "camlossy", Duration::from_secs(3)).await;
    let end = recovery(&viewer);
    eprintln!(
        "after a 1 s camera outage: first packet {first_packet:?}, first keyframe {first_keyframe:?}; \
         states during {states_in_burst:?}, after {states_after:?}"
    );
    eprintln!("viewer at the end: {end:?}");
    eprintln!(
        "camera RTCP leg: up {:?}, down (engine PLIs) {:?}",
        path.rtcp.counters(Way::Up),
        path.rtcp.counters(Way::Down)
    );
    eprintln!("the camera: {}", camera_figures(&mut stack).await);
    assert!(
        states_in_burst.iter().chain(&states_after).all(|s| s == "live"),
        "a one-second outage is no stall: {states_in_burst:?} {states_after:?}"
    );
    assert!(end.plis_sent > before.plis_sent, "the viewer asked for the keyframe: {end:?}");
    assert!(path.rtcp.counters(Way::Down).forwarded > 0, "the engine's PLIs reached the camera through the relay");
    assert!(end.frames.decodable > before.frames.decodable, "the picture came back: {end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_lossy_viewer_link_the_viewer_nacks_and_asks_for_keyframes_and_keeps_playing() {
    let webrtc_port = free_port();
    let options = StackOptions::default().engine(&[("ENGINE_WEBRTC_PORT", &webrtc_port.to_string())]);
    let mut stack = Stack::start_with(options).await;
    stack.start_stream("camviewerloss").await;
    stack.start_camera("camviewerloss");
    let engine = SocketAddr::from((Ipv4Addr::LOCALHOST, webrtc_port));
    let lossy = Impairment { loss_percent: 5.0, delay: Duration::from_millis(10), ..Impairment::default() };
    let relay = UdpRelay::start(engine, Impairment::default(), lossy, 29).await.expect("the viewer's relay");
    let mut viewer = playing_viewer(&stack, "camviewerloss", Some((engine, relay.addr()))).await;
    assert_eq!(relay.client(), Some(viewer.peer().local_addr()), "the viewer's traffic goes through the relay");
    let start = recovery(&viewer);

    let states = watch_state(&stack, &mut viewer, "camviewerloss", Duration::from_secs(10)).await;
    let end = recovery(&viewer);
    let down = relay.counters(Way::Down);
    eprintln!("viewer leg, 10 s at 5% loss: down {down:?}, up {:?}", relay.counters(Way::Up));
    eprintln!("viewer: {:?} -> {end:?}", start.frames);
    eprintln!(
        "NACK negotiated: {}, RTX negotiated: {}; NACKs sent {}, retransmissions received {}, late packets {}",
        end.nack_negotiated, end.rtx_negotiated, end.nacks_sent, end.rtx_received, end.frames.late_packets
    );
    assert!(down.dropped > 0 && down.forwarded > 0, "media crossed the lossy relay: {down:?}");
    assert!(states.iter().all(|s| s == "live"), "viewer-side loss never touches the stream's state: {states:?}");
    assert!(end.frames.decodable > start.frames.decodable + 50, "the viewer kept playing: {end:?}");
    if end.nack_negotiated {
        assert!(end.nacks_sent > start.nacks_sent, "lost packets are NACKed: {end:?}");
    }
    if end.rtx_negotiated {
        assert!(end.rtx_received > 0, "the engine offered RTX, so its NACKs are answered: {end:?}");
    }
    if end.frames.broken > 0 {
        assert!(end.plis_sent > start.plis_sent, "an unrepaired loss is followed by a PLI: {end:?}");
    }
}
