//! The auth store contract: every case runs against the file store (a fresh directory) and
//! a real redis-server (a random key prefix), and the file store's own promises (a second
//! handle sees changes, concurrent writers lose nothing, mode 0600) are checked below.

use camview_proto::CameraId;
use std::sync::Arc;
use std::time::Duration;

use camview_common::auth::store::{AuthStore, FileAuthStore, RedisAuthStore};
use camview_common::testing::{random_keys, RedisServer};
use camview_proto::auth::{CameraSecretRecord, Role, ShareRecord, UserRecord};

pub fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("camview-auth-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn file_store() -> Arc<dyn AuthStore> {
    Arc::new(FileAuthStore::open(&temp_dir()).unwrap())
}

pub async fn redis_store() -> Arc<dyn AuthStore> {
    let client = camview_common::redis_client::client(&RedisServer::shared().url(), None).unwrap();
    Arc::new(RedisAuthStore::with_client(client, random_keys()).await.unwrap())
}

fn user(name: &str, role: Role) -> UserRecord {
    UserRecord {
        username: name.into(),
        role,
        grants: vec!["cam1".into()],
        password_hash: "$argon2id$x".into(),
        token_version: 0,
        created_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn share(id: &str, camera: &str, expires_at: u64) -> ShareRecord {
    ShareRecord {
        id: id.into(),
        camera_id: camera.parse().expect("a test camera id"),
        created_by: "admin".into(),
        created_at: format!("2026-01-01T00:00:0{id}Z"),
        expires_at,
        revoked_at: None,
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

pub async fn a_user_is_created_once_updated_listed_and_deleted(s: Arc<dyn AuthStore>) {
    assert!(s.create_user(&user("bob", Role::Viewer)).await.unwrap());
    assert!(!s.create_user(&user("bob", Role::Admin)).await.unwrap(), "exists");
    assert_eq!(s.get_user("bob").await.unwrap().unwrap().role, Role::Viewer);
    let mut u = user("bob", Role::Viewer);
    u.token_version = 7;
    assert!(s.update_user(&u).await.unwrap());
    assert_eq!(s.get_user("bob").await.unwrap().unwrap().token_version, 7);
    assert!(!s.update_user(&user("nobody", Role::Viewer)).await.unwrap(), "update never creates");
    assert!(s.create_user(&user("ann", Role::Admin)).await.unwrap());
    let names: Vec<_> = s.list_users().await.unwrap().into_iter().map(|u| u.username).collect();
    assert_eq!(names, ["ann", "bob"]);
    assert!(s.delete_user("bob").await.unwrap());
    assert!(!s.delete_user("bob").await.unwrap());
    assert!(s.get_user("bob").await.unwrap().is_none());
}

pub async fn concurrent_creates_of_one_name_succeed_once(s: Arc<dyn AuthStore>) {
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.create_user(&user("admin", Role::Admin)).await.unwrap() })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        created += usize::from(t.await.unwrap());
    }
    assert_eq!(created, 1);
}

pub async fn shares_are_listed_per_camera_and_long_expired_ones_pruned(s: Arc<dyn AuthStore>) {
    s.put_share(&share("1", "cam1", now() + 60)).await.unwrap();
    s.put_share(&share("2", "cam2", now() + 60)).await.unwrap();
    s.put_share(&share("3", "cam1", now() - 3 * 86_400)).await.unwrap();
    let ids = |v: Vec<ShareRecord>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(ids(s.list_shares(Some(&CameraId::from_static("cam1"))).await.unwrap()), ["1"]);
    assert_eq!(ids(s.list_shares(None).await.unwrap()), ["1", "2"]);
    let mut revoked = share("1", "cam1", now() + 60);
    revoked.revoked_at = Some("2026-01-01T00:00:00Z".into());
    s.put_share(&revoked).await.unwrap();
    assert!(s.get_share("1").await.unwrap().unwrap().revoked_at.is_some());
    assert!(s.get_share("nope").await.unwrap().is_none());
}

pub async fn camera_secrets_are_stored_listed_and_deleted(s: Arc<dyn AuthStore>) {
    let rec = |id: &str| CameraSecretRecord {
        camera_id: id.parse().expect("a test camera id"),
        secret_sha256: "ab".into(),
        created_at: "t".into(),
    };
    s.put_camera_secret(&rec("b")).await.unwrap();
    s.put_camera_secret(&rec("a")).await.unwrap();
    assert_eq!(s.get_camera_secret(&CameraId::from_static("a")).await.unwrap(), Some(rec("a")));
    let ids: Vec<_> = s.list_camera_secrets().await.unwrap().into_iter().map(|r| r.camera_id).collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(s.delete_camera_secret(&CameraId::from_static("a")).await.unwrap());
    assert!(s.get_camera_secret(&CameraId::from_static("a")).await.unwrap().is_none());
}

pub async fn a_login_code_works_once(s: Arc<dyn AuthStore>) {
    s.put_login_code("d1", "admin", Duration::from_secs(60)).await.unwrap();
    assert_eq!(s.take_login_code("d1").await.unwrap().as_deref(), Some("admin"));
    assert_eq!(s.take_login_code("d1").await.unwrap(), None);
    assert_eq!(s.take_login_code("never").await.unwrap(), None);
}

pub async fn the_signing_key_is_created_once_and_shared(s: Arc<dyn AuthStore>) {
    let keys: Vec<Vec<u8>> =
        futures::future::join_all((0..4).map(|_| s.signing_key())).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(keys[0].len(), 32);
    assert!(keys.iter().all(|k| *k == keys[0]));
    assert_eq!(s.signing_key().await.unwrap(), keys[0]);
}

macro_rules! auth_store_suite {
    ($module:ident, $store:expr; $($case:ident),* $(,)?) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($store.await).await;
                }
            )*
        }
    };
}

