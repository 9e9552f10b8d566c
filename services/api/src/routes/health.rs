//! `/health`: the original system's health report, degraded with 503 when something is wrong.

use std::time::Duration;

use actix_web::{web, HttpResponse};
use camview_common::clock::parse_rfc3339;
use camview_proto::rest::{HealthResponse, HealthStatus};
use camview_proto::stream::ControllerHeartbeat;
use serde::Serialize;

use crate::security::MaybeAuthenticated;
use crate::startup::AppState;

/// Longest a health check waits for the registry.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/health` answers: the full report to an admin, the status to anyone else.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum HealthBody {
    Full(HealthResponse),
    StatusOnly(HealthStatus),
}

/// `GET /health`: 200 `healthy`, or 503 `degraded`. Anonymous callers see only `status`;
/// an admin's token shows the full report (counts and `problems`).
#[utoipa::path(
    get,
    path = "/health",
    responses(
        (status = 200, description = "`healthy` (the full report to an admin, the status to others)", body = HealthBody),
        (status = 503, description = "`degraded` (the full report with its problems to an admin)", body = HealthBody),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn health(state: web::Data<AppState>, who: MaybeAuthenticated) -> HttpResponse {
    let report = match tokio::time::timeout(HEALTH_TIMEOUT, check(&state)).await {
        Ok(report) => report,
        Err(_) => degraded(vec![format!("the registry did not answer within {} ms", HEALTH_TIMEOUT.as_millis())]),
    };
    let mut response = if report.problems.is_empty() {
        HttpResponse::Ok()
    } else {
        tracing::debug!(problems = ?report.problems, "degraded");
        HttpResponse::ServiceUnavailable()
    };
    if who.0.is_some_and(|p| p.is_admin()) {
        response.json(HealthBody::Full(report))
    } else {
        response.json(HealthBody::StatusOnly(HealthStatus { status: report.status }))
    }
}

fn degraded(problems: Vec<String>) -> HealthResponse {
    HealthResponse {
        status: "degraded".into(),
        kurento_connected: false,
        active_streams: 0,
        total_viewers: 0,
        problems,
    }
}

async fn check(state: &AppState) -> HealthResponse {
    let registry = state.registry.as_ref();
    if let Err(e) = registry.ping().await {
        tracing::warn!(error = %e, "registry ping failed");
        return degraded(vec!["the registry is unreachable".into()]);
    }
    let mut problems = Vec::new();
    let active_streams = match registry.list_streams().await {
        Ok(s) => s.len() as u64,
        Err(e) => {
            tracing::warn!(error = %e, "listing streams failed");
            problems.push("the registry failed to list streams".into());
            0
        }
    };
    let total_viewers = match registry.list_viewers(None).await {
        Ok(v) => v.len() as u64,
        Err(e) => {
            tracing::warn!(error = %e, "listing viewers failed");
            problems.push("the registry failed to list viewers".into());
            0
        }
    };
    let heartbeat = match registry.get_controller_heartbeat().await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(error = %e, "reading the controller heartbeat failed");
            None
        }
    };
    let now = time::OffsetDateTime::now_utc();
    let kurento_connected = match controller_problem(heartbeat.as_ref(), now, state.controller_heartbeat_max_age) {
        Some(problem) => {
            problems.push(problem);
            false
        }
        None => true,
    };
    let status = if problems.is_empty() { "healthy" } else { "degraded" };
    HealthResponse { status: status.into(), kurento_connected, active_streams, total_viewers, problems }
}

/// What is wrong with the media-controller as its heartbeat tells, if anything.
fn controller_problem(
    heartbeat: Option<&ControllerHeartbeat>,
    now: time::OffsetDateTime,
    max_age: Duration,
) -> Option<String> {
    let Some(hb) = heartbeat else {
        return Some("no media-controller heartbeat: the media-controller is not running".into());
    };
    match parse_rfc3339(&hb.at) {
        Some(at) if (now - at).whole_milliseconds() > max_age.as_millis() as i128 => {
            Some(format!("the media-controller heartbeat is older than {} s", max_age.as_secs()))
        }
        None => Some("the media-controller heartbeat has no valid time".into()),
        Some(_) if !hb.kurento_connected => Some("the media-controller is not connected to the media server".into()),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::format_description::well_known::Rfc3339;

    fn hb(at: time::OffsetDateTime, kurento_connected: bool) -> ControllerHeartbeat {
        ControllerHeartbeat { instance_id: "mc-1".into(), kurento_connected, at: at.format(&Rfc3339).unwrap() }
    }

    #[test]
    fn a_fresh_connected_heartbeat_is_healthy() {
        let now = time::OffsetDateTime::now_utc();
        assert_eq!(controller_problem(Some(&hb(now, true)), now, Duration::from_secs(15)), None);
    }

    #[test]
    fn a_missing_stale_or_disconnected_heartbeat_is_a_problem() {
        let now = time::OffsetDateTime::now_utc();
        let max = Duration::from_secs(15);
        assert!(controller_problem(None, now, max).unwrap().contains("not running"));
        assert!(controller_problem(Some(&hb(now - time::Duration::seconds(16), true)), now, max)
            .unwrap()
            .contains("older than 15 s"));
        assert!(controller_problem(Some(&hb(now, false)), now, max).unwrap().contains("not connected"));
        let bad = ControllerHeartbeat { instance_id: "mc".into(), kurento_connected: true, at: "yesterday".into() };
        assert!(controller_problem(Some(&bad), now, max).is_some());
    }
}
