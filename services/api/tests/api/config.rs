//! The binary refuses bad configuration, naming the variable.

use std::process::{Command, Stdio};

fn run_with(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_camview-api"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run camview-api");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_binary_stops_with_the_variable_name_on_a_bad_port() {
    let (code, stderr) = run_with(&[("API_SERVER_PORT", "eighty")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("API_SERVER_PORT"), "{stderr}");
}

#[test]
fn the_binary_stops_with_the_variable_name_on_a_bad_redis_url() {
    let (code, stderr) = run_with(&[
        ("API_SERVER_PORT", "0"),
        ("REDIS_URL", "http://localhost:6379"),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("REDIS_URL"), "{stderr}");
}

#[test]
fn the_binary_stops_with_the_variable_name_on_a_bad_timeout() {
    let (code, stderr) = run_with(&[("BUS_REQUEST_TIMEOUT_MS", "soon")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("BUS_REQUEST_TIMEOUT_MS"), "{stderr}");
}
