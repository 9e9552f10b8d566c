//! What a contract case needs from an implementation: handles on one shared state.

use std::sync::Arc;

use async_trait::async_trait;
use camview_common::bus::MemoryBus;
use camview_common::registry::MemoryRegistry;
use camview_common::{Bus, Registry};

/// One deployment's shared state, reached through as many handles as a case asks for.
#[async_trait]
pub trait Backend: Send + Sync {
    /// A registry handle (for Redis, a new connection).
    async fn registry(&self) -> Arc<dyn Registry>;
    /// A bus handle that behaves like a freshly (re)started process.
    async fn bus(&self) -> Arc<dyn Bus>;
}

pub struct Memory {
    registry: Arc<MemoryRegistry>,
    bus: MemoryBus,
}

impl Memory {
    pub fn new() -> Self {
        Self { registry: Arc::new(MemoryRegistry::new()), bus: MemoryBus::new() }
    }
}

#[async_trait]
impl Backend for Memory {
    async fn registry(&self) -> Arc<dyn Registry> {
        self.registry.clone()
    }

    async fn bus(&self) -> Arc<dyn Bus> {
        Arc::new(self.bus.reopen())
    }
}
