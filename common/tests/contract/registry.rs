//! Registry cases: records, indexes, atomic slots, expiring entries and the lease.

use camview_proto::{CameraId, ViewerId};
use std::sync::Arc;
use std::time::Duration;

use camview_common::registry::{Fence, RegistryError};
use camview_common::testing::wait_until;
use camview_common::SlotReservation;
use camview_proto::stream::{
    Bandwidth, CameraStats, CameraStatus, Codec, ControllerHeartbeat, RtpTarget, StreamRecord, StreamState,
    ViewerRecord, ViewerState,
};

use crate::backend::Backend;

/// Long enough for a loaded CI box to act before it lapses, short enough to wait out.
const SHORT_TTL: Duration = Duration::from_millis(300);
const EXPIRY_DEADLINE: Duration = Duration::from_secs(5);
const LONG_TTL: Duration = Duration::from_secs(60);

pub fn stream(camera_id: &str) -> StreamRecord {
    StreamRecord {
        camera_id: camera_id.parse().expect("a test camera id"),
        state: StreamState::Live,
        rtp: Some(RtpTarget {
            host: "192.0.2.10".into(),
            port: 40012,
            codec: Codec::H264,
            payload_type: 96,
            audio: None,
        }),
        bandwidth: Bandwidth { max_bandwidth: 3000, min_bandwidth: 300 },
        created_at: "2026-11-24T01:00:00.000Z".into(),
        updated_at: "2026-11-24T01:00:05.000Z".into(),
        pipeline_id: Some("p_kurento.MediaPipeline".into()),
        rtp_endpoint_id: Some("r_kurento.RtpEndpoint".into()),
        camera_source: None,
        source: None,
        source_audio: None,
        node_id: None,
        relays: Vec::new(),
    }
}

pub fn viewer(viewer_id: &str, camera_id: &str, instance: &str, created_at: &str) -> ViewerRecord {
    ViewerRecord {
        viewer_id: viewer_id.parse().expect("a test viewer id"),
        camera_id: camera_id.parse().expect("a test camera id"),
        signaling_instance: instance.into(),
        state: ViewerState::Negotiating,
        created_at: created_at.into(),
        endpoint_id: Some(format!("e_{viewer_id}")),
    }
}

fn ids(viewers: &[ViewerRecord]) -> Vec<&str> {
    viewers.iter().map(|v| v.viewer_id.as_str()).collect()
}

pub async fn ping_succeeds(b: &impl Backend) {
    b.registry().await.ping().await.unwrap();
}

pub async fn a_stream_can_be_put_got_listed_and_deleted(b: &impl Backend) {
    let r = b.registry().await;
    assert_eq!(r.get_stream(&CameraId::from_static("cam1")).await.unwrap(), None);
    r.put_stream(&stream("cam1")).await.unwrap();
    assert_eq!(r.get_stream(&CameraId::from_static("cam1")).await.unwrap(), Some(stream("cam1")));
    assert_eq!(r.list_streams().await.unwrap(), vec![stream("cam1")]);
    assert!(r.delete_stream(&CameraId::from_static("cam1")).await.unwrap());
    assert!(!r.delete_stream(&CameraId::from_static("cam1")).await.unwrap());
    assert_eq!(r.get_stream(&CameraId::from_static("cam1")).await.unwrap(), None);
    assert!(r.list_streams().await.unwrap().is_empty());
}

