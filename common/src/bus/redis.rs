//! Redis bus: to be written.

/// Placeholder until the Redis implementation lands.
pub struct RedisBus;
