//! Integration tests of camview-api: the real app on port 0, a real Redis, and a
//! stand-in media-controller on the real bus.

mod access;
mod attacker;
mod bad_input;
mod binary;
mod config_js;
mod health;
mod helpers;
mod in_process;
mod keepalive;
mod misc;
mod nodes;
mod openapi;
mod responder;
mod snapshots;
mod streams;
mod tls;
mod viewers;
mod whep;