pub async fn a_stream_source_is_kept_apart_from_the_record_until_deleted(b: &impl Backend) {
    let r = b.registry().await;
    let url = "rtsp://admin:s3cret@192.0.2.7/live";
    assert_eq!(r.get_stream_source(&CameraId::from_static("cam1")).await.unwrap(), None);
    r.put_stream(&StreamRecord { source: Some("rtsp://admin:***@192.0.2.7/live".into()), ..stream("cam1") })
        .await
        .unwrap();
    r.put_stream_source(&CameraId::from_static("cam1"), Some(url)).await.unwrap();
    assert_eq!(r.get_stream_source(&CameraId::from_static("cam1")).await.unwrap().as_deref(), Some(url));
    assert_eq!(r.get_stream_source(&CameraId::from_static("cam2")).await.unwrap(), None, "per camera");
    let record = r.get_stream(&CameraId::from_static("cam1")).await.unwrap().unwrap();
    assert_eq!(record.source.as_deref(), Some("rtsp://admin:***@192.0.2.7/live"), "the record keeps the redacted form");
    r.put_stream_source(&CameraId::from_static("cam1"), None).await.unwrap();
    assert_eq!(r.get_stream_source(&CameraId::from_static("cam1")).await.unwrap(), None);
}

pub async fn put_stream_replaces_every_field(b: &impl Backend) {
    let r = b.registry().await;
    r.put_stream(&stream("cam1")).await.unwrap();
    let replaced = StreamRecord {
        state: StreamState::Stalled,
        rtp: None,
        pipeline_id: None,
        rtp_endpoint_id: None,
        ..stream("cam1")
    };
    r.put_stream(&replaced).await.unwrap();
    assert_eq!(r.get_stream(&CameraId::from_static("cam1")).await.unwrap(), Some(replaced));
}

pub async fn streams_are_listed_sorted_by_camera_id(b: &impl Backend) {
    let r = b.registry().await;
    for camera in ["c3", "c1", "c2"] {
        r.put_stream(&stream(camera)).await.unwrap();
    }
    let listed: Vec<CameraId> = r.list_streams().await.unwrap().into_iter().map(|s| s.camera_id).collect();
    assert_eq!(listed, ["c1", "c2", "c3"]);
}

pub async fn camera_status_is_kept_per_camera(b: &impl Backend) {
    let r = b.registry().await;
    assert_eq!(r.get_camera_status(&CameraId::from_static("cam1")).await.unwrap(), None);
    let status = CameraStatus {
        last_seen: "2026-11-24T01:00:00.000Z".into(),
        stats: CameraStats {
            sending: true,
            packets_sent: 10,
            bytes_sent: 12000,
            frames_sent: 3,
            bitrate_kbps: Some(1500.5),
            target: Some("192.0.2.10:40012".into()),
        },
    };
    r.put_camera_status(&CameraId::from_static("cam1"), &status, LONG_TTL).await.unwrap();
    r.put_camera_status(
        &CameraId::from_static("cam2"),
        &CameraStatus { last_seen: "2026-11-24T01:00:01.000Z".into(), stats: CameraStats::default() },
        LONG_TTL,
    )
    .await
    .unwrap();
    assert_eq!(r.get_camera_status(&CameraId::from_static("cam1")).await.unwrap(), Some(status.clone()));
    let later = CameraStatus { last_seen: "2026-11-24T01:00:09.000Z".into(), stats: CameraStats::default() };
    r.put_camera_status(&CameraId::from_static("cam1"), &later, LONG_TTL).await.unwrap();
    assert_eq!(r.get_camera_status(&CameraId::from_static("cam1")).await.unwrap(), Some(later));
}

pub async fn camera_status_expires_after_its_ttl_and_a_keepalive_renews_it(b: &impl Backend) {
    let r = b.registry().await;
    let status = CameraStatus { last_seen: "2026-11-24T01:00:00.000Z".into(), stats: CameraStats::default() };
    r.put_camera_status(&CameraId::from_static("kept"), &status, LONG_TTL).await.unwrap();
    r.put_camera_status(&CameraId::from_static("gone"), &status, SHORT_TTL).await.unwrap();
    assert_eq!(r.get_camera_status(&CameraId::from_static("gone")).await.unwrap(), Some(status.clone()));
    wait_until(EXPIRY_DEADLINE, "the short-lived camera status expires", || async {
        r.get_camera_status(&CameraId::from_static("gone")).await.unwrap().is_none()
    })
    .await;
    assert_eq!(
        r.get_camera_status(&CameraId::from_static("kept")).await.unwrap(),
        Some(status.clone()),
        "another camera's status is untouched"
    );
    r.put_camera_status(&CameraId::from_static("gone"), &status, LONG_TTL).await.unwrap();
    assert_eq!(
        r.get_camera_status(&CameraId::from_static("gone")).await.unwrap(),
        Some(status),
        "a new keepalive stores it again"
    );
}