macro_rules! both {
    ($($case:ident),* $(,)?) => {
        auth_store_suite!(file, super::file_store(); $($case),*);
        auth_store_suite!(redis, super::redis_store(); $($case),*);
    };
}

both!(
    a_user_is_created_once_updated_listed_and_deleted,
    concurrent_creates_of_one_name_succeed_once,
    shares_are_listed_per_camera_and_long_expired_ones_pruned,
    camera_secrets_are_stored_listed_and_deleted,
    a_login_code_works_once,
    the_signing_key_is_created_once_and_shared,
);

#[tokio::test]
async fn a_second_file_handle_sees_every_change_and_concurrent_writers_lose_nothing() {
    let dir = temp_dir();
    let a = Arc::new(FileAuthStore::open(&dir).unwrap());
    let b = Arc::new(FileAuthStore::open(&dir).unwrap());
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { s.create_user(&user(&format!("u{i}"), Role::Viewer)).await.unwrap() })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap());
    }
    assert_eq!(a.list_users().await.unwrap().len(), 10);
    assert_eq!(b.list_users().await.unwrap().len(), 10);
    assert!(b.delete_user("u0").await.unwrap());
    assert!(a.get_user("u0").await.unwrap().is_none(), "a re-reads the changed file");
    // A restart: a fresh handle on the same directory.
    let c = FileAuthStore::open(&dir).unwrap();
    assert_eq!(c.list_users().await.unwrap().len(), 9);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(c.path()).unwrap().permissions().mode() & 0o777, 0o600);
    std::fs::remove_dir_all(dir).unwrap();
}

mod authenticator {
    use std::time::Duration;

    use camview_common::auth::{self, AuthError, AuthSettings, Authenticator, Networks};
    use camview_proto::auth::{Role, Subject};
    use camview_proto::CameraId;

    async fn authenticator() -> Authenticator {
        let settings =
            AuthSettings { jwt_secret: None, token_ttl: Duration::from_secs(60), trusted_proxies: Networks::none() };
        Authenticator::start(super::file_store().await, &settings).await.unwrap()
    }

    fn unauthenticated<T: std::fmt::Debug>(r: Result<T, AuthError>) -> bool {
        matches!(r, Err(AuthError::Unauthenticated(_)))
    }

    #[tokio::test]
    async fn a_login_yields_a_token_that_stops_working_after_a_password_change_or_deletion() {
        let a = authenticator().await;
        let store = a.store().clone();
        store.create_user(&auth::new_user("ann", "password-1", Role::Viewer, vec!["cam1".into()]).await).await.unwrap();
        assert!(unauthenticated(a.login("ann", "wrong-password").await));
        assert!(unauthenticated(a.login("nobody", "password-1").await));
        let (issued, _) = a.login("ann", "password-1").await.unwrap();
        let p = a.authenticate(&issued.token).await.unwrap();
        assert_eq!(p.subject, Subject::User { username: "ann".into() });
        assert!(
            p.may_watch(&CameraId::from_static("cam1"))
                && !p.may_watch(&CameraId::from_static("cam2"))
                && !p.is_admin()
        );
        let mut ann = store.get_user("ann").await.unwrap().unwrap();
        auth::set_password(&mut ann, "password-2").await;
        store.update_user(&ann).await.unwrap();
        assert!(unauthenticated(a.authenticate(&issued.token).await), "old token after a password change");
        let (fresh, _) = a.login("ann", "password-2").await.unwrap();
        assert!(a.authenticate(&fresh.token).await.is_ok());
        store.delete_user("ann").await.unwrap();
        assert!(unauthenticated(a.authenticate(&fresh.token).await), "token of a deleted user");
    }

