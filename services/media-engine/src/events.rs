//! Events raised by media objects, typed. Media code sends them on a channel; only the RPC layer
//! (`rpc/notify.rs`) turns them into Kurento's `onEvent` JSON (event fields plus the envelope:
//! `source`, `tags`, `timestampMillis`, `type`) and routes them to the subscribed sessions.
//! Media code never takes the RPC lock, so there is no lock-order issue.

use std::sync::Arc;

use camview_proto::kurento::KurentoErrorCode;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::Sender;

use crate::supervise::Faults;

pub use crate::rpc::model::{IceComponentState, MediaType};

/// One event of a media object, named as the Kurento event it becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// Kurento `Error`: a failure inside the object.
    Error {
        description: String,
        code: KurentoErrorCode,
    },
    ElementConnected {
        sink: String,
        media_type: MediaType,
    },
    ElementDisconnected {
        sink: String,
        media_type: MediaType,
    },
    MediaSessionStarted,
    /// A PlayerEndpoint's source ended its stream (it reconnects).
    EndOfStream,
    /// Video buffers started (`true`) or stopped arriving.
    MediaFlowInStateChanged {
        flowing: bool,
    },
    /// Video buffers started (`true`) or stopped leaving.
    MediaFlowOutStateChanged {
        flowing: bool,
    },
    /// RTCP from the peer appeared (`true`) or vanished.
    MediaStateChanged {
        connected: bool,
    },
    /// The peer transport came up (`true`) or went down.
    ConnectionStateChanged {
        connected: bool,
    },
    IceComponentStateChanged {
        state: IceComponentState,
    },
    /// A local candidate (`candidate` attribute text) for the media line `sdp_mid`.
    IceCandidateFound {
        candidate: String,
        sdp_mid: String,
    },
    IceGatheringDone,
    NewCandidatePairSelected {
        local_candidate: String,
        remote_candidate: String,
    },
}

impl MediaEvent {
    /// The Kurento event name (what a session subscribes to).
    pub fn name(&self) -> &'static str {
        match self {
            MediaEvent::Error { .. } => "Error",
            MediaEvent::ElementConnected { .. } => "ElementConnected",
            MediaEvent::ElementDisconnected { .. } => "ElementDisconnected",
            MediaEvent::MediaSessionStarted => "MediaSessionStarted",
            MediaEvent::EndOfStream => "EndOfStream",
            MediaEvent::MediaFlowInStateChanged { .. } => "MediaFlowInStateChanged",
            MediaEvent::MediaFlowOutStateChanged { .. } => "MediaFlowOutStateChanged",
            MediaEvent::MediaStateChanged { .. } => "MediaStateChanged",
            MediaEvent::ConnectionStateChanged { .. } => "ConnectionStateChanged",
            MediaEvent::IceComponentStateChanged { .. } => "IceComponentStateChanged",
            MediaEvent::IceCandidateFound { .. } => "IceCandidateFound",
            MediaEvent::IceGatheringDone => "IceGatheringDone",
            MediaEvent::NewCandidatePairSelected { .. } => "NewCandidatePairSelected",
        }
    }
}

/// An event and the id of the object raising it.
#[derive(Debug, Clone)]
pub struct EngineEvent {
    pub object: String,
    pub event: MediaEvent,
}

#[derive(Debug, Clone)]
pub struct EventTx {
    tx: Sender<EngineEvent>,
    faults: Arc<Faults>,
}

impl EventTx {
    /// `tx` is bounded (see `Engine::start_on_with_meter`): when it is full the newest event is
    /// dropped and counted (`queue="events"`).
    pub fn new(tx: Sender<EngineEvent>, faults: Arc<Faults>) -> Self {
        EventTx { tx, faults }
    }

    /// Raises `event` on `object`.
    pub fn emit(&self, object: &str, event: MediaEvent) {
        // The receiver lives as long as the engine; after shutdown events are moot.
        if let Err(TrySendError::Full(_)) = self.tx.try_send(EngineEvent { object: object.to_string(), event }) {
            self.faults.full("events", 1);
        }
    }
}