pub async fn viewers_are_listed_by_camera_by_instance_and_all_sorted_by_creation(b: &impl Backend) {
    let r = b.registry().await;
    r.put_stream(&stream("camA")).await.unwrap();
    r.put_stream(&stream("camB")).await.unwrap();
    let records = [
        viewer("v3", "camA", "sig-1", "2026-11-24T01:00:03.000Z"),
        viewer("v1", "camA", "sig-2", "2026-11-24T01:00:01.000Z"),
        viewer("v2", "camB", "sig-1", "2026-11-24T01:00:02.000Z"),
        viewer("v0", "camA", "sig-1", "2026-11-24T01:00:03.000Z"),
    ];
    for v in &records {
        assert_eq!(r.reserve_viewer_slot(&v.camera_id, &v.viewer_id, 10).await.unwrap(), SlotReservation::Reserved);
        r.put_viewer(v).await.unwrap();
    }
    assert_eq!(r.get_viewer(&ViewerId::from_static("v2")).await.unwrap(), Some(records[2].clone()));
    assert_eq!(r.get_viewer(&ViewerId::from_static("nobody")).await.unwrap(), None);
    assert_eq!(ids(&r.list_viewers(None).await.unwrap()), ["v1", "v2", "v0", "v3"]);
    assert_eq!(ids(&r.list_viewers(Some(&CameraId::from_static("camA"))).await.unwrap()), ["v1", "v0", "v3"]);
    assert_eq!(ids(&r.list_viewers(Some(&CameraId::from_static("camB"))).await.unwrap()), ["v2"]);
    assert!(r.list_viewers(Some(&CameraId::from_static("camC"))).await.unwrap().is_empty());
    assert_eq!(r.viewers_of_instance("sig-1").await.unwrap(), ["v0", "v2", "v3"]);
    assert_eq!(r.viewers_of_instance("sig-2").await.unwrap(), ["v1"]);
    assert!(r.viewers_of_instance("sig-3").await.unwrap().is_empty());
    assert_eq!(r.viewer_count(&CameraId::from_static("camA")).await.unwrap(), 3);
}

pub async fn put_viewer_moves_the_viewer_to_its_new_instance(b: &impl Backend) {
    let r = b.registry().await;
    r.put_viewer(&viewer("v1", "cam", "sig-1", "2026-11-24T01:00:00.000Z")).await.unwrap();
    let moved = ViewerRecord {
        state: ViewerState::Connected,
        endpoint_id: None,
        ..viewer("v1", "cam", "sig-2", "2026-11-24T01:00:00.000Z")
    };
    r.put_viewer(&moved).await.unwrap();
    assert!(r.viewers_of_instance("sig-1").await.unwrap().is_empty());
    assert_eq!(r.viewers_of_instance("sig-2").await.unwrap(), ["v1"]);
    assert_eq!(r.get_viewer(&ViewerId::from_static("v1")).await.unwrap(), Some(moved));
}

