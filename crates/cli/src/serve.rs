//! `latchkey serve`: listen, serve, and on SIGTERM or Ctrl-C finish the
//! requests in flight and exit 0.

use anyhow::Context as _;
use latchkey_service::{App, Config};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

/// Binds the listening socket before anything else starts, so that a
/// public URL derived from `--listen 127.0.0.1:0` names the real port.
pub async fn bind(mut config: Config) -> anyhow::Result<(TcpListener, Config)> {
    let addr = config.listen_addr()?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    if config.public_url_from_listen {
        config.public_url = format!("http://{local}");
    }
    Ok((listener, config))
}

pub async fn run(app: App, listener: TcpListener) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    if app.mail_goes_to_files() {
        tracing::warn!(
            dir = %app.config().data_dir.join("mail").display(),
            "no SMTP server configured: emails are written as .eml files and their links logged; \
             set LATCHKEY_SMTP_HOST for real delivery"
        );
    }
    tracing::info!(
        listen = %local,
        public_url = %app.config().public_url,
        backend = app.backend_name(),
        "latchkey is ready"
    );
    println!(
        "Latchkey listening on http://{local} (public URL {})",
        app.config().public_url
    );
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let shutdown = async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down: finishing requests in flight");
    };
    latchkey_http::serve(app, listener, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}
