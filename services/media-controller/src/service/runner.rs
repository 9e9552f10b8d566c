//! The media-controller's loops: lease, heartbeat, command consumption, media events and
//! the sweep of dead signaling instances. Thin I/O around [`Controller`].
//!
//! Only the lease holder consumes commands; a standby keeps trying to take the lease and
//! starts serving within one lease TTL of the active controller's death. Commands read but
//! not acknowledged by a dead controller are redelivered to the next one (same consumer
//! name), so nothing sent during a failover is lost.

use std::sync::Arc;
use std::time::Duration;

use camview_common::bus::Bus;
use camview_proto::stream::ControllerHeartbeat;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::controller::Controller;
use super::lanes::Lanes;
use super::lease::{LeaseHold, Renewal};
use super::media::MediaEvent;

/// Timing of the loops.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    pub instance_id: String,
    pub lease_ttl: Duration,
    pub heartbeat_every: Duration,
    pub sweep_every: Duration,
    /// How long the registry must have been reachable before dead instances are swept
    /// (the signaling liveness TTL): after an outage, live instances refresh first.
    pub liveness_grace: Duration,
    /// Commands handled at once (different cameras); the reader waits when this many run.
    pub max_in_flight: usize,
}

impl RunnerSettings {
    pub fn new(instance_id: impl Into<String>) -> Self {
        Self {
            instance_id: instance_id.into(),
            lease_ttl: Duration::from_secs(6),
            heartbeat_every: Duration::from_secs(2),
            sweep_every: Duration::from_secs(3),
            liveness_grace: Duration::from_secs(10),
            max_in_flight: 256,
        }
    }
}