pub async fn remove_viewer_frees_the_slot_the_record_and_every_index(b: &impl Backend) {
    let r = b.registry().await;
    r.put_stream(&stream("cam")).await.unwrap();
    for id in ["v1", "v2"] {
        r.reserve_viewer_slot(&CameraId::from_static("cam"), &ViewerId::from_static(id), 2).await.unwrap();
        r.put_viewer(&viewer(id, "cam", "sig-1", "2026-11-24T01:00:00.000Z")).await.unwrap();
    }
    assert_eq!(
        r.reserve_viewer_slot(&CameraId::from_static("cam"), &ViewerId::from_static("v3"), 2).await.unwrap(),
        SlotReservation::Full
    );

    assert!(r.remove_viewer(&CameraId::from_static("cam"), &ViewerId::from_static("v1")).await.unwrap());

    assert_eq!(r.get_viewer(&ViewerId::from_static("v1")).await.unwrap(), None);
    assert_eq!(r.viewer_count(&CameraId::from_static("cam")).await.unwrap(), 1);
    assert_eq!(ids(&r.list_viewers(None).await.unwrap()), ["v2"]);
    assert_eq!(ids(&r.list_viewers(Some(&CameraId::from_static("cam"))).await.unwrap()), ["v2"]);
    assert_eq!(r.viewers_of_instance("sig-1").await.unwrap(), ["v2"]);
    assert_eq!(
        r.reserve_viewer_slot(&CameraId::from_static("cam"), &ViewerId::from_static("v3"), 2).await.unwrap(),
        SlotReservation::Reserved
    );
    assert!(
        !r.remove_viewer(&CameraId::from_static("cam"), &ViewerId::from_static("v1")).await.unwrap(),
        "a second removal finds nothing"
    );
}

pub async fn remove_viewer_frees_a_slot_reserved_without_a_record(b: &impl Backend) {
    let r = b.registry().await;
    r.put_stream(&stream("cam")).await.unwrap();
    r.reserve_viewer_slot(&CameraId::from_static("cam"), &ViewerId::from_static("v1"), 1).await.unwrap();
    assert!(r.remove_viewer(&CameraId::from_static("cam"), &ViewerId::from_static("v1")).await.unwrap());
    assert_eq!(r.viewer_count(&CameraId::from_static("cam")).await.unwrap(), 0);
    assert!(!r.remove_viewer(&CameraId::from_static("cam"), &ViewerId::from_static("never-reserved")).await.unwrap());
}

pub async fn fifty_concurrent_reservations_against_limit_ten_yield_ten_reserved_and_forty_full(b: &impl Backend) {
    let setup = b.registry().await;
    setup.put_stream(&stream("cam")).await.unwrap();
    // Several handles (separate connections for Redis), each used by several tasks.
    let mut handles = Vec::new();
    for _ in 0..10 {
        handles.push(b.registry().await);
    }
    let start = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let r = handles[i % handles.len()].clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                r.reserve_viewer_slot(&CameraId::from_static("cam"), &format!("viewer-{i}").parse().unwrap(), 10)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let reserved = outcomes.iter().filter(|o| **o == SlotReservation::Reserved).count();
    let full = outcomes.iter().filter(|o| **o == SlotReservation::Full).count();
    assert_eq!((reserved, full), (10, 40));
    assert_eq!(setup.viewer_count(&CameraId::from_static("cam")).await.unwrap(), 10);
}

pub async fn reserving_on_a_missing_stream_is_stream_not_found(b: &impl Backend) {
    let r = b.registry().await;
    assert_eq!(
        r.reserve_viewer_slot(&CameraId::from_static("missing"), &ViewerId::from_static("v1"), 10).await.unwrap(),
        SlotReservation::StreamNotFound
    );
    assert_eq!(r.viewer_count(&CameraId::from_static("missing")).await.unwrap(), 0);
}

pub async fn reserving_again_with_the_same_viewer_is_idempotent_even_when_full(b: &impl Backend) {
    let r = b.registry().await;
    r.put_stream(&stream("cam")).await.unwrap();
    assert_eq!(
        r.reserve_viewer_slot(&CameraId::from_static("cam"), &ViewerId::from_static("v1"), 1).await.unwrap(),
        SlotReservation::Reserved
    );
    assert_eq!(
        r.reserve_viewer_slot(&CameraId::from_static("cam"), &ViewerId::from_static("v1"), 1).await.unwrap(),
        SlotReservation::Reserved
    );
    assert_eq!(r.viewer_count(&CameraId::from_static("cam")).await.unwrap(), 1);
    assert_eq!(
        r.reserve_viewer_slot(&CameraId::from_static("cam"), &ViewerId::from_static("v2"), 1).await.unwrap(),
        SlotReservation::Full
    );
}

