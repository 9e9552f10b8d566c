//! What a contract case needs from an implementation: handles on one shared state.

use std::sync::Arc;

use async_trait::async_trait;
use camview_common::bus::{MemoryBus, RedisBus};
use camview_common::redis_client::{self, RedisTls};
use camview_common::registry::{MemoryRegistry, RedisRegistry};
use camview_common::testing::{random_keys, RedisServer};
use camview_common::{Bus, Registry};
use camview_proto::keys::Keys;

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

/// A real redis-server shared by the test binary, under a prefix of this test's own.
pub struct Redis {
    url: String,
    keys: Keys,
    tls: Option<RedisTls>,
}

impl Redis {
    pub fn new() -> Self {
        Self { url: RedisServer::shared().url(), keys: random_keys(), tls: None }
    }

    /// The TLS-only server shared by the test binary, trusting its test CA.
    pub fn tls() -> Self {
        let shared = crate::tls::SharedTlsServer::get();
        Self { url: shared.server.url(), keys: random_keys(), tls: Some(shared.trust.clone()) }
    }

    fn client(&self) -> redis::Client {
        redis_client::client(&self.url, self.tls.as_ref()).expect("a client for the test server")
    }
}

#[async_trait]
impl Backend for Redis {
    async fn registry(&self) -> Arc<dyn Registry> {
        Arc::new(RedisRegistry::with_client(self.client(), self.keys.clone()).await.expect("connect the registry"))
    }

    async fn bus(&self) -> Arc<dyn Bus> {
        Arc::new(RedisBus::with_client(self.client(), self.keys.clone()).await.expect("connect the bus"))
    }
}
