//! [`MediaServer`] over a pool of media nodes (`MEDIA_NODES=registry`): one [`KurentoMedia`]
//! per node, connected the first time the node is needed (or by a discovery refresh) and kept.
//!
//! Routing: a stream is created on the node its [`StreamSpec`] names; afterwards every call is
//! routed by object id. Kurento ids of elements are `<pipeline_id>/<element>`, so the pool keeps
//! `pipeline_id -> node_id`, filled when a stream is created or adopted (from the stream's
//! node) and when an inventory lists a node's pipelines. Calls that carry a [`MediaStream`]
//! (viewers, taps, a camera endpoint's replacement) go to the stream's node directly.
//!
//! Events of every node go to one channel (each node's [`KurentoMedia`] sends into it); `Connected` and `Disconnected` name their
//! node, so a node's reconnect re-adopts that node's streams alone. Health: connected while at
//! least one node is. Nodes are found in the registry's node records ([`MediaNodes`]).
//!
//! Locks guard maps only: no I/O runs under them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use camview_common::MediaNodes;
use camview_proto::stream::IceCandidate;
use tokio::sync::broadcast;

use super::kurento_media::KurentoMedia;
use super::media::{
    IceSettings, MediaError, MediaEvent, MediaServer, MediaStream, MediaViewer, PipelineInventory, StreamSpec,
};
use crate::kurento::{ClientConfig, KurentoClient, LinkState};
use crate::metrics::RpcMetrics;

/// The media server of a controller placing streams on several nodes.
pub struct MediaPool {
    /// Where node records are read (the rpc URL of a node not connected yet).
    directory: Arc<dyn MediaNodes>,
    /// Client settings of every node connection (its URL replaced by the node's).
    client: ClientConfig,
    metrics: Option<RpcMetrics>,
    /// The owner tag of this deployment's pipelines (the Redis key prefix).
    owner: String,
    /// Connected (or connecting) nodes by id.
    nodes: Mutex<HashMap<String, Arc<KurentoMedia>>>,
    /// Pipeline id -> the node holding it.
    pipelines: Mutex<HashMap<String, String>>,
    events: broadcast::Sender<MediaEvent>,
}

/// The pipeline part of a Kurento object id (`<pipeline>/<element>`, or the pipeline itself).
fn pipeline_of(object_id: &str) -> &str {
    object_id.split_once('/').map_or(object_id, |(pipeline, _)| pipeline)
}

impl MediaPool {
    /// A pool finding its nodes in `directory`, connecting to each with `client`'s timing.
    pub fn new(
        directory: Arc<dyn MediaNodes>,
        client: ClientConfig,
        metrics: Option<RpcMetrics>,
        owner: impl Into<String>,
    ) -> Arc<Self> {
        let (events, _) = broadcast::channel(4096);
        Arc::new(Self {
            directory,
            client,
            metrics,
            owner: owner.into(),
            nodes: Mutex::default(),
            pipelines: Mutex::default(),
            events,
        })
    }

    /// The node connection for `node_id`, made on first use from its registry record.
    async fn node(&self, node_id: &str) -> Result<Arc<KurentoMedia>, MediaError> {
        if let Some(node) = self.nodes.lock().expect("pool nodes poisoned").get(node_id) {
            return Ok(node.clone());
        }
        let record = self
            .directory
            .get_node(node_id)
            .await
            .map_err(|e| MediaError::Unavailable(format!("reading media node {node_id}: {e}")))?
            .ok_or_else(|| MediaError::Unavailable(format!("media node {node_id} has no live heartbeat")))?;
        Ok(self.connect(node_id, &record.rpc_url))
    }