pub async fn delete_stream_frees_its_slots(b: &impl Backend) {
    let r = b.registry().await;
    r.put_stream(&stream("cam")).await.unwrap();
    r.reserve_viewer_slot(&CameraId::from_static("cam"), &ViewerId::from_static("v1"), 1).await.unwrap();
    assert!(r.delete_stream(&CameraId::from_static("cam")).await.unwrap());
    assert_eq!(r.viewer_count(&CameraId::from_static("cam")).await.unwrap(), 0);
    assert_eq!(
        r.reserve_viewer_slot(&CameraId::from_static("cam"), &ViewerId::from_static("v2"), 1).await.unwrap(),
        SlotReservation::StreamNotFound
    );
    r.put_stream(&stream("cam")).await.unwrap();
    assert_eq!(
        r.reserve_viewer_slot(&CameraId::from_static("cam"), &ViewerId::from_static("v2"), 1).await.unwrap(),
        SlotReservation::Reserved
    );
}

pub async fn liveness_expires_after_its_ttl(b: &impl Backend) {
    let r = b.registry().await;
    assert!(!r.is_alive("sig-1").await.unwrap());
    r.refresh_liveness("sig-1", Duration::from_secs(60)).await.unwrap();
    r.refresh_liveness("sig-2", SHORT_TTL).await.unwrap();
    assert!(r.is_alive("sig-2").await.unwrap());
    wait_until(EXPIRY_DEADLINE, "sig-2's liveness expires", || async { !r.is_alive("sig-2").await.unwrap() }).await;
    assert!(r.is_alive("sig-1").await.unwrap());
    assert_eq!(
        r.known_instances().await.unwrap(),
        ["sig-1", "sig-2"],
        "an expired instance stays known until forgotten"
    );
}

pub async fn known_instances_lists_registered_instances_until_forgotten(b: &impl Backend) {
    let r = b.registry().await;
    assert!(r.known_instances().await.unwrap().is_empty());
    for id in ["sig-b", "sig-a"] {
        r.refresh_liveness(id, Duration::from_secs(60)).await.unwrap();
    }
    assert_eq!(r.known_instances().await.unwrap(), ["sig-a", "sig-b"]);
    r.forget_instance("sig-b").await.unwrap();
    r.forget_instance("never-seen").await.unwrap();
    assert_eq!(r.known_instances().await.unwrap(), ["sig-a"]);
}

pub async fn controller_heartbeat_expires_after_its_ttl(b: &impl Backend) {
    let r = b.registry().await;
    assert_eq!(r.get_controller_heartbeat().await.unwrap(), None);
    let beat = ControllerHeartbeat {
        instance_id: "mc-1".into(),
        kurento_connected: true,
        at: "2026-11-24T01:00:00.000Z".into(),
    };
    r.put_controller_heartbeat(&beat, SHORT_TTL).await.unwrap();
    assert_eq!(r.get_controller_heartbeat().await.unwrap(), Some(beat));
    wait_until(EXPIRY_DEADLINE, "the heartbeat expires", || async {
        r.get_controller_heartbeat().await.unwrap().is_none()
    })
    .await;
}

