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
mod mfa;
mod middleware;
pub mod openapi;
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

use self::error::ApiError;
pub use self::extract::AppState;
pub use self::openapi::ApiDoc;
pub use latchkey_service::App;
pub use latchkey_service::config::{Config, ConfigError, Overrides};

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

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
    // CORS is for what other origins' scripts call: the JSON API, the
    // compatibility routes and the keys. The hosted pages and their assets
    // are ours alone.
    let api = Router::new()
        .merge(compat::router(app.config()))
        .merge(auth::router())
        .merge(account::router())
        .merge(mfa::router())
        .merge(recovery::router())
        .merge(ops::api_router())
        // Set before the layer, so that the layer answers a preflight for
        // a path before the 405 of a method it does not take.
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(cors(&app.config().cors_origins));
    Ok(Router::new()
        .merge(api)
        .merge(ops::router())
        .merge(ui::router(pages))
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            middleware::Headers::new(app.config()),
            middleware::security_headers,
        ))
        .layer(axum::middleware::from_fn(middleware::observe))
        .with_state(AppState(app)))
}

/// How often the Prometheus recorder drops stale histogram samples.
const METRICS_UPKEEP_EVERY: Duration = Duration::from_secs(60);

/// How long a client may take to send a request's head (request line and
/// headers): from when its connection opens, and on a kept-alive
/// connection from the end of the last answer. A connection that takes
/// longer, sending slowly (slowloris) or nothing at all, is closed, so idle
/// connections are held at most this long.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

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
    serve_connections(listener, router, shutdown).await;
    metrics_upkeep.abort();
    background.stop().await;
    Ok(())
}

/// HTTP/1.1 on each accepted connection, with the peer's address as
/// `ConnectInfo<SocketAddr>` and [`HEADER_READ_TIMEOUT`] (which
/// `axum::serve` cannot set); once `shutdown` resolves, no new connections,
/// idle ones closed, and the requests in flight answered.
async fn serve_connections(
    mut listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    use axum::Extension;
    use axum::extract::ConnectInfo;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    use tower::Layer as _;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // axum's accept: retries, pausing a second on errors such as
        // running out of file descriptors.
        let (stream, peer) = tokio::select! {
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            () = &mut shutdown => break,
        };
        // What `into_make_service_with_connect_info::<SocketAddr>` makes
        // for each connection.
        let service = Extension(ConnectInfo::<SocketAddr>(peer)).layer(router.clone());
        let connection = graceful
            .watch(http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