    /// The node's connection, started now (in the background) unless it exists.
    fn connect(&self, node_id: &str, rpc_url: &str) -> Arc<KurentoMedia> {
        let mut nodes = self.nodes.lock().expect("pool nodes poisoned");
        if let Some(node) = nodes.get(node_id) {
            return node.clone();
        }
        let mut config = self.client.clone();
        config.url = rpc_url.to_owned();
        let client = match &self.metrics {
            Some(m) => KurentoClient::start_with_metrics(config, m.clone()),
            None => KurentoClient::start(config),
        };
        let media = KurentoMedia::node(client, self.owner.clone(), node_id.to_owned(), self.events.clone());
        tracing::info!(node_id, url = rpc_url, "connecting to a media node");
        nodes.insert(node_id.to_owned(), media.clone());
        media
    }

    /// The node a stream's calls go to, waiting for its first connection for up to one request
    /// timeout (a node that never answers fails the call as unavailable).
    async fn connected(&self, node_id: &str) -> Result<Arc<KurentoMedia>, MediaError> {
        let node = self.node(node_id).await?;
        if matches!(node.client().connection_state(), LinkState::Connecting) {
            node.client()
                .wait_connected(self.client.connect_timeout + self.client.timing.request_timeout)
                .await
                .map_err(|e| MediaError::Unavailable(format!("media node {node_id}: {e}")))?;
        }
        Ok(node)
    }

    /// The node of a stream: the one it names, else the one its pipeline was seen on.
    fn node_of_stream(&self, stream: &MediaStream) -> Option<String> {
        stream.node_id.clone().or_else(|| self.node_id_of(&stream.pipeline_id))
    }

    /// The node holding a (known) object.
    fn node_id_of(&self, object_id: &str) -> Option<String> {
        self.pipelines.lock().expect("pool pipelines poisoned").get(pipeline_of(object_id)).cloned()
    }

    fn remember(&self, pipeline_id: &str, node_id: &str) {
        self.pipelines.lock().expect("pool pipelines poisoned").insert(pipeline_id.to_owned(), node_id.to_owned());
    }

    /// The node holding `object_id`, connected.
    async fn route(&self, object_id: &str) -> Result<Arc<KurentoMedia>, MediaError> {
        let node_id = self
            .node_id_of(object_id)
            .ok_or_else(|| MediaError::NotFound(format!("{object_id} is on no media node this pool knows")))?;
        self.connected(&node_id).await
    }

    async fn route_stream(&self, stream: &MediaStream) -> Result<Arc<KurentoMedia>, MediaError> {
        let node_id = self.node_of_stream(stream).ok_or_else(|| {
            MediaError::NotFound(format!("{} is on no media node this pool knows", stream.pipeline_id))
        })?;
        let node = self.connected(&node_id).await?;
        self.remember(&stream.pipeline_id, &node_id);
        Ok(node)
    }

    /// Connects to every node with a live heartbeat not connected yet (a discovery refresh);
    /// how many connections it started.
    pub async fn refresh(&self) -> Result<usize, MediaError> {
        let nodes = self.directory.list_nodes().await.map_err(|e| MediaError::Unavailable(e.to_string()))?;
        let known = self.node_ids();
        let new: Vec<_> = nodes.iter().filter(|n| !known.contains(&n.node_id)).collect();
        for node in &new {
            self.connect(&node.node_id, &node.rpc_url);
        }
        Ok(new.len())
    }

    /// Ids of the nodes connected or connecting.
    pub fn node_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.nodes.lock().expect("pool nodes poisoned").keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Closes every node connection.
    pub fn shutdown(&self) {
        let nodes: Vec<_> = self.nodes.lock().expect("pool nodes poisoned").values().cloned().collect();
        for node in nodes {
            node.client().shutdown();
        }
    }
}

#[async_trait]
impl MediaServer for MediaPool {
    async fn create_stream(&self, spec: &StreamSpec) -> Result<MediaStream, MediaError> {
        let node_id = spec
            .node_id
            .as_deref()
            .ok_or_else(|| MediaError::Unavailable("no media node was chosen for the stream".into()))?;
        let node = self.connected(node_id).await?;
        let mut stream = node.create_stream(spec).await?;
        stream.node_id = Some(node_id.to_owned());
        self.remember(&stream.pipeline_id, node_id);
        Ok(stream)
    }

