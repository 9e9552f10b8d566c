//! Redis bus: commands on a Redis Stream read through a consumer group (so they survive a
//! controller restart until acknowledged), replies and events on one pub/sub channel per
//! instance.
//!
//! Commands go through reconnecting [`RedisConn`]s: one for quick commands and one
//! for the blocking `XREADGROUP`, which would otherwise hold up everything queued behind
//! it. Each subscription owns a pub/sub connection in a task that resubscribes after a
//! connection loss.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use crate::redis_conn::{manager_config, RedisConn};
use async_trait::async_trait;
use camview_proto::bus::Envelope;
use camview_proto::keys::Keys;
use futures::StreamExt;
use redis::{Client, RedisError, Value};
use tokio::sync::{mpsc, oneshot};

use super::{parse_delivery_id, Bus, BusError, Delivery, Subscription, COMMAND_QUEUE_MAX_LEN, SUBSCRIPTION_CAPACITY};

/// The stream entry field holding the JSON envelope.
const ENVELOPE_FIELD: &str = "envelope";
/// XADD only below a length: KEYS[1] the stream, ARGV max, field, value; nil when full.
const PUSH_BOUNDED: &str = r"
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return false end
return redis.call('XADD', KEYS[1], '*', ARGV[2], ARGV[3])
";
/// Extra time a blocking read may take beyond its `block` before it counts as hung.
const READ_GRACE: Duration = Duration::from_secs(5);
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);
const RESUBSCRIBE_MAX_BACKOFF: Duration = Duration::from_millis(250);
/// How long a reply waits for its requester's subscription to come back (see `publish_reply`).
const REPLY_GRACE: Duration = Duration::from_secs(1);
/// Entries pending this long under another consumer (a controller that died or was paused
/// past its lease after reading them) are taken over by the reader, at most this often.
const CLAIM_IDLE: Duration = Duration::from_secs(1);
const CLAIM_EVERY: Duration = Duration::from_secs(1);
/// Consumers idle this long with nothing pending are removed from the group (each controller
/// process reads as its own consumer, so without this the group keeps one per restart).
pub const CONSUMER_EXPIRY: Duration = Duration::from_secs(600);

/// Deletes, in one atomic step, the group's consumers other than `ARGV[1]` that have nothing
/// pending and were idle at least `ARGV[2]` ms; returns how many. Atomic, so a consumer that
/// reads between the look and the delete cannot lose the entries it just read.
const FORGET_IDLE_CONSUMERS: &str = r#"
local gone = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[3])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['name'] ~= ARGV[1] and tonumber(f['pending']) == 0 and tonumber(f['idle']) >= tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[3], f['name'])
    gone = gone + 1
  end
end
return gone
"#;

/// [`Bus`] on Redis. Each instance is one "process": a consumer's unacknowledged backlog
/// is handed out again by the first reads of a new instance.
pub struct RedisBus {
    client: Client,
    keys: Keys,
    conn: RedisConn,
    reader: RedisConn,
    /// Per consumer, how far this instance has re-read its pending entries.
    recovery: Mutex<HashMap<String, Recovery>>,
    /// Ids this instance handed out and has not acknowledged, so a backlog re-read after
    /// a connection loss does not hand them out twice.
    handed_out: Mutex<HashSet<String>>,
    /// When entries abandoned by other consumers were last looked for.
    last_claim: Mutex<Option<std::time::Instant>>,
    /// Idle consumers with nothing pending are forgotten after this ([`CONSUMER_EXPIRY`]).
    consumer_expiry: Duration,
    /// When idle consumers were last looked for.
    last_forget: Mutex<Option<std::time::Instant>>,
}

#[derive(Clone)]
enum Recovery {
    /// Pending entries after this id are still to be handed out (`0` at first).
    After(String),
    /// Only new entries (`>`) from now on.
    Done,
}

fn unavailable(e: RedisError) -> BusError {
    BusError::Unavailable(e.to_string())
}

impl RedisBus {
    /// Connects to `url` (no TLS material beyond the system roots) and makes sure the
    /// command stream and its consumer group exist.
    pub async fn connect(url: &str, keys: Keys) -> Result<Self, BusError> {
        Self::with_client(crate::redis_client::client(url, None).map_err(unavailable)?, keys).await
    }

