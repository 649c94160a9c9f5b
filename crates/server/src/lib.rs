//! The Latchkey service: the HTTP API over the core rules and the store.

pub mod breached;
pub mod cache;
pub mod config;
pub mod hash_pool;
pub mod http;
pub mod keys;
pub mod mail;
pub mod metrics;
pub mod service;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use config::{Config, Overrides};
pub use service::App;

/// How often each node re-reads the signing keys, to pick up rotations.
const KEY_RELOAD_EVERY: Duration = Duration::from_secs(60);

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let reloader = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(KEY_RELOAD_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = app.keys.reload(app.clock.now()).await {
                    tracing::warn!(error = %e, "could not reload signing keys");
                }
                app.prune_audit().await;
                app.prune_sessions().await;
                if let Some(h) = metrics::handle() {
                    h.run_upkeep();
                }
            }
        })
    };
    let (stop_mail, mail_stopped) = tokio::sync::watch::channel(false);
    let mail_worker = tokio::spawn(mail::worker::run(app.clone(), mail_stopped));
    let router = http::router(app);
    let result = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    reloader.abort();
    // Let the worker finish the message in hand; a lease covers the rest.
    let _ = stop_mail.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), mail_worker).await;
    result
}
