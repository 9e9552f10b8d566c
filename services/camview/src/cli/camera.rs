//! `camview camera add|remove|list`: the secrets cameras send with their keepalives.

use camview_common::auth;
use camview_proto::auth::CameraSecretRecord;
use clap::Subcommand;

use super::target::Target;
use super::{check_camera_id, CliError};

#[derive(Debug, Subcommand)]
pub enum CameraCommand {
    /// Give a camera a secret, printed once; its keepalives must then carry it.
    Add {
        id: String,
        /// Replace the secret of a camera that already has one.
        #[arg(long)]
        replace: bool,
    },
    /// Remove a camera's secret (keepalives from untrusted networks are then refused).
    Remove { id: String },
    /// List the cameras that have a secret (never the secret).
    List,
}

pub async fn run(command: CameraCommand, target: &Target) -> Result<(), CliError> {
    match command {
        CameraCommand::Add { id, replace } => add(target, &id, replace).await,
        CameraCommand::Remove { id } => remove(target, &id).await,
        CameraCommand::List => list(target).await,
    }
}

async fn add(target: &Target, id: &str, replace: bool) -> Result<(), CliError> {
    let id = &check_camera_id(id)?;
    if !replace && target.store.get_camera_secret(id).await?.is_some() {
        return Err(CliError::Runtime(format!("camera {id:?} already has a secret (--replace to make a new one)")));
    }
    let secret = auth::new_camera_secret(target.store.as_ref(), id).await?;
    print!("{}", instructions(id, &secret));
    Ok(())
}

/// What `camera add` prints: the secret, once, and how a camera sends it.
fn instructions(id: &str, secret: &str) -> String {
    format!(
        "camera {id}: secret {secret}\n\
         (shown once; keep it on the camera only)\n\
         its keepalives to POST /cameras/{id}/keepalive must send the header\n\
         \x20 Authorization: Bearer {secret}\n\
         with the simulator: camera-sim --api <api url> --camera {id} --secret {secret}  (or CAMERA_SECRET={secret})\n"
    )
}

async fn remove(target: &Target, id: &str) -> Result<(), CliError> {
    let id = &check_camera_id(id)?;
    if target.store.delete_camera_secret(id).await? {
        println!("camera {id}: secret removed");
        Ok(())
    } else {
        Err(CliError::Runtime(format!("camera {id:?} has no secret (see camview camera list)")))
    }
}

async fn list(target: &Target) -> Result<(), CliError> {
    print!("{}", table(&target.store.list_camera_secrets().await?));
    Ok(())
}

/// Camera ids and when their secret was made: never the secret or its digest.
fn table(cameras: &[CameraSecretRecord]) -> String {
    let width = cameras.iter().map(|c| c.camera_id.len()).max().unwrap_or(0).max("CAMERA".len());
    let mut out = format!("{:width$}  SECRET CREATED\n", "CAMERA");
    for c in cameras {
        out.push_str(&format!("{:width$}  {}\n", c.camera_id, c.created_at));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use camview_proto::CameraId;

    #[test]
    fn the_instructions_show_the_secret_as_a_bearer_header_and_as_the_simulator_flag() {
        let text = instructions("cam1", "S3CRET");
        assert!(text.contains("Authorization: Bearer S3CRET"), "{text}");
        assert!(text.contains("--camera cam1 --secret S3CRET"), "{text}");
    }

    #[test]
    fn the_camera_table_never_shows_a_digest() {
        let rec = CameraSecretRecord {
            camera_id: CameraId::from_static("cam1"),
            secret_sha256: "abcdef0123".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
        };
        let text = table(&[rec]);
        assert!(
            text.contains("cam1") && text.contains("2026-01-01T00:00:00Z") && !text.contains("abcdef0123"),
            "{text}"
        );
    }
}
