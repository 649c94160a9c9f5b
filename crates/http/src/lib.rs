//! Latchkey's HTTP surfaces (axum): the JSON API, the hosted pages and the
//! compatibility routes over the application in `latchkey-service`.

mod account;
mod auth;
mod compat;
pub(crate) mod cookie;
mod dto;
pub mod error;
pub(crate) mod extract;
pub mod metrics;
mod middleware;
mod ops;
pub mod outbound;
mod recovery;
pub(crate) mod ui;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

pub use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use self::error::ApiError;
pub use self::extract::AppState;
pub use latchkey_service::App;
pub use latchkey_service::config::{Config, ConfigError, Overrides};

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

/// Checks what the HTTP surfaces add to the configuration (the theme's
/// pages), naming the key and the file at fault.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    ui::pages(config).map(|_| ())
}

/// The whole application as a router.
pub fn router(app: App) -> Result<Router, ConfigError> {
    let _ = crate::metrics::handle();
    let pages = ui::pages(app.config())?;
    Ok(Router::new()
        .merge(compat::router(app.config()))
        .merge(auth::router())
        .merge(account::router())
        .merge(recovery::router())
        .merge(ops::router())
        .merge(ui::router(pages))
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(cors(&app.config().cors_origins))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            middleware::page_csp(&app.config().ui),
            middleware::security_headers,
        ))
        .layer(axum::middleware::from_fn(middleware::observe))
        .with_state(AppState(app)))
}

/// How often the Prometheus recorder drops stale histogram samples.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(60);

/// Serves until `shutdown` resolves, then finishes the requests in flight.
/// The node's background work (outbox worker, upkeep) runs meanwhile.
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = router(app.clone()).map_err(std::io::Error::other)?;
    let background = app.background().start();
    let metrics_upkeep = tokio::spawn(async {
        let mut tick = tokio::time::interval(METRICS_UPKEEP_EVERY);
        loop {
            tick.tick().await;
            if let Some(h) = metrics::handle() {
                h.run_upkeep();
            }
        }
    });
    let result = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    metrics_upkeep.abort();
    background.stop().await;
    result
}