    async fn create_viewer(
        &self,
        stream: &MediaStream,
        offer: &str,
        ice: &IceSettings,
    ) -> Result<MediaViewer, MediaError> {
        self.route_stream(stream).await?.create_viewer(stream, offer, ice).await
    }

    async fn replace_camera_endpoint(
        &self,
        stream: &MediaStream,
        spec: &StreamSpec,
        viewer_endpoints: &[String],
    ) -> Result<MediaStream, MediaError> {
        let node_id = self.node_of_stream(stream);
        let mut new = self.route_stream(stream).await?.replace_camera_endpoint(stream, spec, viewer_endpoints).await?;
        new.node_id = node_id;
        Ok(new)
    }

    async fn is_camera_flowing(&self, element_id: &str) -> Result<bool, MediaError> {
        self.route(element_id).await?.is_camera_flowing(element_id).await
    }

    async fn play(&self, element_id: &str) -> Result<(), MediaError> {
        self.route(element_id).await?.play(element_id).await
    }

    async fn gather_candidates(&self, endpoint_id: &str) -> Result<(), MediaError> {
        self.route(endpoint_id).await?.gather_candidates(endpoint_id).await
    }

    async fn add_ice_candidate(&self, endpoint_id: &str, candidate: &IceCandidate) -> Result<(), MediaError> {
        self.route(endpoint_id).await?.add_ice_candidate(endpoint_id, candidate).await
    }

    async fn release(&self, object_id: &str) -> Result<(), MediaError> {
        let node = match self.route(object_id).await {
            Ok(node) => node,
            // Nothing this pool knows of: nothing to release here.
            Err(MediaError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        node.release(object_id).await?;
        if pipeline_of(object_id) == object_id {
            self.pipelines.lock().expect("pool pipelines poisoned").remove(object_id);
        }
        Ok(())
    }

    async fn adopt_stream(&self, stream: &MediaStream) -> Result<bool, MediaError> {
        // A stream of no node (recorded by a single-server controller) cannot be found: it is
        // created again, on a placed node.
        if self.node_of_stream(stream).is_none() {
            return Ok(false);
        }
        self.route_stream(stream).await?.adopt_stream(stream).await
    }

    async fn adopt_viewer(&self, endpoint_id: &str) -> Result<bool, MediaError> {
        match self.route(endpoint_id).await {
            Ok(node) => node.adopt_viewer(endpoint_id).await,
            Err(MediaError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn inventory(&self) -> Result<Vec<PipelineInventory>, MediaError> {
        let nodes: Vec<(String, Arc<KurentoMedia>)> =
            self.nodes.lock().expect("pool nodes poisoned").iter().map(|(id, n)| (id.clone(), n.clone())).collect();
        let mut all = Vec::new();
        for (node_id, node) in nodes {
            if !node.is_connected() {
                // Its objects are listed once it is back (its reconnect reconciles it).
                tracing::debug!(node_id, "media node not connected; left out of the inventory");
                continue;
            }
            let found = node.inventory().await?;
            for pipeline in &found {
                self.remember(&pipeline.pipeline_id, &node_id);
            }
            all.extend(found);
        }
        Ok(all)
    }

    async fn create_tap(&self, stream: &MediaStream, offer: &str) -> Result<MediaViewer, MediaError> {
        self.route_stream(stream).await?.create_tap(stream, offer).await
    }

    fn events(&self) -> broadcast::Receiver<MediaEvent> {
        self.events.subscribe()
    }

    fn is_connected(&self) -> bool {
        self.nodes.lock().expect("pool nodes poisoned").values().any(|n| n.is_connected())
    }
}

/// How long a pool waits between discovery refreshes by default (`MEDIA_NODES_REFRESH_MS`).
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(2);

#[cfg(test)]
#[path = "media_pool_tests.rs"]
mod tests;
