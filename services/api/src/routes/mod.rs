//! HTTP handlers, one file per resource, and [`ROUTES`]: the one table of every route.
//!
//! Invariant: a route exists only as a row of the table below. The same row mounts the handler
//! ([`configure`], the only routes `startup` mounts), names its `#[utoipa::path]` annotation in
//! the OpenAPI document ([`Annotations`]) and declares who may call it and which errors its
//! handler answers; the tests check each annotation's method and path against its row, so the
//! document cannot miss or misplace a route.

use actix_web::http::Method;
use actix_web::web;
use camview_proto::ErrorCode;

use crate::security::Access;
use crate::startup::resource;

pub mod auth_routes;
pub mod cameras;
pub mod config_js;
pub mod health;
pub mod ice_servers;
pub mod metrics;
pub mod nodes;
pub mod openapi;
pub mod pages;
pub mod shares;
pub mod snapshots;
pub mod streams;
pub mod users;
pub mod viewers;
pub mod whep;

/// One route: a row of [`ROUTES`].
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE` or `OPTIONS`.
    pub method: &'static str,
    /// As actix matches it (`{name:regex}` allowed); [`RouteSpec::document_path`] is the document's.
    pub path: &'static str,
    /// The handler's name: its `operationId`.
    pub operation_id: &'static str,
    /// Its module: the operation's tag.
    pub module: &'static str,
    pub access: Access,
    /// What the handler itself can fail with; the errors of the access check, of a
    /// `{camera_id}` path, of a JSON body and of the middleware are added from the other columns.
    pub errors: &'static [ErrorCode],
}

impl RouteSpec {
    /// The path as OpenAPI writes it: `{name:regex}` becomes `{name}`.
    pub fn document_path(&self) -> String {
        let (mut out, mut in_param, mut in_regex) = (String::with_capacity(self.path.len()), false, false);
        for c in self.path.chars() {
            match c {
                '{' => in_param = true,
                '}' => (in_param, in_regex) = (false, false),
                ':' if in_param => in_regex = true,
                _ => {}
            }
            if !in_regex {
                out.push(c);
            }
        }
        out
    }
}

/// Writes [`ROUTES`], [`configure`] and [`Annotations`] from one list of rows:
/// `METHOD "path" => module::handler, Access, [ErrorCode, ...];`.
macro_rules! route_table {
    ($($method:ident $path:literal => $module:ident :: $handler:ident, $access:ident, [$($code:ident),* $(,)?];)+) => {
        /// Every route the api serves, in mounting order.
        pub const ROUTES: &[RouteSpec] = &[$(RouteSpec {
            method: stringify!($method),
            path: $path,
            operation_id: stringify!($handler),
            module: stringify!($module),
            access: Access::$access,
            errors: &[$(ErrorCode::$code),*],
        }),+];

        /// Mounts every row of [`ROUTES`]: the methods of one path share one resource, whose
        /// other methods answer 405 `method_not_allowed`.
        pub fn configure(cfg: &mut web::ServiceConfig) {
            let mut resources: Vec<(&'static str, Vec<actix_web::Route>)> = Vec::new();
            $(add(&mut resources, $path, web::route().method(Method::$method).to($module::$handler));)+
            for (path, routes) in resources {
                cfg.service(routes.into_iter().fold(resource(path), |r, route| r.route(route)));
            }
        }

        /// The handlers' `#[utoipa::path]` annotations; `openapi::document` completes them.
        #[derive(utoipa::OpenApi)]
        #[openapi(
            paths($($module::$handler),+),
            components(schemas(camview_proto::ErrorBody, camview_proto::ErrorCode))
        )]
        pub struct Annotations;
    };
}

