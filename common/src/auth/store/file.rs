//! The all-in-one binary's auth store: one JSON file, `auth.json` in `CAMVIEW_DATA_DIR`,
//! mode 0600, shared safely with the `camview user|camera` CLI running beside the server.
//!
//! Invariants: every change is a read-modify-write under an exclusive lock on `auth.lock`
//! (an OS file lock, so the CLI and the server never lose each other's writes), written to
//! a temporary file, synced and renamed, so a crash leaves the old or the new file, never
//! half of one. Reads parse the file again only when it changed (inode, size, mtime). No
//! in-memory lock is held while the disk is touched.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use camview_proto::auth::{CameraSecretRecord, ShareRecord, UserRecord};
use camview_proto::CameraId;
use serde::{Deserialize, Serialize};

use super::{now_unix, prunable, sort_shares, AuthStore, AuthStoreError};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    users: BTreeMap<String, UserRecord>,
    #[serde(default)]
    shares: BTreeMap<String, ShareRecord>,
    #[serde(default)]
    camera_secrets: BTreeMap<CameraId, CameraSecretRecord>,
    /// code digest -> (username, expiry in unix seconds)
    #[serde(default)]
    login_codes: BTreeMap<String, (String, u64)>,
    #[serde(default)]
    signing_key: Option<String>,
}

/// Which version of the file a cached parse belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

/// Users, shares and secrets in `<dir>/auth.json`.
#[derive(Clone)]
pub struct FileAuthStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    lock_path: PathBuf,
    cache: Mutex<Option<(Stamp, Arc<State>)>>,
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> AuthStoreError {
    AuthStoreError::Unavailable(format!("{what} {}: {e}", path.display()))
}

impl FileAuthStore {
    /// Opens (creating `dir` with mode 0700 if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, AuthStoreError> {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| io_err("creating", dir, e))?;
        let store = Self {
            inner: Arc::new(Inner {
                path: dir.join("auth.json"),
                lock_path: dir.join("auth.lock"),
                cache: Mutex::new(None),
            }),
        };
        store.inner.load()?;
        Ok(store)
    }

    /// The file the records live in.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn read<R: Send + 'static>(&self, f: impl FnOnce(&State) -> R + Send + 'static) -> Result<R, AuthStoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.load().map(|s| f(&s)))
            .await
            .map_err(|e| AuthStoreError::Unavailable(format!("auth store task failed: {e}")))?
    }

    async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut State) -> R + Send + 'static,
    ) -> Result<R, AuthStoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.modify(f))
            .await
            .map_err(|e| AuthStoreError::Unavailable(format!("auth store task failed: {e}")))?
    }
}

impl Inner {
    fn stamp(&self) -> Result<Option<Stamp>, AuthStoreError> {
        match std::fs::metadata(&self.path) {
            Ok(m) => Ok(Some(Stamp {
                ino: m.ino(),
                len: m.len(),
                mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("reading", &self.path, e)),
        }
    }

    /// The current state, parsed again only if the file changed.
    fn load(&self) -> Result<Arc<State>, AuthStoreError> {
        let Some(stamp) = self.stamp()? else {
            return Ok(Arc::new(State::default()));
        };
        if let Some((cached, state)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            if *cached == stamp {
                return Ok(state.clone());
            }
        }
        let state = Arc::new(self.parse()?);
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Some((stamp, state.clone()));
        Ok(state)
    }

    fn parse(&self) -> Result<State, AuthStoreError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| AuthStoreError::Corrupt { key: self.path.display().to_string(), reason: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(io_err("reading", &self.path, e)),
        }
    }

    /// Read-modify-write under the file lock.
    fn modify<R>(&self, f: impl FnOnce(&mut State) -> R) -> Result<R, AuthStoreError> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&self.lock_path)
            .map_err(|e| io_err("opening", &self.lock_path, e))?;
        lock.lock().map_err(|e| io_err("locking", &self.lock_path, e))?;
        let mut state = self.parse()?;
        let out = f(&mut state);
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&state).expect("auth records serialize");
        let mut file: File = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io_err("writing", &tmp, e))?;
        file.write_all(&bytes).and_then(|()| file.sync_all()).map_err(|e| io_err("writing", &tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| io_err("replacing", &self.path, e))?;
        if let Some(stamp) = self.stamp()? {
            *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Some((stamp, Arc::new(state)));
        }
        drop(lock); // releases the OS lock
        Ok(out)
    }
}

