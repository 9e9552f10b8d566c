//! `GET /openapi.json` against the routes the app really serves.
//!
//! How the routes are enumerated without a second list that could drift: `routes::ROUTES` is
//! the one table the app mounts from (`startup` mounts nothing else), and each row names its
//! handler, whose `#[utoipa::path]` annotation states the method and path once more. So the
//! tests check (1) every row sits in the served document at its own method and path under its
//! handler's name, and the document has no other operation; (2) the running app answers every
//! documented path with exactly the documented methods (405 `method_not_allowed` for the
//! others, which also proves the path is mounted, since an unknown path answers 404); (3) the
//! access column of every row is the one the handler enforces.

use std::collections::{BTreeSet, HashSet};

use camview_api::openapi::error_codes;
use camview_api::routes::{RouteSpec, ROUTES};
use camview_api::security::Access;
use camview_common::testing::PROTECTED_ROUTES;
use camview_proto::ErrorCode;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{assert_error, spawn_app, TestApp};

const METHODS: [&str; 6] = ["get", "post", "put", "patch", "delete", "options"];

/// The document as the app serves it, to anyone.
async fn served(app: &TestApp) -> Value {
    let response = app.anon(Method::GET, "/openapi.json").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

/// A documented path with sample values: the ids of `PROTECTED_ROUTES`, a real static file.
fn sample(path: &str) -> String {
    path.replace("{camera_id}", "cam1")
        .replace("{username}", "admin")
        .replace("{share_id}", "abc")
        .replace("{session_id}", "abc")
        .replace("{path}", "viewer-core.js")
}

/// Every (method, path) operation of the document.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                out.push((method.to_owned(), path.clone(), op));
            }
        }
    }
    out
}

fn method(m: &str) -> Method {
    m.to_ascii_uppercase().parse().unwrap()
}

/// The JSON pointer `#/a/b` in `doc`.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn collect_refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                match (k.as_str(), child) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => collect_refs(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_refs(i, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_every_ref_resolves() {
    let app = spawn_app().await;
    let doc = served(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(refs.len() > 20, "the bodies are described by reference: {refs:?}");
    for r in refs {
        assert!(resolve(&doc, r).is_some(), "$ref {r} does not resolve");
    }
    let mut ids = HashSet::new();
    for (m, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{m} {path} has no operationId"));
        assert!(ids.insert(id.to_owned()), "operationId {id} twice");
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{m} {path} answers nothing");
        // Each `{name}` of the path is a declared path parameter.
        for name in path.split('{').skip(1).filter_map(|s| s.split('}').next()) {
            let declared =
                op["parameters"].as_array().into_iter().flatten().any(|p| p["name"] == name && p["in"] == "path");
            assert!(declared, "{m} {path}: parameter {name} is not declared");
        }
        for scheme in op["security"].as_array().into_iter().flatten().flat_map(|s| s.as_object().unwrap().keys()) {
            assert!(doc["components"]["securitySchemes"].get(scheme).is_some(), "{m} {path}: scheme {scheme}");
        }
    }
}

/// Whether `op` lists `code` under its status.
fn documents(op: &Value, code: ErrorCode) -> bool {
    op["responses"][code.http_status().to_string()]["content"]["application/json"]["schema"]["allOf"][1]["properties"]
        ["code"]["enum"]
        .as_array()
        .is_some_and(|codes| codes.iter().any(|c| c == code.as_str()))
}

#[test]
fn every_row_of_the_route_table_is_in_the_document_at_its_method_and_path() {
    let doc = camview_api::openapi::document();
    let documented: BTreeSet<(String, String)> = operations(&doc).into_iter().map(|(m, p, _)| (m, p)).collect();
    let mut rows = BTreeSet::new();
    for route in ROUTES {
        let (m, path) = (route.method.to_ascii_lowercase(), route.document_path());
        let op = &doc["paths"][&path][&m];
        assert!(
            op.is_object(),
            "{} {}: the annotation of {} states another method or path",
            route.method,
            path,
            route.operation_id
        );
        assert_eq!(op["operationId"], route.operation_id, "{m} {path}");
        assert_eq!(op["x-camview-access"], route.access.as_str(), "{m} {path}");
        let has_body = camview_api::openapi::has_json_body(op);
        for code in error_codes(route, has_body) {
            assert!(documents(op, code), "{m} {path} does not document {code}");
        }
        assert!(rows.insert((m, path)), "{} {} is in the table twice", route.method, route.path);
    }
    assert_eq!(documented, rows, "the document and the route table name the same operations");
}

