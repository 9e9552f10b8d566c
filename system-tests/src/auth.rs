//! Logging in, a throw-away data directory, and running `camview user|camera` as a process.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `CAMVIEW_ADMIN_PASSWORD` of every API the harness starts.
pub const ADMIN_PASSWORD: &str = "system-test-admin-password";

/// `POST {api}/auth/login`: the session token, or the status and body of the refusal.
pub async fn login(http: &reqwest::Client, api: &str, username: &str, password: &str) -> Result<String, String> {
    let url = format!("{api}/auth/login");
    let r = http
        .post(&url)
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .map_err(|e| format!("POST {url}: {e}"))?;
    let status = r.status();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    match body["token"].as_str() {
        Some(token) if status.is_success() => Ok(token.to_owned()),
        _ => Err(format!("POST {url} as {username} answered {status}: {body}")),
    }
}

/// A fresh directory for `CAMVIEW_DATA_DIR`, removed when dropped.
pub struct DataDir(PathBuf);

impl DataDir {
    pub fn new() -> DataDir {
        let dir = std::env::temp_dir().join(format!("camview-system-test-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        DataDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `CAMVIEW_DATA_DIR` pointing here.
    pub fn env(&self) -> HashMap<String, String> {
        HashMap::from([("CAMVIEW_DATA_DIR".to_owned(), self.0.display().to_string())])
    }
}

impl Default for DataDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0); // best effort: it is under the temp dir
    }
}

/// What a `camview` subcommand did.
#[derive(Debug)]
pub struct CliOutput {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// Panics with the output unless the command exited 0.
    #[track_caller]
    pub fn ok(self) -> CliOutput {
        assert_eq!(self.code, Some(0), "the camview command failed: {self:?}");
        self
    }
}

/// Runs `camview <args>` with exactly `env` (plus `PATH`), `stdin` written to its standard
/// input (empty when `None`, which is not a terminal), and waits up to [`crate::PATIENCE`]
/// for it to exit.
pub fn cli(env: &HashMap<String, String>, args: &[&str], stdin: Option<&str>) -> CliOutput {
    let mut cmd = Command::new(crate::binary("camview"));
    cmd.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).envs(env).args(args);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting camview {args:?}: {e}"));
    let mut input = child.stdin.take().expect("piped stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("writing the command's stdin");
    }
    drop(input);
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let out = match rx.recv_timeout(crate::PATIENCE) {
        Ok(result) => result.unwrap_or_else(|e| panic!("waiting for camview {args:?}: {e}")),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status(); // it hung: end it before failing
            panic!("camview {args:?} did not exit within {:?}", crate::PATIENCE);
        }
    };
    CliOutput {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
