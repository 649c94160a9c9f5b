//! The HTTP surface: one router, assembled from one module per capability.

mod account;
mod auth;
mod compat;
pub(crate) mod cookie;
mod dto;
pub mod error;
pub(crate) mod extract;
mod middleware;
mod ops;
mod recovery;
pub(crate) mod ui;

use std::sync::Arc;

pub use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use self::error::ApiError;
pub use self::extract::AppState;
use crate::service::App;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Latchkey", description = "Self-hosted identity: sign-up, login, sessions and tokens."),
    paths(
        auth::signup, auth::login, auth::refresh, auth::logout,
        account::me, account::my_events, account::sessions, account::end_session, account::change_password,
        recovery::verify, recovery::resend, recovery::forgot, recovery::validate, recovery::reset,
        recovery::change_email,
        ops::health, ops::ready, ops::metrics, ops::jwks, ops::openapi,
    ),
    modifiers(&SecuritySchemes),
    tags((name = "auth"), (name = "account"), (name = "email"), (name = "operations"))
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("latchkey_session"))),
        );
    }
}

/// CORS is off (no headers, so browsers refuse cross-origin calls) unless
/// origins are configured; then exactly those origins may call, with
/// credentials.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderValue, Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    if allowed.is_empty() {
        return CorsLayer::new();
    }
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
        .allow_credentials(true)
        .max_age(std::time::Duration::from_secs(600))
}

/// The whole application as a router.
pub fn router(app: Arc<App>) -> Router {
    let _ = crate::metrics::handle();
    Router::new()
        .merge(compat::router(&app.config))
        .merge(auth::router())
        .merge(account::router())
        .merge(recovery::router())
        .merge(ops::router())
        .merge(ui::router(&app.config))
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(cors(&app.config.cors_origins))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            middleware::page_csp(&app.config.ui),
            middleware::security_headers,
        ))
        .layer(axum::middleware::from_fn(middleware::observe))
        .with_state(app)
}
