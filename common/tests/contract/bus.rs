//! Bus cases: the durable command queue, instance channels and request/reply.

use camview_proto::CameraId;
use std::time::Duration;

use camview_common::bus::{envelope, Subscription};
use camview_common::{BusClient, BusError};
use camview_proto::bus::{Done, Envelope, Message, StopStream, StreamEnded};

use crate::backend::Backend;

const CONSUMER: &str = "media-controller";
/// How long a case waits for something that should happen at once.
const EVENTUALLY: Duration = Duration::from_secs(5);
const NO_WAIT: Duration = Duration::ZERO;

fn command(camera_id: &str) -> Envelope {
    envelope(
        Message::StopStream(StopStream { camera_id: camera_id.parse().expect("a test camera id") }),
        Some("api-1".into()),
        None,
    )
}

/// A viewer event, for the bus tests here and in `redis_only`.
pub(crate) fn event(viewer_id: &str) -> Envelope {
    envelope(
        Message::StreamEnded(StreamEnded {
            viewer_id: viewer_id.parse().expect("a test viewer id"),
            camera_id: CameraId::from_static("cam"),
        }),
        None,
        None,
    )
}

async fn next(sub: &mut Subscription) -> Envelope {
    tokio::time::timeout(EVENTUALLY, sub.recv()).await.expect("an envelope in time").expect("subscription open")
}

pub async fn a_command_pushed_before_the_consumer_exists_is_delivered(b: &impl Backend) {
    let sent = command("cam1");
    b.bus().await.push_command(&sent).await.unwrap();
    let consumer = b.bus().await;
    let got = consumer.read_commands(CONSUMER, 10, EVENTUALLY).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].envelope, sent);
}

pub async fn commands_are_delivered_in_push_order_at_most_max_at_a_time(b: &impl Backend) {
    let producer = b.bus().await;
    let consumer = b.bus().await;
    let sent: Vec<Envelope> = (0..5).map(|i| command(&format!("cam{i}"))).collect();
    for env in &sent {
        producer.push_command(env).await.unwrap();
    }
    let first = consumer.read_commands(CONSUMER, 3, EVENTUALLY).await.unwrap();
    let second = consumer.read_commands(CONSUMER, 3, EVENTUALLY).await.unwrap();
    assert_eq!(first.len(), 3);
    let got: Vec<Envelope> = first.into_iter().chain(second).map(|d| d.envelope).collect();
    assert_eq!(got, sent);
}

pub async fn a_full_command_queue_refuses_the_next_command_and_drops_none_of_those_waiting(b: &impl Backend) {
    use camview_common::bus::COMMAND_QUEUE_MAX_LEN;
    let producer = b.bus().await;
    let first = command("first");
    producer.push_command(&first).await.unwrap();
    for i in 1..COMMAND_QUEUE_MAX_LEN {
        producer.push_command(&command(&format!("cam{i}"))).await.unwrap();
    }
    let refused = producer.push_command(&command("one-too-many")).await;
    assert!(matches!(refused, Err(BusError::QueueFull { max: COMMAND_QUEUE_MAX_LEN })), "{refused:?}");

    // Nothing waiting was dropped to make room: the oldest is still delivered first.
    let consumer = b.bus().await;
    let got = consumer.read_commands(CONSUMER, 1, EVENTUALLY).await.unwrap();
    assert_eq!(got[0].envelope, first);
    // Read is not done: only an acknowledged command frees its place.
    assert!(matches!(producer.push_command(&command("still-full")).await, Err(BusError::QueueFull { .. })));
    consumer.ack_command(&got[0].delivery_id).await.unwrap();
    producer.push_command(&command("fits-again")).await.unwrap();
}

pub async fn an_unacknowledged_command_is_redelivered_to_the_same_consumer_after_a_restart(b: &impl Backend) {
    let producer = b.bus().await;
    let (handled, unhandled) = (command("handled"), command("unhandled"));
    producer.push_command(&handled).await.unwrap();
    producer.push_command(&unhandled).await.unwrap();
    let before = b.bus().await;
    let got = before.read_commands(CONSUMER, 10, EVENTUALLY).await.unwrap();
    assert_eq!(got.len(), 2);
    before.ack_command(&got[0].delivery_id).await.unwrap();
    drop(before); // the consumer "crashes" before handling the second command

    let after = b.bus().await;
    let again = after.read_commands(CONSUMER, 10, EVENTUALLY).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].envelope, unhandled);
    assert_eq!(again[0].delivery_id, got[1].delivery_id);
}

pub async fn an_acknowledged_command_never_comes_back(b: &impl Backend) {
    let bus = b.bus().await;
    bus.push_command(&command("cam")).await.unwrap();
    let got = bus.read_commands(CONSUMER, 10, EVENTUALLY).await.unwrap();
    bus.ack_command(&got[0].delivery_id).await.unwrap();
    assert!(bus.read_commands(CONSUMER, 10, NO_WAIT).await.unwrap().is_empty());
    let restarted = b.bus().await;
    assert!(restarted.read_commands(CONSUMER, 10, Duration::from_millis(50)).await.unwrap().is_empty());
}

