//! The work every node runs beside its requests: the outbox worker, and
//! once a minute the upkeep (re-read signing keys, prune the audit trail
//! and long-ended sessions).

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::context::capability;
use crate::mail::worker::{self, Outbox};

/// How often each node re-reads the signing keys, to pick up rotations.
const UPKEEP_EVERY: Duration = Duration::from_secs(60);
/// How long a stopping node lets the outbox worker finish the message in
/// hand (a lease covers the rest).
const MAIL_STOP_WAIT: Duration = Duration::from_secs(10);

capability!(
    /// Background work: see the module documentation.
    Background
);

/// The background tasks of a running node.
#[derive(Debug)]
pub struct Running {
    upkeep: JoinHandle<()>,
    mail: JoinHandle<()>,
    stop_mail: watch::Sender<bool>,
}

impl Background {
    /// Starts the outbox worker and the upkeep loop.
    pub fn start(&self) -> Running {
        let ctx = self.0.clone();
        let upkeep = tokio::spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = ctx.keys.reload(ctx.clock.now()).await {
                    tracing::warn!(error = %e, "could not reload signing keys");
                }
                ctx.prune_audit().await;
                ctx.prune_sessions().await;
            }
        });
        let outbox = Outbox {
            store: self.store.clone(),
            mailer: self.mailer.clone(),
            clock: self.clock.clone(),
            max_attempts: self.config.email.max_attempts,
            retry_base_secs: self.config.email.retry_base_secs,
        };
        let (stop_mail, mail_stopped) = watch::channel(false);
        let mail = tokio::spawn(worker::run(outbox, mail_stopped));
        Running {
            upkeep,
            mail,
            stop_mail,
        }
    }
}

impl Running {
    /// Stops the upkeep at once and lets the outbox worker finish the
    /// message in hand.
    pub async fn stop(self) {
        self.upkeep.abort();
        let _ = self.stop_mail.send(true);
        let _ = tokio::time::timeout(MAIL_STOP_WAIT, self.mail).await;
    }
}
