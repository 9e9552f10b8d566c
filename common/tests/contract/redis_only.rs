//! Redis-only behaviour: reconnecting after the server restarts, and data in Redis that
//! no camview writer produced (reported or skipped, never a panic).

use camview_proto::CameraId;
use camview_proto::ViewerId;
use std::time::Duration;

use camview_common::bus::{envelope, RedisBus};
use camview_common::registry::RedisRegistry;
use camview_common::testing::{random_keys, wait_until, RedisServer};
use camview_common::{Bus, ControllerLease, MediaNodes, RegistryError, StreamStore, ViewerSlots};
use camview_proto::bus::{Envelope, Message, StopStream};
use camview_proto::keys::Keys;

use crate::bus::event;
use crate::registry::stream;

const CONSUMER: &str = "media-controller";
/// Reconnection backs off up to a second between attempts; leave room on a busy box.
const RECONNECT_DEADLINE: Duration = Duration::from_secs(15);

fn command(camera_id: &str) -> Envelope {
    envelope(Message::StopStream(StopStream { camera_id: camera_id.parse().expect("a test camera id") }), None, None)
}

async fn raw_connection(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_keeps_working_after_redis_restarts() {
    let mut server = RedisServer::start();
    let registry = RedisRegistry::connect(&server.url(), random_keys()).await.unwrap();
    registry.put_stream(&stream("before")).await.unwrap();

    server.restart();

    wait_until(RECONNECT_DEADLINE, "the registry writes again", || async {
        registry.put_stream(&stream("after")).await.is_ok()
    })
    .await;
    assert_eq!(registry.get_stream(&CameraId::from_static("after")).await.unwrap(), Some(stream("after")));
    assert_eq!(
        registry.get_stream(&CameraId::from_static("before")).await.unwrap(),
        None,
        "the restarted server has no persistence"
    );
    assert!(
        registry.acquire_lease("mc-1", Duration::from_secs(5)).await.unwrap().is_some(),
        "scripts are loaded again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bus_delivers_commands_again_after_redis_restarts() {
    let mut server = RedisServer::start();
    let keys = random_keys();
    let producer = RedisBus::connect(&server.url(), keys.clone()).await.unwrap();
    let consumer = RedisBus::connect(&server.url(), keys).await.unwrap();
    assert!(consumer.read_commands(CONSUMER, 10, Duration::ZERO).await.unwrap().is_empty());

    server.restart();

    let sent = command("after-restart");
    wait_until(RECONNECT_DEADLINE, "a command is pushed again", || async {
        producer.push_command(&sent).await.is_ok()
    })
    .await;
    let deadline = tokio::time::Instant::now() + RECONNECT_DEADLINE;
    let got = loop {
        assert!(tokio::time::Instant::now() < deadline, "the consumer did not read the command after the restart");
        match consumer.read_commands(CONSUMER, 10, Duration::from_millis(100)).await {
            Ok(batch) if !batch.is_empty() => break batch.into_iter().map(|d| d.envelope).collect::<Vec<_>>(),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert_eq!(got, [sent]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_resubscribes_after_redis_restarts() {
    let mut server = RedisServer::start();
    let keys = random_keys();
    let subscriber = RedisBus::connect(&server.url(), keys.clone()).await.unwrap();
    let publisher = RedisBus::connect(&server.url(), keys).await.unwrap();
    let mut sub = subscriber.subscribe("sig-1").await.unwrap();

    server.restart();

    // Pub/sub drops what is published while nobody listens: publish until one arrives.
    let deadline = tokio::time::Instant::now() + RECONNECT_DEADLINE;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "no envelope reached the subscription after the restart");
        let sent = event("after-restart");
        if publisher.publish("sig-1", &sent).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        if let Ok(got) = tokio::time::timeout(Duration::from_millis(200), sub.recv()).await {
            assert_eq!(got.expect("the subscription stays open"), sent);
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_stream_entries_are_acknowledged_and_never_returned() {
    let server = RedisServer::shared();
    let keys = random_keys();
    let bus = RedisBus::connect(&server.url(), keys.clone()).await.unwrap();
    let mut raw = raw_connection(server).await;
    let stream = keys.commands_stream();
    redis::cmd("XADD")
        .arg(&stream)
        .arg("*")
        .arg("envelope")
        .arg("{not json")
        .query_async::<String>(&mut raw)
        .await
        .unwrap();
    redis::cmd("XADD").arg(&stream).arg("*").arg("other").arg("field").query_async::<String>(&mut raw).await.unwrap();
    let good = command("good");
    bus.push_command(&good).await.unwrap();

    let got = bus.read_commands(CONSUMER, 10, Duration::from_secs(5)).await.unwrap();
    assert_eq!(got.into_iter().map(|d| d.envelope).collect::<Vec<_>>(), std::slice::from_ref(&good));
    let pending: redis::Value =
        redis::cmd("XPENDING").arg(&stream).arg(keys.commands_group()).query_async(&mut raw).await.unwrap();
    let redis::Value::Array(summary) = pending else { panic!("XPENDING summary: {pending:?}") };
    assert_eq!(summary.first(), Some(&redis::Value::Int(1)), "only the good command is pending");

    let restarted = RedisBus::connect(&server.url(), keys).await.unwrap();
    let again = restarted.read_commands(CONSUMER, 10, Duration::from_millis(50)).await.unwrap();
    assert_eq!(again.into_iter().map(|d| d.envelope).collect::<Vec<_>>(), [good]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_published_message_is_skipped() {
    let server = RedisServer::shared();
    let keys = random_keys();
    let bus = RedisBus::connect(&server.url(), keys.clone()).await.unwrap();
    let mut sub = bus.subscribe("sig-1").await.unwrap();
    let mut raw = raw_connection(server).await;
    redis::cmd("PUBLISH")
        .arg(keys.instance_channel("sig-1"))
        .arg("garbage")
        .query_async::<i64>(&mut raw)
        .await
        .unwrap();
    let sent = event("v1");
    bus.publish("sig-1", &sent).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), sub.recv()).await.expect("an envelope in time").unwrap();
    assert_eq!(got, sent);
}

async fn assert_corrupt<T: std::fmt::Debug>(result: Result<T, RegistryError>, key: &str) {
    match result {
        Err(RegistryError::Corrupt { key: k, .. }) => assert_eq!(k, key),
        other => panic!("expected Corrupt at {key}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_registry_entries_are_reported_as_corrupt() {
    let server = RedisServer::shared();
    let keys: Keys = random_keys();
    let registry = RedisRegistry::connect(&server.url(), keys.clone()).await.unwrap();
    let mut raw = raw_connection(server).await;

    registry.put_stream(&stream("bad-json")).await.unwrap();
    redis::cmd("HSET")
        .arg(keys.stream(&CameraId::from_static("bad-json")))
        .arg("bandwidth")
        .arg("{oops")
        .query_async::<i64>(&mut raw)
        .await
        .unwrap();
    assert_corrupt(
        registry.get_stream(&CameraId::from_static("bad-json")).await,
        &keys.stream(&CameraId::from_static("bad-json")),
    )
    .await;
    assert_corrupt(registry.list_streams().await, &keys.stream(&CameraId::from_static("bad-json"))).await;

    redis::cmd("SET")
        .arg(keys.camera(&CameraId::from_static("wrong-type")))
        .arg("x")
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    assert_corrupt(
        registry.get_camera_status(&CameraId::from_static("wrong-type")).await,
        &keys.camera(&CameraId::from_static("wrong-type")),
    )
    .await;

    redis::cmd("HSET")
        .arg(keys.viewer(&ViewerId::from_static("partial")))
        .arg("viewer_id")
        .arg("partial")
        .query_async::<i64>(&mut raw)
        .await
        .unwrap();
    assert_corrupt(
        registry.get_viewer(&ViewerId::from_static("partial")).await,
        &keys.viewer(&ViewerId::from_static("partial")),
    )
    .await;

    redis::cmd("SET").arg(keys.controller_heartbeat()).arg("not json").query_async::<()>(&mut raw).await.unwrap();
    assert_corrupt(registry.get_controller_heartbeat().await, &keys.controller_heartbeat()).await;

    registry.put_node(&crate::nodes::node("bad-node", 1), Duration::from_secs(60)).await.unwrap();
    redis::cmd("SET").arg(keys.media_node("bad-node")).arg("{oops").query_async::<()>(&mut raw).await.unwrap();
    assert_corrupt(registry.get_node("bad-node").await, &keys.media_node("bad-node")).await;
    assert_corrupt(registry.list_nodes().await, &keys.media_node("bad-node")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_while_redis_is_down_fail_as_unavailable_within_seconds() {
    let mut server = RedisServer::start();
    let keys = random_keys();
    let registry = RedisRegistry::connect(&server.url(), keys.clone()).await.unwrap();
    let bus = RedisBus::connect(&server.url(), keys.clone()).await.unwrap();

    server.stop();

    let limit = Duration::from_secs(10);
    let got = tokio::time::timeout(limit, registry.get_stream(&CameraId::from_static("cam")))
        .await
        .expect("the registry gives up in time");
    assert!(matches!(got, Err(RegistryError::Unavailable(_))), "{got:?}");
    let pushed =
        tokio::time::timeout(limit, bus.push_command(&command("cam"))).await.expect("the bus gives up in time");
    assert!(matches!(pushed, Err(camview_common::BusError::Unavailable(_))), "{pushed:?}");
    let read = tokio::time::timeout(limit, bus.read_commands(CONSUMER, 1, Duration::from_millis(100)))
        .await
        .expect("the read gives up in time");
    assert!(matches!(read, Err(camview_common::BusError::Unavailable(_))), "{read:?}");
    let connected = tokio::time::timeout(limit, RedisRegistry::connect(&server.url(), keys))
        .await
        .expect("connect gives up in time");
    assert!(matches!(connected, Err(RegistryError::Unavailable(_))));
}

/// A controller that read commands and then died, or was paused past its lease and leaves
/// them alone, must not take them with it: the next reader, as another consumer, takes them
/// over once they sat idle; its own commands (maybe still running) are never taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_another_consumer_read_and_left_unacknowledged_are_taken_over_once_idle() {
    let server = RedisServer::shared();
    let keys = random_keys();
    let stale = RedisBus::connect(&server.url(), keys.clone()).await.unwrap();
    let leader = RedisBus::connect(&server.url(), keys).await.unwrap();
    let sent = command("abandoned");
    stale.push_command(&sent).await.unwrap();
    let read = stale.read_commands("mc-stale", 10, Duration::ZERO).await.unwrap();
    assert_eq!(read.len(), 1, "the stale controller read it and never acknowledges it");

    let deadline = tokio::time::Instant::now() + RECONNECT_DEADLINE;
    let got = loop {
        assert!(tokio::time::Instant::now() < deadline, "the leader never took the abandoned command over");
        let batch = leader.read_commands("mc-leader", 10, Duration::from_millis(100)).await.unwrap();
        if !batch.is_empty() {
            break batch;
        }
    };
    assert_eq!(got.iter().map(|d| &d.envelope).collect::<Vec<_>>(), [&sent]);
    assert_eq!(got[0].delivery_id, read[0].delivery_id, "the same entry, now the leader's");

    // The leader's own unacknowledged command is not handed out to it again.
    let later = tokio::time::Instant::now() + Duration::from_millis(2500);
    while tokio::time::Instant::now() < later {
        let batch = leader.read_commands("mc-leader", 10, Duration::from_millis(200)).await.unwrap();
        assert!(batch.is_empty(), "handed out twice: {batch:?}");
    }
    leader.ack_command(&got[0].delivery_id).await.unwrap();
}

/// Names of the command group's consumers, sorted.
async fn consumers(server: &RedisServer, keys: &Keys) -> Vec<String> {
    let mut raw = raw_connection(server).await;
    let info: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(keys.commands_stream())
        .arg(keys.commands_group())
        .query_async(&mut raw)
        .await
        .unwrap();
    let mut names: Vec<String> = info
        .iter()
        .map(|c| match &c["name"] {
            redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            redis::Value::SimpleString(s) => s.clone(),
            other => panic!("consumer name {other:?}"),
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn idle_consumers_with_nothing_pending_are_forgotten_and_one_holding_entries_is_kept_until_they_are_taken_over() {
    let server = RedisServer::shared();
    let keys = random_keys();
    let expiry = Duration::from_millis(200);
    // An earlier controller process that acknowledged all it read, and one that died holding
    // an unacknowledged command.
    let earlier = RedisBus::connect(&server.url(), keys.clone()).await.unwrap();
    earlier.push_command(&command("done")).await.unwrap();
    let done = earlier.read_commands("mc-earlier", 10, Duration::ZERO).await.unwrap();
    earlier.ack_command(&done[0].delivery_id).await.unwrap();
    earlier.push_command(&command("held")).await.unwrap();
    let held = earlier.read_commands("mc-died", 10, Duration::ZERO).await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(consumers(server, &keys).await, ["mc-died", "mc-earlier"]);

    let leader = RedisBus::connect(&server.url(), keys.clone()).await.unwrap().with_consumer_expiry(expiry);
    let deadline = tokio::time::Instant::now() + RECONNECT_DEADLINE;
    let mut taken = Vec::new();
    let mut seen_kept = false;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "consumers now: {:?}", consumers(server, &keys).await);
        taken.extend(leader.read_commands("mc-leader", 10, Duration::from_millis(100)).await.unwrap());
        let now = consumers(server, &keys).await;
        assert!(now.contains(&"mc-leader".to_owned()), "the reader itself is never forgotten: {now:?}");
        if taken.is_empty() && !now.contains(&"mc-earlier".to_owned()) {
            // The idle one is gone while the dead one still holds its entry.
            assert_eq!(now, ["mc-died", "mc-leader"]);
            seen_kept = true;
        }
        if !taken.is_empty() && now == ["mc-leader"] {
            break;
        }
    }
    assert!(seen_kept, "a consumer holding an entry was forgotten before it was taken over");
    assert_eq!(taken[0].delivery_id, held[0].delivery_id, "the held command was taken over, not lost");
    leader.ack_command(&taken[0].delivery_id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_nodes_prunes_the_index_entries_of_lapsed_heartbeats_and_leaves_no_key_behind() {
    let server = RedisServer::shared();
    let keys = random_keys();
    let registry = RedisRegistry::connect(&server.url(), keys.clone()).await.unwrap();
    let mut raw = raw_connection(server).await;
    registry.put_node(&crate::nodes::node("node-gone", 1), Duration::from_millis(200)).await.unwrap();
    registry.put_node(&crate::nodes::node("node-live", 1), Duration::from_secs(60)).await.unwrap();
    wait_until(Duration::from_secs(5), "node-gone's record expires", || {
        let mut raw = raw.clone();
        let key = keys.media_node("node-gone");
        async move { !redis::cmd("EXISTS").arg(key).query_async::<bool>(&mut raw).await.unwrap() }
    })
    .await;
    let index: u64 = redis::cmd("ZCARD").arg(keys.media_nodes_index()).query_async(&mut raw).await.unwrap();
    assert_eq!(index, 2, "the index entry outlives the record until a read");
    assert_eq!(registry.list_nodes().await.unwrap().len(), 1);
    let index: Vec<String> =
        redis::cmd("ZRANGE").arg(keys.media_nodes_index()).arg(0).arg(-1).query_async(&mut raw).await.unwrap();
    assert_eq!(index, ["node-live"]);
}
