//! Integration tests: a real camera on loopback, real UDP, real OpenH264 decoding.

mod camera;
mod keepalive;
mod support;