    /// Like [`RedisBus::connect`], through a client from [`crate::redis_client::client`].
    pub async fn with_client(client: Client, keys: Keys) -> Result<Self, BusError> {
        let conn = RedisConn::connect(client.clone()).await.map_err(unavailable)?;
        // Only the media-controller reads commands: connect the reader on first use.
        let reader =
            RedisConn::lazy(client.clone(), manager_config().set_response_timeout(None)).map_err(unavailable)?;
        let bus = Self {
            client,
            keys,
            conn,
            reader,
            recovery: Mutex::default(),
            handed_out: Mutex::default(),
            last_claim: Mutex::default(),
            consumer_expiry: CONSUMER_EXPIRY,
            last_forget: Mutex::default(),
        };
        bus.ensure_group().await?;
        Ok(bus)
    }

    /// How long a consumer with nothing pending may stay idle before the reader removes it
    /// from the group (tests shorten [`CONSUMER_EXPIRY`]).
    pub fn with_consumer_expiry(mut self, expiry: Duration) -> Self {
        self.consumer_expiry = expiry;
        self
    }

    /// Removes consumers other than `consumer` that have nothing pending and were idle for
    /// the expiry (at most once per expiry, checked by the reader). A controller that comes
    /// back later is simply a new consumer again.
    async fn forget_idle_consumers(&self, consumer: &str) -> Result<(), BusError> {
        {
            let mut last = self.last_forget.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < self.consumer_expiry.min(Duration::from_secs(60))) {
                return Ok(());
            }
            *last = Some(std::time::Instant::now());
        }
        let gone: u64 = redis::Script::new(FORGET_IDLE_CONSUMERS)
            .key(self.keys.commands_stream())
            .arg(consumer)
            .arg(self.consumer_expiry.as_millis() as u64)
            .arg(self.keys.commands_group())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        if gone > 0 {
            tracing::info!(gone, "forgot idle command consumers with nothing pending (earlier controller processes)");
        }
        Ok(())
    }

    /// Creates the group from the stream's start, so commands pushed before any consumer
    /// existed are delivered too. Also needed after Redis lost its data.
    async fn ensure_group(&self) -> Result<(), BusError> {
        let created: Result<(), RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(self.keys.commands_stream())
            .arg(self.keys.commands_group())
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut self.conn.clone())
            .await;
        match created {
            Err(e) if e.code() != Some("BUSYGROUP") => Err(unavailable(e)),
            _ => Ok(()),
        }
    }

    async fn xreadgroup(
        &self,
        consumer: &str,
        max: usize,
        block: Option<Duration>,
        from: &str,
    ) -> Result<Value, RedisError> {
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(self.keys.commands_group()).arg(consumer).arg("COUNT").arg(max);
        if let Some(block) = block {
            cmd.arg("BLOCK").arg(block.as_millis().max(1) as u64);
        }
        cmd.arg("STREAMS").arg(self.keys.commands_stream()).arg(from);
        let wait = block.unwrap_or_default() + READ_GRACE;
        match tokio::time::timeout(wait, cmd.query_async(&mut self.reader.clone())).await {
            Ok(result) => result,
            Err(_) => Err(RedisError::from((redis::ErrorKind::Io, "XREADGROUP did not return in time"))),
        }
    }

    /// Reads once, recreating the group if Redis lost it.
    async fn read_entries(
        &self,
        consumer: &str,
        max: usize,
        block: Option<Duration>,
        from: &str,
    ) -> Result<Vec<Entry>, BusError> {
        let reply = match self.xreadgroup(consumer, max, block, from).await {
            Err(e) if e.code() == Some("NOGROUP") => {
                tracing::warn!(stream = %self.keys.commands_stream(), "command consumer group is gone; recreating it");
                self.ensure_group().await?;
                self.xreadgroup(consumer, max, block, from).await
            }
            other => other,
        }
        .map_err(unavailable)?;
        parse_read_reply(reply)
    }

    /// Takes over entries pending under other consumers for at least [`CLAIM_IDLE`] (at most
    /// every [`CLAIM_EVERY`]): a controller that read them and then died, or was paused past
    /// its lease and so will not run them, leaves them to the one reading now. This
    /// consumer's own pending entries are never claimed (they may be running).
    async fn claim_abandoned(&self, consumer: &str, max: usize) -> Result<Vec<Entry>, BusError> {
        {
            let mut last = self.last_claim.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < CLAIM_EVERY) {
                return Ok(Vec::new());
            }
            *last = Some(std::time::Instant::now());
        }
        let idle = CLAIM_IDLE.as_millis() as u64;
        let pending: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
            .arg(self.keys.commands_stream())
            .arg(self.keys.commands_group())
            .arg("IDLE")
            .arg(idle)
            .arg("-")
            .arg("+")
            .arg(max)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let ids: Vec<&str> =
            pending.iter().filter(|(_, owner, _, _)| owner != consumer).map(|(id, ..)| id.as_str()).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let reply: Value = redis::cmd("XCLAIM")
            .arg(self.keys.commands_stream())
            .arg(self.keys.commands_group())
            .arg(consumer)
            .arg(idle)
            .arg(&ids)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        let entries = parse_entries(reply)?;
        tracing::warn!(claimed = entries.len(), "took over commands another controller read and left unacknowledged");
        Ok(entries)
    }

    /// Turns entries into deliveries, leaving out those this instance already handed out.
    /// Entries that cannot be handled are acknowledged and dropped so they do not come
    /// back forever.
    async fn deliveries(&self, entries: Vec<Entry>) -> Result<Vec<Delivery>, BusError> {
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            match entry.envelope() {
                Ok(envelope) => {
                    if self.handed_out.lock().unwrap_or_else(|p| p.into_inner()).insert(entry.id.clone()) {
                        out.push(Delivery { delivery_id: entry.id, envelope });
                    }
                }
                Err(reason) => {
                    tracing::warn!(delivery_id = %entry.id, %reason, "dropping a malformed command");
                    self.ack_command(&entry.id).await?;
                }
            }
        }
        Ok(out)
    }

    fn recovery(&self, consumer: &str) -> Recovery {
        let recovery = self.recovery.lock().unwrap_or_else(|p| p.into_inner());
        recovery.get(consumer).cloned().unwrap_or(Recovery::After("0".into()))
    }

    fn set_recovery(&self, consumer: &str, state: Recovery) {
        self.recovery.lock().unwrap_or_else(|p| p.into_inner()).insert(consumer.to_owned(), state);
    }
}