/// Runs the controller until `shutdown` turns true; gives the lease up on the way out.
pub async fn run(
    controller: Arc<Controller>,
    bus: Arc<dyn Bus>,
    settings: RunnerSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let registry = controller.registry().clone();
    let (active_tx, active_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();

    // Lease: take it or renew it every third of its TTL (see `LeaseHold`). Its round trip
    // also tells health whether the bus and registry answer.
    {
        let registry = registry.clone();
        let controller = controller.clone();
        let settings = settings.clone();
        let mut shutdown = shutdown.clone();
        tasks.spawn(async move {
            let mut lease = LeaseHold::new(settings.lease_ttl);
            let mut first = true;
            loop {
                let wait = if std::mem::take(&mut first) { Duration::ZERO } else { lease.next_renewal_in() };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => break,
                }
                let started = std::time::Instant::now();
                let attempt = registry.acquire_lease(&settings.instance_id, settings.lease_ttl).await;
                controller.set_bus_reachable(attempt.is_ok());
                let (renewal, term) = match attempt {
                    Ok(Some(term)) => (Renewal::Held, Some(term)),
                    Ok(None) => (Renewal::TakenByAnother, None),
                    Err(_) => (Renewal::Unreachable, None),
                };
                let held = lease.on_renewal(started, renewal, std::time::Instant::now());
                match (held, term, lease.valid_until()) {
                    (true, Some(term), Some(until)) => controller.enter_term(term, until),
                    (true, _, _) => {} // Redis unreachable, the term not over yet
                    // Writes still in flight from the ended term are refused from now on.
                    (false, _, _) => controller.leave_term(),
                }
                controller.metrics().set_leader(held);
                if held != *active_tx.borrow() {
                    tracing::info!(instance = %settings.instance_id, active = held, "controller lease changed");
                    let _ = active_tx.send(held);
                }
            }
            controller.leave_term();
            let _ = registry.release_lease(&settings.instance_id).await;
            controller.metrics().set_leader(false);
        });
    }

    // Heartbeat for /health and the stream gauges, only while active.
    {
        let registry = registry.clone();
        let controller = controller.clone();
        let media = controller.media().clone();
        let settings = settings.clone();
        let active = active_rx.clone();
        let mut shutdown = shutdown.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(settings.heartbeat_every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => break,
                }
                if !*active.borrow() {
                    continue;
                }
                let hb = ControllerHeartbeat {
                    instance_id: settings.instance_id.clone(),
                    kurento_connected: media.is_connected(),
                    at: camview_common::clock::now_rfc3339(),
                };
                if let Err(e) = registry.put_controller_heartbeat(&hb, settings.heartbeat_every * 3).await {
                    tracing::warn!(error = %e, "could not write the heartbeat");
                }
                controller.refresh_gauges().await;
            }
        });
    }

    // Media events, handled only while active (a standby has no objects).
    {
        let controller = controller.clone();
        let mut events = controller.media().events();
        let active = active_rx.clone();
        let mut shutdown = shutdown.clone();
        tasks.spawn(async move {
            loop {
                let event = tokio::select! {
                    e = events.recv() => e,
                    _ = shutdown.changed() => break,
                };
                match event {
                    Ok(event) if *active.borrow() || matches!(event, MediaEvent::Disconnected { .. }) => {
                        let c = controller.clone();
                        tokio::spawn(async move { c.on_media_event(event).await });
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "media events lagged")
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }

    // Sweep dead signaling instances, and move the streams of lost media nodes.
    {
        let controller = controller.clone();
        let active = active_rx.clone();
        let every = settings.sweep_every;
        let grace = settings.liveness_grace;
        let mut shutdown = shutdown.clone();
        tasks.spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => break,
                }
                if *active.borrow() && controller.bus_reachable_for(grace) {
                    if let Err(e) = controller.sweep_dead_instances().await {
                        tracing::warn!(error = %e, "sweep of dead instances failed");
                    }
                    // A node's record lapses three heartbeats after its last one: after a
                    // registry outage longer than that, `grace` lets live nodes write again first.
                    match controller.fail_over_lost_nodes().await {
                        Ok(0) => {}
                        Ok(moved) => tracing::warn!(moved, "streams of lost media nodes moved to live nodes"),
                        Err(e) => tracing::warn!(error = %e, "failover of lost media nodes failed"),
                    }
                }
            }
        });
    }

    // Commands: reconcile when becoming active, then consume.
    let mut active = active_rx;
    'serve: loop {
        // Serve only while the lease is surely ours: after a pause longer than the lease the
        // flag is stale until the lease task runs again.
        while !*active.borrow() || !controller.leads_now() {
            if *shutdown.borrow() {
                break 'serve;
            }
            tokio::select! {
                r = active.changed() => if r.is_err() { break 'serve },
                _ = shutdown.changed() => break 'serve,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        if let Err(e) = controller.reconcile().await {
            tracing::error!(error = %e, "reconciliation failed on taking the lease");
        }
        // No command of this term runs yet: what no record names is left over.
        match controller.release_orphans().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(released = n, "released media objects no registry record named"),
            Err(e) => tracing::error!(error = %e, "could not release orphaned media objects"),
        }
        controller.refresh_gauges().await;
        let metrics = controller.metrics().clone();
        let mut lanes = Lanes::new(settings.max_in_flight, move || metrics.command_dropped("panicked"));
        while *active.borrow() && controller.leads_now() && !*shutdown.borrow() {
            // Each controller reads as its own consumer: what a dead or paused one read and
            // left unacknowledged is taken over by the next reader (`RedisBus` claims it).
            let batch = tokio::select! {
                b = bus.read_commands(&settings.instance_id, 16, Duration::from_millis(500)) => b,
                _ = shutdown.changed() => break,
            };
            match batch {
                Ok(deliveries) => {
                    // One camera's commands in order (a viewer's candidates after its
                    // AddViewer), different cameras in parallel.
                    for d in deliveries {
                        let controller = controller.clone();
                        let bus = bus.clone();
                        let message = d.envelope.message.clone();
                        lanes
                            .push(Controller::lane_of(&message), async move {
                                if !controller.handle(&d.envelope).await {
                                    return; // left pending for the leader
                                }
                                if let Err(e) = bus.ack_command(&d.delivery_id).await {
                                    tracing::warn!(error = %e, "could not acknowledge a command");
                                }
                            })
                            .await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading commands failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        // Commands already started finish (and are acknowledged) before standing by.
        lanes.drain().await;
        if *shutdown.borrow() {
            break;
        }
    }
    // Every loop watches `shutdown`; joining (not aborting) lets the lease be released.
    while tasks.join_next().await.is_some() {}
}