pub async fn reserving_a_viewer_writes_its_record_with_the_slot_and_an_existing_holder_keeps_its_record(
    b: &impl Backend,
) {
    let r = b.registry().await;
    r.put_stream(&stream("cam")).await.unwrap();
    let mut joining = viewer("v1", "cam", "sig-1", "t1");
    joining.state = ViewerState::Joining;
    joining.endpoint_id = None;
    assert_eq!(r.reserve_viewer(&joining, 1).await.unwrap(), SlotReservation::Reserved);
    assert_eq!(
        r.get_viewer(&ViewerId::from_static("v1")).await.unwrap(),
        Some(joining.clone()),
        "the record came with the slot"
    );
    assert_eq!(r.viewers_of_instance("sig-1").await.unwrap(), ["v1"]);
    assert_eq!(ids(&r.list_viewers(Some(&CameraId::from_static("cam"))).await.unwrap()), ["v1"]);

    let negotiating = viewer("v1", "cam", "sig-1", "t1");
    r.put_viewer(&negotiating).await.unwrap();
    assert_eq!(r.reserve_viewer(&joining, 1).await.unwrap(), SlotReservation::Reserved, "idempotent");
    assert_eq!(
        r.get_viewer(&ViewerId::from_static("v1")).await.unwrap(),
        Some(negotiating),
        "a renegotiating viewer keeps its record"
    );

    let refused = viewer("v2", "cam", "sig-1", "t2");
    assert_eq!(r.reserve_viewer(&refused, 1).await.unwrap(), SlotReservation::Full);
    assert_eq!(r.get_viewer(&ViewerId::from_static("v2")).await.unwrap(), None, "no record without a slot");
    let nowhere = viewer("v3", "missing", "sig-1", "t3");
    assert_eq!(r.reserve_viewer(&nowhere, 1).await.unwrap(), SlotReservation::StreamNotFound);
    assert_eq!(r.get_viewer(&ViewerId::from_static("v3")).await.unwrap(), None);
}

pub async fn the_lease_is_exclusive_renewable_and_lapses_after_its_ttl(b: &impl Backend) {
    let r = b.registry().await;
    let other = b.registry().await;
    let term = r.acquire_lease("mc-1", SHORT_TTL).await.unwrap().expect("a free lease is taken");
    assert_eq!(other.acquire_lease("mc-2", SHORT_TTL).await.unwrap(), None, "a second holder is refused");
    assert_eq!(r.acquire_lease("mc-1", LONG_TTL).await.unwrap(), Some(term), "the holder renews in its term");
    assert_eq!(other.acquire_lease("mc-2", SHORT_TTL).await.unwrap(), None);
    assert_eq!(r.acquire_lease("mc-1", SHORT_TTL).await.unwrap(), Some(term));
    wait_until(EXPIRY_DEADLINE, "the unrenewed lease lapses and mc-2 takes it", || async {
        other.acquire_lease("mc-2", LONG_TTL).await.unwrap().is_some()
    })
    .await;
    let next = other.acquire_lease("mc-2", LONG_TTL).await.unwrap().expect("mc-2 holds it");
    assert!(next > term, "a new take starts a greater term");
    assert_eq!(r.acquire_lease("mc-1", SHORT_TTL).await.unwrap(), None, "the old holder lost it");
}

pub async fn a_released_lease_can_be_taken_by_another_holder(b: &impl Backend) {
    let r = b.registry().await;
    let first = r.acquire_lease("mc-1", LONG_TTL).await.unwrap().expect("taken");
    r.release_lease("mc-2").await.unwrap();
    assert_eq!(r.acquire_lease("mc-2", LONG_TTL).await.unwrap(), None, "only the holder can release");
    r.release_lease("mc-1").await.unwrap();
    let second = r.acquire_lease("mc-2", LONG_TTL).await.unwrap().expect("taken after the release");
    assert!(second > first);
}

