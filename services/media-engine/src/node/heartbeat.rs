//! The heartbeat loop: every period, read the engine's counters (the core lock held only to
//! count objects), build the record and write it into the registry. Redis being away never
//! touches the media: the loop logs, and connects again at the next period.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use camview_common::clock::now_rfc3339;
use camview_common::registry::{MediaNodes, RedisRegistry, RegistryError};
use camview_proto::keys::Keys;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::{record, Counters, LoadMeter, NodeSettings};
use crate::media::MediaCounters;
use crate::rpc::Core;
use crate::supervise::lock;

/// What the loop reads and where it writes.
pub struct Heartbeat {
    pub settings: NodeSettings,
    pub rpc_url: String,
    pub external_ip: IpAddr,
    pub core: Arc<Mutex<Core>>,
    pub counters: Arc<MediaCounters>,
}

impl Heartbeat {
    fn counters(&self) -> Counters {
        let (streams, viewers) = lock(&self.core).node_counts();
        Counters {
            streams,
            viewers,
            bytes_out: self.counters.rtp_bytes_out.load(std::sync::atomic::Ordering::Relaxed),
            cpu_percent: self.counters.cpu.percent(),
        }
    }

    async fn connect(&self) -> Result<RedisRegistry, RegistryError> {
        let client = self.settings.redis.client().map_err(|e| RegistryError::Unavailable(format!("REDIS_URL: {e}")))?;
        let connecting = RedisRegistry::with_client(client, Keys::new(self.settings.redis.prefix.clone()));
        tokio::time::timeout(self.settings.period, connecting)
            .await
            .map_err(|_| RegistryError::Unavailable("no connection within one heartbeat period".into()))?
    }
}

/// Writes the heartbeat every period until `stop`.
pub async fn run(hb: Arc<Heartbeat>, stop: CancellationToken) {
    let mut registry: Option<RedisRegistry> = None;
    let mut meter = LoadMeter::default();
    let mut tick = tokio::time::interval(hb.settings.period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let load = meter.load(Instant::now(), hb.counters());
        let node = record(&hb.settings, &hb.rpc_url, hb.external_ip, load, now_rfc3339());
        let written = match &registry {
            Some(r) => r.put_node(&node, hb.settings.ttl()).await,
            None => match hb.connect().await {
                Ok(r) => {
                    let written = r.put_node(&node, hb.settings.ttl()).await;
                    registry = Some(r);
                    written
                }
                Err(e) => Err(e),
            },
        };
        match written {
            Ok(()) if failing => {
                failing = false;
                tracing::info!(node_id = %node.node_id, "node heartbeat written again");
            }
            Ok(()) => tracing::trace!(node_id = %node.node_id, ?load, "node heartbeat written"),
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(node_id = %node.node_id, error = %e, "cannot write the node heartbeat; retrying every period");
            }
            Err(_) => {}
        }
    }
}
