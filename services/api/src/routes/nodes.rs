//! `/nodes`: the live media nodes and their load (admin), as their heartbeats left them in the
//! registry. The JSON-RPC URL of each node is left out: it is a control endpoint.

use actix_web::{web, HttpResponse};
use camview_proto::node::{NodeList, NodeView};

use crate::error::ApiError;
use crate::security::Admin;
use crate::startup::AppState;

/// `GET /nodes`: every media node whose heartbeat is live, sorted by id.
#[utoipa::path(
    get,
    path = "/nodes",
    responses((status = 200, description = "The live media nodes (no JSON-RPC URLs)", body = NodeList))
)]
#[tracing::instrument(skip_all)]
pub async fn list_nodes(state: web::Data<AppState>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let nodes: Vec<NodeView> = state.registry.list_nodes().await?.iter().map(NodeView::from).collect();
    Ok(HttpResponse::Ok().json(NodeList { count: nodes.len(), nodes }))
}
