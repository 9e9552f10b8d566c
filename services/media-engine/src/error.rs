//! The engine's errors, mapped once to Kurento error replies: the media layer reports what
//! went wrong in its own terms ([`OfferError`], [`AnswerError`], [`SdpError`]); these
//! functions alone choose the Kurento code (`KurentoErrorCode`, one table in `camview-proto`)
//! and message a client sees. Everything else of the JSON-RPC layer builds its errors with
//! [`kerr`].
//!
//! [`SdpError`]: crate::sdp::SdpError

use camview_proto::kurento::{KurentoErrorCode as K, RpcError};

use crate::media::webrtc::{AnswerError, OfferError};
use crate::sdp;

/// An error of Kurento type `code`.
pub(crate) fn kerr(code: K, msg: impl Into<String>) -> RpcError {
    RpcError::kurento(code, msg)
}

/// No object of this id (never created, released, or of a closed session).
pub(crate) fn not_found(id: &str) -> RpcError {
    kerr(K::MediaObjectNotFound, format!("Object '{id}' not found"))
}

/// `processOffer` or `generateOffer` on an endpoint that already has both descriptions.
pub(crate) fn already_negotiated() -> RpcError {
    kerr(K::SdpEndPointAlreadyNegotiated, "Endpoint already negotiated")
}

/// A media-layer offer failure.
pub(crate) fn offer_error(e: OfferError) -> RpcError {
    match e {
        OfferError::Parse(m) => kerr(K::SdpParseError, m),
        OfferError::Process(m) => kerr(K::SdpEndPointProcessOfferError, m),
        OfferError::AlreadyNegotiated => already_negotiated(),
    }
}

/// A media-layer answer failure.
pub(crate) fn answer_error(e: AnswerError) -> RpcError {
    match e {
        AnswerError::NotOffered => {
            kerr(K::SdpEndPointNotOfferGenerated, "Offer not generated. It is not possible to process an answer.")
        }
        AnswerError::AlreadyProcessed => kerr(K::SdpEndPointAnswerAlreadyProcessed, "Sdp Answer already processed"),
        AnswerError::Parse(m) => kerr(K::SdpParseError, m),
        AnswerError::Process(m) => kerr(K::SdpEndPointProcessAnswerError, m),
    }
}

/// Parses an SDP `what` (offer or answer) into the engine's model.
pub(crate) fn parse(text: &str, what: &str) -> Result<sdp::Offer, RpcError> {
    sdp::parse_offer(text).map_err(|e| match e {
        sdp::SdpError::Empty => kerr(K::SdpParseError, format!("Empty {what} not valid")),
        sdp::SdpError::Parse(m) => kerr(K::SdpParseError, format!("Error parsing SDP {what}: {m}")),
    })
}