/// One stream entry as read: its id and fields (`None` when deleted while pending).
struct Entry {
    id: String,
    fields: Option<Vec<(Vec<u8>, Vec<u8>)>>,
}

impl Entry {
    fn envelope(&self) -> Result<Envelope, String> {
        let fields = self.fields.as_ref().ok_or("the entry was deleted")?;
        let (_, raw) = fields.iter().find(|(k, _)| k == ENVELOPE_FIELD.as_bytes()).ok_or("no envelope field")?;
        serde_json::from_slice(raw).map_err(|e| e.to_string())
    }
}

/// Parses an `XREADGROUP` reply (RESP2 arrays or RESP3 maps).
fn parse_read_reply(reply: Value) -> Result<Vec<Entry>, BusError> {
    let malformed = |what: &str| BusError::Malformed(format!("XREADGROUP reply: {what}"));
    let streams: Vec<Value> = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .map(|stream| match stream {
                Value::Array(pair) => <[Value; 2]>::try_from(pair)
                    .map(|[_name, entries]| entries)
                    .map_err(|_| malformed("stream is not [name, entries]")),
                _ => Err(malformed("stream is not an array")),
            })
            .collect::<Result<_, _>>()?,
        Value::Map(streams) => streams.into_iter().map(|(_name, entries)| entries).collect(),
        _ => return Err(malformed("not an array")),
    };
    let mut out = Vec::new();
    for entries in streams {
        out.extend(parse_entries(entries)?);
    }
    Ok(out)
}

/// Parses stream entries (`[[id, fields], ...]`, as in `XREADGROUP` and `XCLAIM` replies);
/// `XCLAIM` answers nil for an entry deleted meanwhile, which is skipped.
fn parse_entries(entries: Value) -> Result<Vec<Entry>, BusError> {
    let malformed = |what: &str| BusError::Malformed(format!("stream entries: {what}"));
    let mut out = Vec::new();
    {
        let Value::Array(entries) = entries else { return Err(malformed("entries are not an array")) };
        for entry in entries {
            if entry == Value::Nil {
                continue;
            }
            let Value::Array(parts) = entry else { return Err(malformed("entry is not an array")) };
            let [id, fields] = <[Value; 2]>::try_from(parts).map_err(|_| malformed("entry is not [id, fields]"))?;
            let id = bytes(id).and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| malformed("entry id"))?;
            let pairs: Option<Vec<(Value, Value)>> = match fields {
                Value::Nil => None,
                Value::Array(flat) => {
                    if flat.len() % 2 != 0 {
                        return Err(malformed("odd number of field names and values"));
                    }
                    let mut it = flat.into_iter();
                    Some(std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect())
                }
                Value::Map(map) => Some(map),
                _ => return Err(malformed("fields are not an array")),
            };
            let fields = match pairs {
                None => None,
                Some(pairs) => Some(
                    pairs
                        .into_iter()
                        .map(|(k, v)| Some((bytes(k)?, bytes(v)?)))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| malformed("field"))?,
                ),
            };
            out.push(Entry { id, fields });
        }
    }
    Ok(out)
}