fn add(resources: &mut Vec<(&'static str, Vec<actix_web::Route>)>, path: &'static str, route: actix_web::Route) {
    match resources.iter_mut().find(|(p, _)| *p == path) {
        Some((_, routes)) => routes.push(route),
        None => resources.push((path, vec![route])),
    }
}

route_table! {
    GET "/" => pages::index_page, Public, [RegistryUnavailable, NotFound];
    GET "/viewer" => pages::viewer_page, Public, [RegistryUnavailable, NotFound];
    GET "/login" => pages::login_page, Public, [NotFound];
    GET "/share" => pages::share_page, Public, [NotFound];
    GET "/static/{path:.*}" => pages::asset, Public, [NotFound];
    GET "/config.js" => config_js::config_js, Public, [];
    GET "/openapi.json" => openapi::openapi_json, Public, [];
    POST "/auth/login" => auth_routes::login, Public, [Unauthorized, TooManyRequests, RegistryUnavailable];
    POST "/auth/link" => auth_routes::link, Public, [Unauthorized, TooManyRequests, RegistryUnavailable];
    POST "/auth/share" => auth_routes::share, Public, [Unauthorized, TooManyRequests, RegistryUnavailable];
    POST "/auth/logout" => auth_routes::logout, User, [];
    GET "/auth/me" => auth_routes::me, User, [];
    POST "/auth/refresh" => auth_routes::refresh, User, [RegistryUnavailable];
    GET "/users" => users::list_users, Admin, [RegistryUnavailable];
    POST "/users" => users::create_user, Admin, [UserExists, RegistryUnavailable];
    DELETE "/users/{username}" => users::delete_user, Admin, [UserNotFound, RegistryUnavailable];
    PUT "/users/{username}/password" => users::set_password, User, [Forbidden, UserNotFound, RegistryUnavailable];
    PUT "/users/{username}/grants" => users::set_grants, Admin, [UserNotFound, RegistryUnavailable];
    GET "/cameras/{camera_id}/shares" => shares::list_shares, Admin, [RegistryUnavailable];
    POST "/cameras/{camera_id}/shares" => shares::create_share, Admin, [RegistryUnavailable];
    DELETE "/shares/{share_id}" => shares::revoke_share, Admin, [ShareNotFound, RegistryUnavailable];
    POST "/cameras/{camera_id}/secret" => shares::rotate_secret, Admin, [RegistryUnavailable];
    DELETE "/cameras/{camera_id}/secret" => shares::delete_secret, Admin, [NotFound, RegistryUnavailable];
    GET "/health" => health::health, Public, [];
    GET "/metrics" => metrics::get_metrics, Public, [Forbidden];
    GET "/ice-servers" => ice_servers::get_ice_servers, User, [];
    GET "/streams" => streams::list_streams, User, [RegistryUnavailable];
    GET "/streams/{camera_id}" => streams::get_stream, User, [Forbidden, StreamNotFound, RegistryUnavailable];
    GET "/streams/{camera_id}/snapshot.jpg" => snapshots::snapshot, User,
        [Forbidden, StreamNotFound, SnapshotUnavailable, SnapshotUnsupportedCodec, ControllerUnavailable,
         MediaServerError, Internal, RegistryUnavailable];
    POST "/streams/{camera_id}/start" => streams::start_stream, Admin,
        [InvalidSource, TooManyStreams, NoMediaNode, ControllerUnavailable, MediaServerError, Internal,
         RegistryUnavailable];
    POST "/streams/{camera_id}/stop" => streams::stop_stream, Admin,
        [StreamNotFound, ControllerUnavailable, MediaServerError, Internal, RegistryUnavailable];
    GET "/viewers" => viewers::list_viewers, Admin, [RegistryUnavailable];
    GET "/viewers/{camera_id}" => viewers::stream_viewers, Admin, [StreamNotFound, RegistryUnavailable];
    GET "/nodes" => nodes::list_nodes, Admin, [RegistryUnavailable];
    POST "/cameras/{camera_id}/keepalive" => cameras::keepalive, Camera, [RegistryUnavailable];
    POST "/whep/{camera_id}" => whep::whep_offer, User, [Forbidden, UnsupportedMediaType, PayloadTooLarge, InvalidSdp,
        StreamNotFound, StreamFull, ControllerUnavailable, MediaServerError, Internal, RegistryUnavailable];
    OPTIONS "/whep/{camera_id}" => whep::whep_options, Public, [];
    PATCH "/whep/{camera_id}/{session_id}" => whep::whep_patch, User, [Forbidden, ViewerNotFound,
        UnsupportedMediaType, PayloadTooLarge, InvalidSdp, InvalidCandidate, InvalidBody, PreconditionFailed,
        ControllerUnavailable, RegistryUnavailable];
    DELETE "/whep/{camera_id}/{session_id}" => whep::whep_delete, User, [Forbidden, ViewerNotFound];
}
