//! Test support (feature `test-support`, never in release builds): magic inputs that make the
//! engine panic at chosen places, to prove that a panic is contained there.

/// A datagram routed to a viewer that contains these bytes (e.g. as a STUN attribute) panics
/// while that viewer's worker handles it (`media/worker/peer.rs`).
pub const POISON_VIEWER: &[u8] = b"camview-test-panic:viewer";

/// A datagram on a shared WebRTC socket that starts with these bytes panics its reader task
/// (`media/webrtc/router.rs`).
pub const POISON_READER: &[u8] = b"camview-test-panic:reader";

/// A browser offer containing this text panics `processOffer` under the RPC core lock and the
/// endpoint's negotiation lock (`media/webrtc/offer.rs`).
pub const POISON_OFFER: &str = "camview-test-panic:offer";