#[test]
fn every_documented_error_code_is_a_real_code_under_its_own_status() {
    let doc = camview_api::openapi::document();
    let known: Vec<Value> = ErrorCode::ALL.iter().map(|c| Value::from(c.as_str())).collect();
    assert_eq!(doc["components"]["schemas"]["ErrorCode"]["enum"].as_array().unwrap(), &known);
    let mut seen = 0;
    for (m, path, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().unwrap() {
            let status: u16 = status.parse().unwrap();
            if status < 400 || (path == "/health" && status == 503) {
                continue;
            }
            let codes = response["content"]["application/json"]["schema"]["allOf"][1]["properties"]["code"]["enum"]
                .as_array()
                .unwrap_or_else(|| panic!("{m} {path} {status}: an error answer without its codes"));
            for code in codes {
                let parsed: ErrorCode = serde_json::from_value(code.clone())
                    .unwrap_or_else(|e| panic!("{m} {path} {status}: {code} is no error code: {e}"));
                assert_eq!(parsed.http_status(), status, "{m} {path}: {code} is answered with another status");
                seen += 1;
            }
        }
    }
    assert!(seen > ROUTES.len(), "{seen} codes documented");
}

#[tokio::test]
async fn every_documented_path_answers_exactly_its_documented_methods() {
    let app = spawn_app().await;
    let doc = served(&app).await;
    assert_error(app.request(Method::PATCH, "/no-such-route").await, 404, "not_found").await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let url = sample(path);
        for m in METHODS {
            let response = app.request(method(m), &url).await;
            if item.get(m).is_some() {
                assert_ne!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{m} {url} is documented");
            } else {
                assert_error(response, 405, "method_not_allowed").await;
            }
        }
    }
}

/// What `route` answers to `token` (None: anonymous), without a body.
async fn ask(app: &TestApp, route: &RouteSpec, token: Option<&str>) -> StatusCode {
    let url = sample(&route.document_path());
    let request = match token {
        Some(t) => app.as_user(t, method(route.method), &url),
        None => app.anon(method(route.method), &url),
    };
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn each_routes_declared_access_is_the_one_it_enforces() {
    let app = spawn_app().await;
    // A viewer of every camera, named as the sample `{username}`'s owner is not.
    let viewer = app.viewer("ann", &["*"]).await;
    for route in ROUTES {
        let (anonymous, as_viewer) = (ask(&app, route, None).await, ask(&app, route, Some(&viewer)).await);
        let what =
            format!("{} {} ({:?}): anonymous {anonymous}, viewer {as_viewer}", route.method, route.path, route.access);
        match route.access {
            Access::Public | Access::Camera => assert_ne!(anonymous, StatusCode::UNAUTHORIZED, "{what}"),
            Access::User => {
                assert_eq!(anonymous, StatusCode::UNAUTHORIZED, "{what}");
                assert_ne!(as_viewer, StatusCode::UNAUTHORIZED, "{what}");
            }
            Access::Admin => {
                assert_eq!(anonymous, StatusCode::UNAUTHORIZED, "{what}");
                assert_eq!(as_viewer, StatusCode::FORBIDDEN, "{what}");
            }
        }
    }
}

#[test]
fn the_shared_list_of_protected_routes_is_the_tables_user_and_admin_rows() {
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .filter(|r| matches!(r.access, Access::User | Access::Admin))
        .map(|r| (r.method.to_owned(), sample(&r.document_path())))
        .collect();
    let shared: BTreeSet<(String, String)> =
        PROTECTED_ROUTES.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert_eq!(shared, table, "camview_common::testing::PROTECTED_ROUTES");
}