/// A controller paused past its lease (SIGSTOP, GC, a slow VM) must not overwrite what its
/// successor wrote: every write of its view carries its ended term and is refused.
pub async fn writes_fenced_with_an_ended_term_are_refused_and_change_nothing(b: &impl Backend) {
    let r = b.registry().await;
    let (old_fence, new_fence) = (Fence::new(), Fence::new());
    let old = r.fenced(old_fence.clone());
    let new = r.fenced(new_fence.clone());
    old_fence.enter(r.acquire_lease("mc-1", LONG_TTL).await.unwrap().expect("taken"));
    old.put_stream(&stream("cam1")).await.expect("the holder writes in its term");
    assert_eq!(
        old.reserve_viewer_slot(&CameraId::from_static("cam1"), &ViewerId::from_static("v1"), 10).await.unwrap(),
        SlotReservation::Reserved
    );
    old.put_viewer(&viewer("v1", "cam1", "sig-1", "t1")).await.unwrap();
    r.release_lease("mc-1").await.unwrap();
    new_fence.enter(r.acquire_lease("mc-2", LONG_TTL).await.unwrap().expect("taken by the successor"));

    let mut changed = stream("cam1");
    changed.state = StreamState::Stalled;
    let fenced = |res: Result<(), RegistryError>, what: &str| {
        assert!(matches!(res, Err(RegistryError::Fenced { .. })), "{what}: {res:?}");
    };
    fenced(old.put_stream(&changed).await, "put_stream");
    fenced(old.put_stream(&stream("cam2")).await, "put_stream of a new stream");
    fenced(old.delete_stream(&CameraId::from_static("cam1")).await.map(drop), "delete_stream");
    fenced(
        old.reserve_viewer_slot(&CameraId::from_static("cam1"), &ViewerId::from_static("v2"), 10).await.map(drop),
        "reserve_viewer_slot",
    );
    fenced(old.put_viewer(&viewer("v1", "cam1", "sig-2", "t1")).await, "put_viewer");
    fenced(
        old.remove_viewer(&CameraId::from_static("cam1"), &ViewerId::from_static("v1")).await.map(drop),
        "remove_viewer",
    );
    r.refresh_liveness("sig-1", LONG_TTL).await.unwrap();
    fenced(old.forget_instance("sig-1").await, "forget_instance");
    let beat = ControllerHeartbeat { instance_id: "mc-1".into(), kurento_connected: true, at: "t".into() };
    fenced(old.put_controller_heartbeat(&beat, LONG_TTL).await, "put_controller_heartbeat");
    fenced(old.put_media_session("stale").await, "put_media_session");

    assert_eq!(r.get_stream(&CameraId::from_static("cam1")).await.unwrap(), Some(stream("cam1")), "nothing changed");
    assert_eq!(r.get_stream(&CameraId::from_static("cam2")).await.unwrap(), None);
    assert_eq!(ids(&r.list_viewers(Some(&CameraId::from_static("cam1"))).await.unwrap()), ["v1"]);
    assert_eq!(r.get_viewer(&ViewerId::from_static("v1")).await.unwrap().unwrap().signaling_instance, "sig-1");
    assert_eq!(r.known_instances().await.unwrap(), ["sig-1"]);
    assert_eq!(r.get_controller_heartbeat().await.unwrap(), None);
    assert_eq!(r.get_media_session().await.unwrap(), None);

    new.put_stream(&changed).await.expect("the successor writes in the newest term");
    assert!(new.remove_viewer(&CameraId::from_static("cam1"), &ViewerId::from_static("v1")).await.unwrap());
    assert_eq!(r.get_stream(&CameraId::from_static("cam1")).await.unwrap(), Some(changed));
    r.put_viewer(&viewer("v3", "cam1", "sig-1", "t3")).await.expect("unfenced writers (signaling) still write");
}

pub async fn a_fence_outside_any_term_refuses_every_write(b: &impl Backend) {
    let r = b.registry().await;
    let view = r.fenced(Fence::new());
    assert!(matches!(view.put_stream(&stream("cam1")).await, Err(RegistryError::Fenced { term: 0 })));
    let fence = Fence::new();
    let view = r.fenced(fence.clone());
    fence.enter(r.acquire_lease("mc-1", LONG_TTL).await.unwrap().expect("taken"));
    view.put_stream(&stream("cam1")).await.unwrap();
    fence.leave();
    assert!(matches!(view.delete_stream(&CameraId::from_static("cam1")).await, Err(RegistryError::Fenced { term: 0 })));
    assert!(r.get_stream(&CameraId::from_static("cam1")).await.unwrap().is_some());
}

pub async fn the_media_session_is_stored(b: &impl Backend) {
    let r = b.registry().await;
    assert_eq!(r.get_media_session().await.unwrap(), None);
    r.put_media_session("session-1").await.unwrap();
    r.put_media_session("session-2").await.unwrap();
    assert_eq!(b.registry().await.get_media_session().await.unwrap().as_deref(), Some("session-2"));
}
