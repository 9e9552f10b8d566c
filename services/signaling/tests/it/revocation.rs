//! Revocation: a viewer that loses its access is ended within 2 s by whichever instance
//! holds it (through the bus), and nobody else is.

use std::time::{Duration, Instant};

use camview_proto::auth::Subject;
use camview_proto::bus::{Message, StreamStateChanged};
use camview_proto::stream::StreamState;

use crate::helpers::{Client, Deployment, TestApp};
use crate::responder::Responder;

/// The revocation bound of the issue.
const WITHIN: Duration = Duration::from_secs(2);

/// A viewer of `camera` joined (answered, first candidate received) on `app` with `token`.
async fn watching(app: &TestApp, token: &str, camera: &str) -> (Client, String) {
    let mut c = app.connect_as(token).await;
    let id = c.join_ok(camera).await;
    c.expect("ice").await;
    (c, id)
}

/// The viewer is told, then closed with 4401; returns when the close arrived.
async fn expect_revoked(c: &mut Client) -> Instant {
    let v = c.expect_error("unauthorized").await;
    assert_eq!(v["message"], "access revoked", "{v}");
    let code = c.expect_close().await.expect("a close frame");
    assert_eq!(u16::from(code), 4401);
    Instant::now()
}

/// Publishes a revocation of `subject` and checks that `c` is ended for it within
/// [`WITHIN`] of the publish.
async fn revoke_and_expect_ended_in_time(d: &Deployment, subject: Subject, c: &mut Client) {
    let published = Instant::now();
    d.publish_revocation(subject).await;
    let ended = expect_revoked(c).await;
    assert!(ended - published < WITHIN, "ended after {:?}", ended - published);
}

/// The viewer is still served: an event published now is its very next frame.
async fn expect_still_watching(d: &Deployment, app: &TestApp, c: &mut Client, viewer_id: &str, camera: &str) {
    let event = Message::StreamStateChanged(StreamStateChanged {
        viewer_id: viewer_id.parse().unwrap(),
        camera_id: camera.parse().unwrap(),
        state: StreamState::Stalled,
    });
    d.publish(app.instance_id(), event).await;
    assert_eq!(c.expect("streamState").await["state"], "stalled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_share_ends_its_live_viewer_on_another_instance_within_two_seconds() {
    let d = Deployment::new().await;
    let responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let first = d.spawn_app(&[]).await;
    let second = d.spawn_app(&[]).await;
    let (revoked_id, revoked_token) = d.share_token("cam1").await;
    let (_, kept_token) = d.share_token("cam1").await;
    let (mut doomed, _) = watching(&second, &revoked_token, "cam1").await;
    let (mut kept_here, kept_here_id) = watching(&second, &kept_token, "cam1").await;
    let (mut kept_there, kept_there_id) = watching(&first, &kept_token, "cam1").await;
    assert_eq!(d.viewer_count("cam1").await, 3);

    let mut share = d.store.get_share(&revoked_id).await.unwrap().unwrap();
    share.revoked_at = Some(camview_common::clock::now_rfc3339());
    d.store.put_share(&share).await.unwrap();
    revoke_and_expect_ended_in_time(&d, Subject::Share { id: revoked_id }, &mut doomed).await;
    d.wait_viewer_count("cam1", 2).await;
    assert_eq!(responder.count("RemoveViewer"), 1, "released through the media-controller");

    expect_still_watching(&d, &second, &mut kept_here, &kept_here_id, "cam1").await;
    expect_still_watching(&d, &first, &mut kept_there, &kept_there_id, "cam1").await;
    assert_eq!(second.handle.watched_viewers(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_user_ends_its_viewers_and_spares_the_others() {
    let d = Deployment::new().await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let first = d.spawn_app(&[]).await;
    let second = d.spawn_app(&[]).await;
    let frank = d.user_token("frank", &["cam1"]).await;
    let (mut doomed, _) = watching(&first, &frank, "cam1").await;
    let (mut other, other_id) = watching(&second, &d.token, "cam1").await;
    assert!(d.store.delete_user("frank").await.unwrap());
    revoke_and_expect_ended_in_time(&d, Subject::User { username: "frank".into() }, &mut doomed).await;
    d.wait_viewer_count("cam1", 1).await;
    expect_still_watching(&d, &second, &mut other, &other_id, "cam1").await;
    let mut again = first.connect_as(&frank).await;
    again.join("cam1").await;
    again.expect_error("unauthorized").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_change_ends_only_viewers_of_cameras_no_longer_granted() {
    let d = Deployment::new().await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    d.start_stream("cam2").await;
    let app = d.spawn_app(&[]).await;
    let grace = d.user_token("grace", &["cam1", "cam2"]).await;
    let (mut on_cam1, cam1_id) = watching(&app, &grace, "cam1").await;
    let (mut on_cam2, _) = watching(&app, &grace, "cam2").await;
    let mut user = d.store.get_user("grace").await.unwrap().unwrap();
    user.grants = vec!["cam1".into()];
    d.store.update_user(&user).await.unwrap();
    revoke_and_expect_ended_in_time(&d, Subject::User { username: "grace".into() }, &mut on_cam2).await;
    d.wait_viewer_count("cam2", 0).await;
    expect_still_watching(&d, &app, &mut on_cam1, &cam1_id, "cam1").await;
    assert_eq!(d.viewer_count("cam1").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_recheck_ends_a_viewer_whose_revocation_was_never_published() {
    let d = Deployment::new().await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[("SIGNALING_AUTH_RECHECK_SECONDS", "1")]).await;
    let (id, token) = d.share_token("cam1").await;
    let (mut doomed, _) = watching(&app, &token, "cam1").await;
    let (mut kept, kept_id) = watching(&app, &d.token, "cam1").await;
    let mut share = d.store.get_share(&id).await.unwrap().unwrap();
    share.revoked_at = Some(camview_common::clock::now_rfc3339());
    d.store.put_share(&share).await.unwrap();
    expect_revoked(&mut doomed).await;
    d.wait_viewer_count("cam1", 1).await;
    expect_still_watching(&d, &app, &mut kept, &kept_id, "cam1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_works_with_the_in_process_bus_and_the_file_store() {
    let d = Deployment::in_process().await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[]).await;
    let henry = d.user_token("henry", &["cam1"]).await;
    let (mut doomed, _) = watching(&app, &henry, "cam1").await;
    let mut user = d.store.get_user("henry").await.unwrap().unwrap();
    user.token_version += 1; // a password change
    d.store.update_user(&user).await.unwrap();
    d.publish_revocation(Subject::User { username: "henry".into() }).await;
    expect_revoked(&mut doomed).await;
    d.wait_viewer_count("cam1", 0).await;
}
