//! Integration tests of the media engine over a real WebSocket and real UDP.

mod helpers;
mod metrics;
mod rpc;
mod media;
mod negotiate;
mod source_latch;
mod join;
