//! A viewer's ICE state as the media server reports it reaches its record and its signaling
//! instance (or api instance, for WHEP): connected, disconnected, connected again.

use camview_proto::{CameraId, ViewerId};
use std::time::Duration;

use camview_common::bus::BusClient;
use camview_proto::bus::{AddViewer, Message};
use camview_proto::stream::ViewerState;

use super::super::media::MediaEvent;
use super::{command, fixture, start};

#[tokio::test]
async fn a_viewer_ice_disconnect_and_its_recovery_are_recorded_and_told_to_its_instance() {
    let f = fixture().await;
    let (api, _) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let (sig, mut events) = BusClient::start(f.bus.clone(), "sig-1").await.unwrap();
    command(&f, &api, start("cam1")).await;
    let add = Message::AddViewer(AddViewer {
        viewer_id: ViewerId::from_static("v1"),
        camera_id: CameraId::from_static("cam1"),
        sdp_offer: "offer-1".into(),
        signaling_instance: "sig-1".into(),
    });
    assert!(matches!(command(&f, &sig, add).await, Message::ViewerAdded(_)));
    let endpoint_id = f.registry.get_viewer(&ViewerId::from_static("v1")).await.unwrap().unwrap().endpoint_id.unwrap();
    for (kurento_state, want) in [
        ("CONNECTED", ViewerState::Connected),
        ("DISCONNECTED", ViewerState::Disconnected),
        ("READY", ViewerState::Connected),
    ] {
        let event = MediaEvent::IceStateChanged { endpoint_id: endpoint_id.clone(), state: kurento_state.into() };
        f.controller.on_media_event(event).await;
        assert_eq!(
            f.registry.get_viewer(&ViewerId::from_static("v1")).await.unwrap().unwrap().state,
            want,
            "{kurento_state}"
        );
        let told = loop {
            let env = tokio::time::timeout(Duration::from_secs(2), events.recv()).await.unwrap().unwrap();
            if let Message::ViewerStateChanged(e) = env.message {
                break e;
            }
        };
        assert_eq!((told.viewer_id.as_str(), told.state), ("v1", want), "{kurento_state}");
    }
}