fn bytes(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        _ => None,
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn push_command(&self, envelope: &Envelope) -> Result<(), BusError> {
        let json = serde_json::to_string(envelope).map_err(|e| BusError::Malformed(e.to_string()))?;
        // Acknowledged commands are deleted (see `ack_command`), so the stream's length is
        // what waits: checked and appended in one script, nothing is ever trimmed.
        let added: Option<String> = redis::Script::new(PUSH_BOUNDED)
            .key(self.keys.commands_stream())
            .arg(COMMAND_QUEUE_MAX_LEN)
            .arg(ENVELOPE_FIELD)
            .arg(json)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        match added {
            Some(_) => Ok(()),
            None => Err(BusError::QueueFull { max: COMMAND_QUEUE_MAX_LEN }),
        }
    }

    async fn read_commands(&self, consumer: &str, max: usize, block: Duration) -> Result<Vec<Delivery>, BusError> {
        let max = max.max(1);
        // First this consumer's pending entries (a previous process's unacknowledged
        // reads), paged by id without blocking; then new entries.
        while let Recovery::After(after) = self.recovery(consumer) {
            let entries = self.read_entries(consumer, max, None, &after).await?;
            let Some(last) = entries.last().map(|e| e.id.clone()) else {
                self.set_recovery(consumer, Recovery::Done);
                break;
            };
            self.set_recovery(consumer, Recovery::After(last));
            let deliveries = self.deliveries(entries).await?;
            if !deliveries.is_empty() {
                return Ok(deliveries);
            }
        }
        let claimed = self.deliveries(self.claim_abandoned(consumer, max).await?).await?;
        if let Err(e) = self.forget_idle_consumers(consumer).await {
            tracing::debug!(error = %e, "could not forget idle consumers; trying again later");
        }
        if !claimed.is_empty() {
            return Ok(claimed);
        }
        let block = (!block.is_zero()).then_some(block);
        match self.read_entries(consumer, max, block, ">").await {
            Ok(entries) => self.deliveries(entries).await,
            Err(e) => {
                // Redis may have handed out entries in a reply that never arrived; they
                // sit in this consumer's pending list, so look there again next time.
                self.set_recovery(consumer, Recovery::After("0".into()));
                Err(e)
            }
        }
    }

    async fn ack_command(&self, delivery_id: &str) -> Result<(), BusError> {
        parse_delivery_id(delivery_id)?;
        let stream = self.keys.commands_stream();
        let acked = redis::pipe()
            .atomic()
            .cmd("XACK")
            .arg(&stream)
            .arg(self.keys.commands_group())
            .arg(delivery_id)
            .ignore()
            .cmd("XDEL")
            .arg(&stream)
            .arg(delivery_id)
            .ignore()
            .query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(unavailable);
        if acked.is_ok() {
            self.handed_out.lock().unwrap_or_else(|p| p.into_inner()).remove(delivery_id);
        }
        acked
    }

    async fn publish(&self, instance_id: &str, envelope: &Envelope) -> Result<(), BusError> {
        self.publish_counted(instance_id, envelope).await.map(|_| ())
    }

    async fn publish_reply(&self, instance_id: &str, envelope: &Envelope) -> Result<(), BusError> {
        let deadline = tokio::time::Instant::now() + REPLY_GRACE;
        // PUBLISH answers how many subscribers got the message: none means the requester's
        // subscription is between connections (it resubscribes within RESUBSCRIBE_MAX_BACKOFF).
        while self.publish_counted(instance_id, envelope).await? == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await; // the subscriber's reconnection has no event to wait on
        }
        Ok(())
    }

    async fn subscribe(&self, instance_id: &str) -> Result<Subscription, BusError> {
        let (tx, rx) = mpsc::channel(SUBSCRIPTION_CAPACITY);
        let (ready_tx, ready_rx) = oneshot::channel();
        let channel = self.keys.instance_channel(instance_id);
        tokio::spawn(run_subscription(self.client.clone(), channel, tx, ready_tx));
        match ready_rx.await {
            Ok(Ok(())) => Ok(rx),
            Ok(Err(e)) => Err(unavailable(e)),
            Err(_) => Err(BusError::Closed),
        }
    }
}