#[async_trait]
impl AuthStore for FileAuthStore {
    async fn get_user(&self, username: &str) -> Result<Option<UserRecord>, AuthStoreError> {
        let name = username.to_owned();
        self.read(move |s| s.users.get(&name).cloned()).await
    }

    async fn create_user(&self, user: &UserRecord) -> Result<bool, AuthStoreError> {
        let user = user.clone();
        self.write(move |s| {
            if s.users.contains_key(&user.username) {
                return false;
            }
            s.users.insert(user.username.clone(), user);
            true
        })
        .await
    }

    async fn update_user(&self, user: &UserRecord) -> Result<bool, AuthStoreError> {
        let user = user.clone();
        self.write(move |s| match s.users.get_mut(&user.username) {
            Some(slot) => {
                *slot = user;
                true
            }
            None => false,
        })
        .await
    }

    async fn delete_user(&self, username: &str) -> Result<bool, AuthStoreError> {
        let name = username.to_owned();
        self.write(move |s| s.users.remove(&name).is_some()).await
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, AuthStoreError> {
        self.read(|s| s.users.values().cloned().collect()).await
    }

    async fn put_share(&self, share: &ShareRecord) -> Result<(), AuthStoreError> {
        let share = share.clone();
        let now = now_unix();
        self.write(move |s| {
            s.shares.retain(|_, sh| !prunable(sh, now));
            s.shares.insert(share.id.clone(), share);
        })
        .await
    }

    async fn get_share(&self, id: &str) -> Result<Option<ShareRecord>, AuthStoreError> {
        let id = id.to_owned();
        self.read(move |s| s.shares.get(&id).cloned()).await
    }

    async fn list_shares(&self, camera_id: Option<&CameraId>) -> Result<Vec<ShareRecord>, AuthStoreError> {
        let camera = camera_id.cloned();
        let now = now_unix();
        let mut out: Vec<ShareRecord> = self
            .read(move |s| {
                s.shares
                    .values()
                    .filter(|sh| !prunable(sh, now) && camera.as_ref().is_none_or(|c| *c == sh.camera_id))
                    .cloned()
                    .collect()
            })
            .await?;
        sort_shares(&mut out);
        Ok(out)
    }

    async fn put_camera_secret(&self, secret: &CameraSecretRecord) -> Result<(), AuthStoreError> {
        let secret = secret.clone();
        self.write(move |s| {
            s.camera_secrets.insert(secret.camera_id.clone(), secret);
        })
        .await
    }

    async fn get_camera_secret(&self, camera_id: &CameraId) -> Result<Option<CameraSecretRecord>, AuthStoreError> {
        let id = camera_id.to_owned();
        self.read(move |s| s.camera_secrets.get(&id).cloned()).await
    }

    async fn delete_camera_secret(&self, camera_id: &CameraId) -> Result<bool, AuthStoreError> {
        let id = camera_id.to_owned();
        self.write(move |s| s.camera_secrets.remove(&id).is_some()).await
    }

    async fn list_camera_secrets(&self) -> Result<Vec<CameraSecretRecord>, AuthStoreError> {
        self.read(|s| s.camera_secrets.values().cloned().collect()).await
    }

    async fn put_login_code(&self, code_sha256: &str, username: &str, ttl: Duration) -> Result<(), AuthStoreError> {
        let (code, user) = (code_sha256.to_owned(), username.to_owned());
        let now = now_unix();
        self.write(move |s| {
            s.login_codes.retain(|_, (_, exp)| *exp > now);
            s.login_codes.insert(code, (user, now + ttl.as_secs().max(1)));
        })
        .await
    }

    async fn take_login_code(&self, code_sha256: &str) -> Result<Option<String>, AuthStoreError> {
        let code = code_sha256.to_owned();
        let now = now_unix();
        // Reading first spares a locked rewrite of the file for every guess.
        let present = {
            let code = code.clone();
            self.read(move |s| s.login_codes.contains_key(&code)).await?
        };
        if !present {
            return Ok(None);
        }
        self.write(move |s| s.login_codes.remove(&code).filter(|(_, exp)| *exp > now).map(|(u, _)| u)).await
    }

    async fn signing_key(&self) -> Result<Vec<u8>, AuthStoreError> {
        let existing = self.read(|s| s.signing_key.clone()).await?;
        let encoded = match existing {
            Some(k) => k,
            None => {
                let fresh = crate::auth::password::random_token(32);
                self.write(move |s| s.signing_key.get_or_insert(fresh).clone()).await?
            }
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded.as_bytes())
            .map_err(|e| AuthStoreError::Corrupt { key: "signing_key".into(), reason: e.to_string() })
    }
}
