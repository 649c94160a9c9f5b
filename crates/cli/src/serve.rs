//! `latchkey serve`: listen, serve, and on SIGTERM or Ctrl-C finish the
//! requests in flight and exit 0.

use std::sync::Arc;

use anyhow::Context as _;
use latchkey_server::App;
use tokio::signal::unix::{SignalKind, signal};

pub async fn run(app: Arc<App>) -> anyhow::Result<()> {
    let addr = app.config.listen_addr()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(
        listen = %local,
        public_url = %app.config.public_url,
        backend = app.store.backend().name(),
        "latchkey is ready"
    );
    println!(
        "Latchkey listening on http://{local} (public URL {})",
        app.config.public_url
    );
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down: finishing requests in flight");
    };
    latchkey_server::serve(app, listener, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}