impl RedisBus {
    /// PUBLISH, answering how many subscribers received it.
    async fn publish_counted(&self, instance_id: &str, envelope: &Envelope) -> Result<i64, BusError> {
        let json = serde_json::to_string(envelope).map_err(|e| BusError::Malformed(e.to_string()))?;
        redis::cmd("PUBLISH")
            .arg(self.keys.instance_channel(instance_id))
            .arg(json)
            .query_async::<i64>(&mut self.conn.clone())
            .await
            .map_err(unavailable)
    }
}

async fn subscribe_once(client: &Client, channel: &str) -> Result<redis::aio::PubSub, RedisError> {
    let attempt = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok(pubsub)
    };
    tokio::time::timeout(SUBSCRIBE_TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| Err(RedisError::from((redis::ErrorKind::Io, "SUBSCRIBE did not complete in time"))))
}

/// Forwards `channel` to `tx` until the receiver is dropped, resubscribing after every
/// connection loss. The first attempt's outcome goes to `ready`, so `subscribe` returns
/// only once messages published from then on are received.
async fn run_subscription(
    client: Client,
    channel: String,
    tx: mpsc::Sender<Envelope>,
    ready: oneshot::Sender<Result<(), RedisError>>,
) {
    let mut ready = Some(ready);
    let mut backoff = Duration::from_millis(50);
    loop {
        match subscribe_once(&client, &channel).await {
            Ok(pubsub) => {
                if let Some(ready) = ready.take() {
                    if ready.send(Ok(())).is_err() {
                        return;
                    }
                } else {
                    tracing::info!(%channel, "resubscribed");
                }
                backoff = Duration::from_millis(50);
                let mut messages = pubsub.into_on_message();
                loop {
                    tokio::select! {
                        msg = messages.next() => {
                            let Some(msg) = msg else { break };
                            match serde_json::from_slice::<Envelope>(msg.get_payload_bytes()) {
                                Ok(env) => {
                                    if tx.send(env).await.is_err() {
                                        return;
                                    }
                                }
                                Err(e) => tracing::warn!(%channel, error = %e, "dropping a malformed envelope"),
                            }
                        }
                        () = tx.closed() => return,
                    }
                }
                tracing::warn!(%channel, "lost the pub/sub connection; resubscribing");
            }
            Err(e) => {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Err(e)); // the caller may have given up
                    return;
                }
                tracing::debug!(%channel, error = %e, ?backoff, "resubscribe failed; retrying");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = tx.closed() => return,
                }
                backoff = (backoff * 2).min(RESUBSCRIBE_MAX_BACKOFF);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn a_resp2_reply_with_a_deleted_entry_parses() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("camview:commands"),
            Value::Array(vec![
                Value::Array(vec![bulk("1-0"), Value::Array(vec![bulk(ENVELOPE_FIELD), bulk("{}")])]),
                Value::Array(vec![bulk("2-0"), Value::Nil]),
            ]),
        ])]);
        let entries = parse_read_reply(reply).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].id, "1-0");
        assert_eq!(entries[0].fields, Some(vec![(b"envelope".to_vec(), b"{}".to_vec())]));
        assert_eq!(entries[1].fields, None);
        assert!(entries[1].envelope().is_err());
    }

    #[test]
    fn a_resp3_reply_parses() {
        let reply = Value::Map(vec![(
            bulk("s"),
            Value::Array(vec![Value::Array(vec![bulk("1-0"), Value::Map(vec![(bulk("k"), bulk("v"))])])]),
        )]);
        let entries = parse_read_reply(reply).unwrap();
        assert_eq!(entries[0].fields, Some(vec![(b"k".to_vec(), b"v".to_vec())]));
    }

    #[test]
    fn a_timed_out_read_is_empty_and_junk_is_malformed_not_a_panic() {
        assert!(parse_read_reply(Value::Nil).unwrap().is_empty());
        for junk in [
            Value::Int(3),
            Value::Array(vec![Value::Int(1)]),
            Value::Array(vec![Value::Array(vec![bulk("s"), Value::Array(vec![Value::Array(vec![bulk("1-0")])])])]),
        ] {
            assert!(matches!(parse_read_reply(junk), Err(BusError::Malformed(_))));
        }
    }
}
