//! `camview user add|passwd|grant|revoke|delete|list`.

use camview_common::auth;
use camview_proto::auth::{Role, Subject, UserRecord, ALL_CAMERAS};
use clap::{Subcommand, ValueEnum};

use super::password::obtain;
use super::target::Target;
use super::{check_camera_id, CliError};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Everything, including user management.
    Admin,
    /// Watches the cameras granted to it.
    Viewer,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Viewer => Role::Viewer,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password comes from standard input (--password-stdin), a prompt on
    /// the terminal, or is generated and printed once.
    Add {
        name: String,
        #[arg(long, value_enum, default_value = "viewer")]
        role: RoleArg,
        /// A camera id the user may watch (repeatable); `*` for every camera.
        #[arg(long = "grant", value_name = "CAMERA")]
        grants: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's password; the user's sessions end.
    Passwd {
        name: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Let a user watch more cameras (`*` for all).
    Grant {
        name: String,
        #[arg(required = true, value_name = "CAMERA")]
        cameras: Vec<String>,
    },
    /// Take cameras away from a user; live viewers of them end.
    Revoke {
        name: String,
        #[arg(required = true, value_name = "CAMERA")]
        cameras: Vec<String>,
    },
    /// Delete a user; the user's sessions end.
    Delete { name: String },
    /// List users with their role and grants.
    List,
}

pub async fn run(command: UserCommand, target: &Target) -> Result<(), CliError> {
    match command {
        UserCommand::Add { name, role, grants, password_stdin } => {
            add(target, &name, role.into(), grants, password_stdin).await
        }
        UserCommand::Passwd { name, password_stdin } => passwd(target, &name, password_stdin).await,
        UserCommand::Grant { name, cameras } => grant(target, &name, &cameras).await,
        UserCommand::Revoke { name, cameras } => revoke(target, &name, &cameras).await,
        UserCommand::Delete { name } => delete(target, &name).await,
        UserCommand::List => list(target).await,
    }
}

fn check_name(name: &str) -> Result<(), CliError> {
    auth::check_username(name).map_err(|e| CliError::Usage(format!("{name:?}: {e}")))
}

/// Checks grants (camera ids or `*`) and removes duplicates, keeping the order.
fn check_grants(cameras: &[String]) -> Result<Vec<String>, CliError> {
    let mut out: Vec<String> = Vec::new();
    for c in cameras {
        if c != ALL_CAMERAS {
            check_camera_id(c)?;
        }
        if !out.contains(c) {
            out.push(c.clone());
        }
    }
    Ok(out)
}

async fn existing(target: &Target, name: &str) -> Result<UserRecord, CliError> {
    check_name(name)?;
    target
        .store
        .get_user(name)
        .await?
        .ok_or_else(|| CliError::Runtime(format!("no user {name:?} (see camview user list)")))
}

async fn save(target: &Target, user: &UserRecord) -> Result<(), CliError> {
    if target.store.update_user(user).await? {
        Ok(())
    } else {
        Err(CliError::Runtime(format!("user {:?} was deleted meanwhile", user.username)))
    }
}

async fn add(
    target: &Target,
    name: &str,
    role: Role,
    grants: Vec<String>,
    password_stdin: bool,
) -> Result<(), CliError> {
    check_name(name)?;
    let grants = check_grants(&grants)?;
    if target.store.get_user(name).await?.is_some() {
        return Err(CliError::Runtime(format!(
            "user {name:?} already exists (camview user passwd|grant to change it)"
        )));
    }
    let new = obtain(name, password_stdin)?;
    let user = auth::new_user(name, &new.password, role, grants).await;
    if !target.store.create_user(&user).await? {
        return Err(CliError::Runtime(format!("user {name:?} already exists")));
    }
    println!("created {} {name:?}{}", role.as_str(), grants_text(&user));
    if new.generated {
        println!("password: {} (shown once; change it with camview user passwd {name})", new.password);
    }
    Ok(())
}

async fn passwd(target: &Target, name: &str, password_stdin: bool) -> Result<(), CliError> {
    let mut user = existing(target, name).await?;
    let new = obtain(name, password_stdin)?;
    auth::set_password(&mut user, &new.password).await;
    save(target, &user).await?;
    println!("password of {name:?} changed; its sessions ended");
    if new.generated {
        println!("password: {} (shown once)", new.password);
    }
    target.revoked(Subject::User { username: name.to_owned() }).await;
    Ok(())
}

async fn grant(target: &Target, name: &str, cameras: &[String]) -> Result<(), CliError> {
    let mut user = existing(target, name).await?;
    for c in check_grants(cameras)? {
        if !user.grants.contains(&c) {
            user.grants.push(c);
        }
    }
    save(target, &user).await?;
    println!("{name:?}{}", grants_text(&user));
    if user.role == Role::Admin {
        eprintln!("note: {name:?} is an admin and may watch every camera anyway");
    }
    Ok(())
}

async fn revoke(target: &Target, name: &str, cameras: &[String]) -> Result<(), CliError> {
    let mut user = existing(target, name).await?;
    let cameras = check_grants(cameras)?;
    let before = user.grants.len();
    user.grants.retain(|g| !cameras.contains(g));
    if user.grants.len() == before {
        println!("{name:?} had none of these grants{}", grants_text(&user));
        return Ok(());
    }
    save(target, &user).await?;
    println!("{name:?}{}", grants_text(&user));
    if user.grants.iter().any(|g| g == ALL_CAMERAS) {
        eprintln!("note: {name:?} still has the grant \"*\" (every camera)");
    }
    target.revoked(Subject::User { username: name.to_owned() }).await;
    Ok(())
}

async fn delete(target: &Target, name: &str) -> Result<(), CliError> {
    let user = existing(target, name).await?;
    if user.role == Role::Admin {
        let admins = target.store.list_users().await?.iter().filter(|u| u.role == Role::Admin).count();
        if admins <= 1 {
            return Err(CliError::Runtime(format!("{name:?} is the last admin; add another admin first")));
        }
    }
    if !target.store.delete_user(name).await? {
        return Err(CliError::Runtime(format!("user {name:?} was deleted meanwhile")));
    }
    println!("deleted {name:?}; its sessions ended");
    target.revoked(Subject::User { username: name.to_owned() }).await;
    Ok(())
}

async fn list(target: &Target) -> Result<(), CliError> {
    let users = target.store.list_users().await?;
    print!("{}", table(&users));
    Ok(())
}

fn grants_text(user: &UserRecord) -> String {
    match (user.role, user.grants.is_empty()) {
        (Role::Admin, _) => String::new(),
        (Role::Viewer, true) => ", no cameras granted".into(),
        (Role::Viewer, false) => format!(", may watch: {}", user.grants.join(" ")),
    }
}

/// Name, role and grants: never a hash.
fn table(users: &[UserRecord]) -> String {
    let width = users.iter().map(|u| u.username.len()).max().unwrap_or(0).max("NAME".len());
    let mut out = format!("{:width$}  {:6}  GRANTS\n", "NAME", "ROLE");
    for u in users {
        let grants = match u.role {
            Role::Admin => "(all: admin)".to_owned(),
            Role::Viewer if u.grants.is_empty() => "-".to_owned(),
            Role::Viewer => u.grants.join(","),
        };
        out.push_str(&format!("{:width$}  {:6}  {grants}\n", u.username, u.role.as_str()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, role: Role, grants: &[&str]) -> UserRecord {
        UserRecord {
            username: name.into(),
            role,
            grants: grants.iter().map(|g| (*g).to_owned()).collect(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$SECRETSALT$SECRETHASH".into(),
            token_version: 0,
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn the_user_table_shows_names_roles_and_grants_but_never_a_hash() {
        let text = table(&[
            user("admin", Role::Admin, &[]),
            user("alice", Role::Viewer, &["cam1", "cam2"]),
            user("bob", Role::Viewer, &[]),
        ]);
        assert!(!text.contains("argon2") && !text.contains("SECRET"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[2].starts_with("alice") && lines[2].contains("viewer") && lines[2].ends_with("cam1,cam2"),
            "{text}"
        );
        assert!(lines[3].ends_with('-'), "{text}");
    }

    #[test]
    fn grants_are_camera_ids_or_star_without_duplicates() {
        let ok = check_grants(&["cam1".into(), "*".into(), "cam1".into()]).unwrap();
        assert_eq!(ok, ["cam1", "*"]);
        for bad in ["a b", "../x", "", "**"] {
            assert!(matches!(check_grants(&[bad.into()]), Err(CliError::Usage(_))), "{bad:?}");
        }
    }
}