pub async fn one_handle_hands_out_an_unacknowledged_command_once(b: &impl Backend) {
    let bus = b.bus().await;
    bus.push_command(&command("cam")).await.unwrap();
    assert_eq!(bus.read_commands(CONSUMER, 10, EVENTUALLY).await.unwrap().len(), 1);
    assert!(bus.read_commands(CONSUMER, 10, Duration::from_millis(50)).await.unwrap().is_empty());
}

pub async fn read_commands_wakes_up_for_a_push_during_block(b: &impl Backend) {
    let consumer = b.bus().await;
    let producer = b.bus().await;
    // Learn the backlog is empty first, so the next read really blocks.
    assert!(consumer.read_commands(CONSUMER, 10, NO_WAIT).await.unwrap().is_empty());
    let sent = command("late");
    let reading = tokio::spawn({
        let consumer = consumer.clone();
        async move { consumer.read_commands(CONSUMER, 10, Duration::from_secs(10)).await.unwrap() }
    });
    tokio::task::yield_now().await;
    producer.push_command(&sent).await.unwrap();
    let got = tokio::time::timeout(EVENTUALLY, reading).await.expect("the blocked read returns in time").unwrap();
    assert_eq!(got.into_iter().map(|d| d.envelope).collect::<Vec<_>>(), [sent]);
}

pub async fn a_blocked_read_does_not_hold_up_pushes_on_the_same_handle(b: &impl Backend) {
    let bus = b.bus().await;
    assert!(bus.read_commands(CONSUMER, 10, NO_WAIT).await.unwrap().is_empty());
    let reading = tokio::spawn({
        let bus = bus.clone();
        async move { bus.read_commands(CONSUMER, 10, Duration::from_secs(10)).await.unwrap() }
    });
    tokio::task::yield_now().await;
    let sent = command("same-handle");
    tokio::time::timeout(Duration::from_secs(1), bus.push_command(&sent))
        .await
        .expect("the push is not stuck behind the read")
        .unwrap();
    let got = tokio::time::timeout(EVENTUALLY, reading).await.expect("the blocked read returns in time").unwrap();
    assert_eq!(got.into_iter().map(|d| d.envelope).collect::<Vec<_>>(), [sent]);
}

pub async fn read_commands_returns_nothing_after_block_on_an_empty_queue(b: &impl Backend) {
    let consumer = b.bus().await;
    let started = tokio::time::Instant::now();
    let got = consumer.read_commands(CONSUMER, 10, Duration::from_millis(100)).await.unwrap();
    assert!(got.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(90), "returned after {:?}", started.elapsed());
}

pub async fn acknowledging_a_malformed_delivery_id_is_malformed(b: &impl Backend) {
    let err = b.bus().await.ack_command("not-an-id").await.unwrap_err();
    assert!(matches!(err, BusError::Malformed(_)), "{err:?}");
}

pub async fn a_published_envelope_reaches_every_subscriber_of_that_instance_only(b: &impl Backend) {
    let bus = b.bus().await;
    let mut first = bus.subscribe("sig-1").await.unwrap();
    let mut second = b.bus().await.subscribe("sig-1").await.unwrap();
    let mut other = bus.subscribe("sig-2").await.unwrap();
    let publisher = b.bus().await;
    let (to_sig1, to_sig2) = (event("for-sig-1"), event("for-sig-2"));
    publisher.publish("sig-1", &to_sig1).await.unwrap();
    publisher.publish("sig-2", &to_sig2).await.unwrap();
    assert_eq!(next(&mut first).await, to_sig1);
    assert_eq!(next(&mut second).await, to_sig1);
    assert_eq!(next(&mut other).await, to_sig2, "sig-2 got nothing before its own envelope");
}

/// Answers every command with `Done` until the queue handle is dropped.
fn spawn_responder(bus: std::sync::Arc<dyn camview_common::Bus>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok(batch) = bus.read_commands(CONSUMER, 10, Duration::from_millis(200)).await else { return };
            for d in batch {
                BusClient::reply(bus.as_ref(), &d.envelope, Message::Done(Done {})).await.unwrap();
                bus.ack_command(&d.delivery_id).await.unwrap();
            }
        }
    })
}

pub async fn a_request_gets_the_reply_of_a_responder(b: &impl Backend) {
    let responder = spawn_responder(b.bus().await);
    let (client, _events) = BusClient::start(b.bus().await, "api-1").await.unwrap();
    let reply = client
        .request(Message::StopStream(StopStream { camera_id: CameraId::from_static("cam") }), EVENTUALLY)
        .await
        .unwrap();
    assert_eq!(reply, Message::Done(Done {}));
    responder.abort();
}

pub async fn a_request_times_out_when_nobody_answers(b: &impl Backend) {
    let (client, _events) = BusClient::start(b.bus().await, "api-1").await.unwrap();
    let err = client
        .request(
            Message::StopStream(StopStream { camera_id: CameraId::from_static("cam") }),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, BusError::Timeout { kind: "StopStream", .. }), "{err:?}");
}

pub async fn envelopes_that_are_not_replies_come_out_as_events(b: &impl Backend) {
    let (_client, mut events) = BusClient::start(b.bus().await, "sig-1").await.unwrap();
    let sent = event("v1");
    b.bus().await.publish("sig-1", &sent).await.unwrap();
    let got = tokio::time::timeout(EVENTUALLY, events.recv()).await.expect("an event in time").unwrap();
    assert_eq!(got, sent);
}
