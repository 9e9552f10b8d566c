//! Polls the Kurento servers of `KURENTO_NODES` and writes their node heartbeats (an engine
//! writes its own). One task per server, each with its own reconnecting JSON-RPC client; every
//! period, while connected: `getUsedCpu`, `getPipelines` and `getChildren` of each pipeline (to
//! count WebRtcEndpoints), then the record. A server that does not answer gets no heartbeat, so
//! its record lapses after its TTL.
//!
//! Every controller instance polls (leader or standby): the records say the same whoever
//! writes them, and a heartbeat is not fenced.

use std::sync::Arc;
use std::time::Duration;

use camview_common::clock::now_rfc3339;
use camview_common::MediaNodes;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::nodes::{kurento_record, KurentoNode, KurentoPoll};
use super::MediaError;
use crate::kurento::{ClientConfig, KurentoClient, LinkState, ServerManager, SERVER_MANAGER_ID};

/// A record lives this many poll periods.
pub const TTL_PERIODS: u32 = 3;
/// Longest `getUsedCpu` interval asked for (Kurento measures over it before answering).
const MAX_CPU_INTERVAL: Duration = Duration::from_millis(500);

/// Starts one poller per node; they stop when `stop` turns true.
pub fn spawn_node_pollers(
    nodes: &[KurentoNode],
    period: Duration,
    registry: Arc<dyn MediaNodes>,
    stop: &watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    nodes.iter().map(|node| tokio::spawn(run_poller(node.clone(), period, registry.clone(), stop.clone()))).collect()
}

async fn run_poller(
    node: KurentoNode,
    period: Duration,
    registry: Arc<dyn MediaNodes>,
    mut stop: watch::Receiver<bool>,
) {
    let mut config = ClientConfig::new(node.rpc_url.clone());
    config.timing.request_timeout = period;
    let client = KurentoClient::start(config);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failing = false;
    tracing::info!(node_id = %node.node_id, url = %node.rpc_url, "polling a Kurento node");
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break,
            _ = tick.tick() => {}
        }
        let outcome = match client.connection_state() {
            LinkState::Connected { .. } => match poll(&client, period).await {
                Ok(found) => registry
                    .put_node(&kurento_record(&node, found, now_rfc3339()), period * TTL_PERIODS)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            state => Err(format!("not connected ({state:?})")),
        };
        match outcome {
            Ok(()) if failing => {
                failing = false;
                tracing::info!(node_id = %node.node_id, "Kurento node polled again");
            }
            Ok(()) => {}
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(node_id = %node.node_id, %error, "cannot poll the Kurento node; its record lapses unless it answers");
            }
            Err(_) => {}
        }
    }
    client.shutdown();
}

/// One poll of a server's `ServerManager`.
pub async fn poll(client: &KurentoClient, period: Duration) -> Result<KurentoPoll, MediaError> {
    let manager = ServerManager::attach(client, SERVER_MANAGER_ID);
    let interval = i32::try_from((period / 2).min(MAX_CPU_INTERVAL).as_millis()).unwrap_or(500);
    let cpu_percent = manager.get_used_cpu(interval).await?;
    let pipelines = manager.get_pipelines().await?;
    let mut webrtc_endpoints = 0u32;
    for pipeline in &pipelines {
        match pipeline.get_children().await.map_err(MediaError::from) {
            Ok(children) => {
                let viewers = children.iter().filter(|c| c.id().ends_with("_kurento.WebRtcEndpoint")).count();
                webrtc_endpoints = webrtc_endpoints.saturating_add(u32::try_from(viewers).unwrap_or(u32::MAX));
            }
            // Released since it was listed: no longer load.
            Err(MediaError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(KurentoPoll { pipelines: u32::try_from(pipelines.len()).unwrap_or(u32::MAX), webrtc_endpoints, cpu_percent })
}
