//! HTTPS served by the API itself (`TLS_CERT_FILE` + `TLS_KEY_FILE`) with a throwaway CA: the
//! certificate follows the files without a restart, and HSTS is sent only over TLS. Security
//! headers are on every response either way.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use camview_common::testing::tls_ca::TestCa;
use reqwest::{Certificate, Client, StatusCode};

use crate::helpers::{spawn_app, spawn_app_with, Options};

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> Dir {
    let dir = std::env::temp_dir().join(format!("camview-api-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    Dir(dir)
}

/// A client that trusts only `ca` and keeps no connection between requests.
fn client_trusting(ca: &TestCa) -> Client {
    Client::builder()
        .tls_certs_only([Certificate::from_pem(ca.cert_pem().as_bytes()).expect("CA PEM")])
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("https client")
}

#[tokio::test]
async fn https_is_served_with_hsts_and_a_replaced_certificate_is_used_without_a_restart() {
    let dir = temp_dir();
    let (first_ca, second_ca) = (TestCa::new("first CA"), TestCa::new("second CA"));
    let (cert, key) = first_ca.server("camview-api").write_to(&dir.0);
    let app = spawn_app_with(Options {
        env: vec![("TLS_CERT_FILE", cert.display().to_string()), ("TLS_KEY_FILE", key.display().to_string())],
        ..Options::default()
    })
    .await;
    let https = app.address.replacen("http://", "https://", 1);

    let res = client_trusting(&first_ca).get(format!("{https}/health")).send().await.expect("an HTTPS answer");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["strict-transport-security"], "max-age=31536000");
    assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    let login = client_trusting(&first_ca)
        .post(format!("{https}/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": crate::helpers::ADMIN_PASSWORD}))
        .send()
        .await
        .expect("a login over HTTPS");
    assert_eq!(login.status(), StatusCode::OK);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "the session cookie is Secure under TLS: {cookie}"
    );
    assert!(
        client_trusting(&second_ca).get(format!("{https}/health")).send().await.is_err(),
        "the second CA is not in use yet"
    );

    // Renewal: new files in place (written beside and renamed over, as certbot and kubelet do).
    second_ca.server("camview-api").write_to(&dir.0);
    let deadline = Instant::now() + Duration::from_secs(15);
    let renewed = client_trusting(&second_ca);
    loop {
        match renewed.get(format!("{https}/health")).send().await {
            Ok(res) => {
                assert_eq!(res.status(), StatusCode::OK);
                break;
            }
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(error = %e, "old certificate still served");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("the new certificate was not served within 15 s: {e}"),
        }
    }
    assert!(
        client_trusting(&first_ca).get(format!("{https}/health")).send().await.is_err(),
        "the old certificate is gone"
    );
}

#[tokio::test]
async fn plain_http_has_the_security_headers_but_no_hsts() {
    let app = spawn_app().await;
    let res = app.get("/health").await;
    let h = res.headers();
    assert!(h.get("strict-transport-security").is_none(), "HSTS over plain HTTP would be ignored at best");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cross-origin-opener-policy"], "same-origin");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"), "{csp}");
    // Errors (an unknown route) carry them too.
    assert_eq!(app.get("/no/such/route").await.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn only_the_embed_mode_of_the_viewer_may_be_framed_and_only_by_the_listed_origins() {
    let app = spawn_app_with(Options {
        env: vec![("EMBED_ALLOWED_ORIGINS", "https://portal.example".into())],
        ..Options::default()
    })
    .await;
    let csp = |res: &reqwest::Response| res.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let embed = app.get("/viewer?camera=c&embed=1").await;
    assert!(csp(&embed).ends_with("frame-ancestors 'self' https://portal.example"), "{}", csp(&embed));
    assert!(embed.headers().get("x-frame-options").is_none());
    let normal = app.get("/viewer?camera=c").await;
    assert!(csp(&normal).ends_with("frame-ancestors 'none'"), "{}", csp(&normal));
    assert_eq!(normal.headers()["x-frame-options"], "DENY");
}