    #[tokio::test]
    async fn grants_are_read_from_the_store_at_every_use() {
        let a = authenticator().await;
        let store = a.store().clone();
        store.create_user(&auth::new_user("bob", "password-1", Role::Viewer, vec!["cam1".into()]).await).await.unwrap();
        let (issued, _) = a.login("bob", "password-1").await.unwrap();
        let mut bob = store.get_user("bob").await.unwrap().unwrap();
        bob.grants = vec!["cam2".into()];
        store.update_user(&bob).await.unwrap();
        let p = a.authenticate(&issued.token).await.unwrap();
        assert!(!p.may_watch(&CameraId::from_static("cam1")) && p.may_watch(&CameraId::from_static("cam2")));
        assert!(!a.still_allowed(&p, &CameraId::from_static("cam1")).await.unwrap());
        assert!(a.still_allowed(&p, &CameraId::from_static("cam2")).await.unwrap());
        bob.token_version += 1;
        store.update_user(&bob).await.unwrap();
        assert!(!a.still_allowed(&p, &CameraId::from_static("cam2")).await.unwrap(), "a raised token version ends it");
    }

    #[tokio::test]
    async fn a_share_token_watches_one_camera_until_revoked() {
        let a = authenticator().await;
        let (mut share, issued) =
            a.create_share(&CameraId::from_static("cam1"), "admin", Duration::from_secs(3600)).await.unwrap();
        let p = a.authenticate(&issued.token).await.unwrap();
        assert!(
            p.may_watch(&CameraId::from_static("cam1"))
                && !p.may_watch(&CameraId::from_static("cam2"))
                && !p.is_admin()
        );
        share.revoked_at = Some("now".into());
        a.store().put_share(&share).await.unwrap();
        assert!(unauthenticated(a.authenticate(&issued.token).await));
    }

    #[tokio::test]
    async fn a_token_signed_with_another_key_is_refused() {
        let a = authenticator().await;
        let b = authenticator().await; // another store: another generated key
        a.store().create_user(&auth::new_user("ann", "password-1", Role::Admin, vec![]).await).await.unwrap();
        b.store().create_user(&auth::new_user("ann", "password-1", Role::Admin, vec![]).await).await.unwrap();
        let (issued, _) = b.login("ann", "password-1").await.unwrap();
        assert!(unauthenticated(a.authenticate(&issued.token).await));
    }

    #[tokio::test]
    async fn a_login_code_works_once() {
        let a = authenticator().await;
        a.store().create_user(&auth::new_user("admin", "password-1", Role::Admin, vec![]).await).await.unwrap();
        let code = a.create_login_code("admin").await.unwrap();
        assert!(a.login_with_code(&code).await.is_ok());
        assert!(unauthenticated(a.login_with_code(&code).await));
    }

    #[tokio::test]
    async fn first_start_creates_admin_with_a_printed_or_given_password() {
        let store = super::file_store().await;
        let generated = match auth::ensure_admin(store.as_ref(), None).await.unwrap() {
            auth::AdminBootstrap::Generated(p) => p,
            other => panic!("{other:?}"),
        };
        assert_eq!(auth::ensure_admin(store.as_ref(), None).await.unwrap(), auth::AdminBootstrap::Unchanged);
        let admin = store.get_user("admin").await.unwrap().unwrap();
        assert!(auth::password::verify(&generated, Some(&admin.password_hash)));
        assert_eq!(
            auth::ensure_admin(store.as_ref(), Some("from-the-env")).await.unwrap(),
            auth::AdminBootstrap::FromEnvironment
        );
        let admin = store.get_user("admin").await.unwrap().unwrap();
        assert!(auth::password::verify("from-the-env", Some(&admin.password_hash)));
        assert_eq!(admin.token_version, 1, "old sessions end");
    }
}
