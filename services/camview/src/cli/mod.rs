//! `camview user …` and `camview camera …`: manage users, grants and camera secrets in the
//! same store the servers read.
//!
//! Where: with `REDIS_URL` set, the Redis store of a split deployment (changes that reduce
//! access are also broadcast on its bus, so live viewers end at once); otherwise the file
//! store in `CAMVIEW_DATA_DIR` that the all-in-one binary uses (safe beside a running
//! server: the file store takes an OS lock for every change).
//!
//! Invariants: no password or secret is ever taken from the command line (they would show in
//! `ps` and shell histories); a secret or generated password is printed once, on stdout, and
//! never logged; exit codes are [`EXIT_OK`], [`EXIT_RUNTIME`], [`EXIT_USAGE`].

mod camera;
mod password;
mod target;
mod user;

use std::process::ExitCode;

use clap::Subcommand;

/// Everything went well.
pub const EXIT_OK: u8 = 0;
/// The store could not be reached or refused the change (including "no such user").
pub const EXIT_RUNTIME: u8 = 1;
/// A malformed argument or value (also what clap uses for its own usage errors).
pub const EXIT_USAGE: u8 = 2;

/// The management subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage users: add, passwd, grant, revoke, delete, list.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage camera secrets: add, remove, list.
    #[command(subcommand)]
    Camera(camera::CameraCommand),
}

/// Why a command failed; each maps to one exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The change could not be made: exit 1.
    #[error("{0}")]
    Runtime(String),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Runtime(_) => EXIT_RUNTIME,
        }
    }
}

impl From<camview_common::auth::AuthStoreError> for CliError {
    fn from(e: camview_common::auth::AuthStoreError) -> Self {
        CliError::Runtime(e.to_string())
    }
}

/// Runs one subcommand against the store the environment names; prints errors on stderr.
pub async fn run(command: Command) -> ExitCode {
    let env = camview_common::config::Env;
    let reader = camview_common::config::Reader::new(&env);
    let result = async {
        let target = target::Target::open(&reader).await?;
        match command {
            Command::User(c) => user::run(c, &target).await,
            Command::Camera(c) => camera::run(c, &target).await,
        }
    }
    .await;
    match result {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(e) => {
            eprintln!("camview: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Checks a camera id with the API's own rule.
fn check_camera_id(id: &str) -> Result<camview_proto::CameraId, CliError> {
    camview_proto::CameraId::parse(id).map_err(|e| CliError::Usage(format!("{id:?}: {e}")))
}
