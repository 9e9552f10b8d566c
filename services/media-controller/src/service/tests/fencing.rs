//! A controller whose lease term ended (paused past it, or another took the lease) changes
//! nothing: commands it reads go back to the queue, and writes already in flight are refused.

use camview_proto::CameraId;
use std::time::{Duration, Instant};

use camview_common::bus::envelope;
use camview_proto::bus::Message;
use camview_proto::error::ErrorCode;

use super::{command, fixture, start};
use camview_common::bus::BusClient;

#[tokio::test]
async fn a_command_read_after_the_lease_lapsed_is_left_unacknowledged_and_unexecuted() {
    let f = fixture().await;
    // As after a SIGSTOP longer than the lease: the term is still set, its time is over.
    let term = f.registry.acquire_lease("mc-test", Duration::from_secs(60)).await.unwrap().unwrap();
    f.controller.enter_term(term, Instant::now());
    let env = envelope(start("cam1"), None, None);
    assert!(!f.controller.handle(&env).await, "not to be acknowledged: the leader takes it over");
    assert!(f.media.calls().is_empty(), "nothing was created: {:?}", f.media.calls());
    assert_eq!(f.registry.get_stream(&CameraId::from_static("cam1")).await.unwrap(), None);
}

#[tokio::test]
async fn a_write_in_flight_after_another_controller_took_the_lease_is_refused_and_its_media_released() {
    let f = fixture().await;
    // Another controller took over while this one still believes it leads.
    f.registry.release_lease("mc-test").await.unwrap();
    assert!(f.registry.acquire_lease("mc-2", Duration::from_secs(60)).await.unwrap().is_some());
    let (client, _events) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();

    let reply = command(&f, &client, start("cam1")).await;
    assert!(
        matches!(&reply, Message::Failed(e) if e.code == ErrorCode::ControllerUnavailable),
        "the sender is told to retry with the leader: {reply:?}"
    );
    assert_eq!(
        f.registry.get_stream(&CameraId::from_static("cam1")).await.unwrap(),
        None,
        "the new leader's state is untouched"
    );
    assert_eq!(f.media.calls().iter().filter(|c| c.starts_with("create_stream")).count(), 1);
    assert_eq!(f.media.released().len(), 1, "the pipeline made meanwhile is released");
}
