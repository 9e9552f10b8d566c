//! Redis registry: to be written.

/// Placeholder until the Redis implementation lands.
pub struct RedisRegistry;
