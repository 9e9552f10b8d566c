//! Integration tests of the media engine over a real WebSocket and real UDP.

mod faults;
mod fuzz;
mod helpers;
mod join;
mod media;
mod metrics;
mod negotiate;
mod player;
mod rpc;
mod source_latch;
