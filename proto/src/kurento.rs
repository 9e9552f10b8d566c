//! Kurento JSON-RPC 2.0 wire types, shared by the media-engine (server) and the
//! media-controller (client). Filled in by the media-engine and media-controller work.
