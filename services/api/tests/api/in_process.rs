//! Single-process mode: the in-process bus and registry behind the same app.

use std::sync::Arc;

use camview_common::bus::memory::MemoryBus;
use camview_common::registry::memory::MemoryRegistry;
use camview_common::{Bus, Registry};

use crate::helpers::{assert_error, file_store, ok_json, spawn_on, Options, TestBackend};

#[tokio::test]
async fn the_in_process_bus_and_registry_serve_start_list_keepalive_and_stop() {
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let app = spawn_on(TestBackend { bus, registry, store: file_store() }, Options::default()).await;

    assert_eq!(ok_json(app.get("/health").await).await["status"], "healthy");
    let started = ok_json(app.start("mem-cam").await).await;
    assert_eq!(started["camera_id"], "mem-cam");
    assert_eq!(ok_json(app.get("/streams").await).await["count"], 1);
    assert!(ok_json(app.post("/cameras/mem-cam/keepalive").await).await["rtp"].is_object());
    ok_json(app.stop("mem-cam").await).await;
    assert_error(app.stop("mem-cam").await, 404, "stream_not_found").await;
}
