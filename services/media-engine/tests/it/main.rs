//! Integration tests of the media engine over a real WebSocket and real UDP.

mod codecs;
mod faults;
mod fuzz;
mod helpers;
mod join;
mod media;
mod metrics;
mod negotiate;
mod node;
mod player;
mod rpc;
mod rtp_sink;
mod source_latch;
