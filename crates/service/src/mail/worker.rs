//! The outbox worker: every node runs one. It leases due messages, sends
//! them, and on failure schedules a retry with exponential backoff and
//! jitter, until the configured number of attempts marks a message dead.
//! A node that dies mid-send leaves a lease that expires, so the message
//! is sent later by whichever node claims it then (at least once).

use std::sync::Arc;
use std::time::Duration;

use latchkey_core::Clock;
use latchkey_store::Store;
use tokio::sync::watch;
use tokio::time::Instant;

use super::Mailer;

/// How long a claimed message stays reserved for the node that claimed it.
const LEASE_SECS: i64 = 120;
/// Recording a send stops being retried this long before the lease ends.
const LEASE_MARGIN_SECS: i64 = 10;
/// Small enough that a batch (each send bounded by the SMTP timeout) ends
/// well inside its lease.
const BATCH: u32 = 4;
const IDLE_POLL: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
const MAX_BACKOFF_SECS: i64 = 6 * 3600;
const GAUGES_EVERY: Duration = Duration::from_secs(5);

/// What the worker needs: the outbox's store, the mailer, the clock and
/// the retry settings.
#[derive(Debug, Clone)]
pub struct Outbox {
    pub store: Arc<dyn Store>,
    pub mailer: Arc<Mailer>,
    pub clock: Arc<dyn Clock>,
    /// Delivery attempts before a message is dead.
    pub max_attempts: u32,
    /// The first retry's delay; it doubles with each attempt.
    pub retry_base_secs: i64,
}

pub async fn run(outbox: Outbox, mut stop: watch::Receiver<bool>) {
    let mut last_gauges = tokio::time::Instant::now() - GAUGES_EVERY;
    loop {
        if *stop.borrow() {
            return;
        }
        if last_gauges.elapsed() >= GAUGES_EVERY {
            update_gauges(&outbox).await;
            last_gauges = tokio::time::Instant::now();
        }
        let claimed_at = outbox.clock.now();
        let claimed = Instant::now();
        let lease = claimed_at + LEASE_SECS;
        let batch = match outbox.store.claim_mail(claimed_at, LEASE_SECS, BATCH).await {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the outbox");
                Vec::new()
            }
        };
        let idle = batch.is_empty();
        for mail in batch {
            deliver(&outbox, mail, lease, claimed).await;
        }
        if idle {
            tokio::select! {
                () = tokio::time::sleep(IDLE_POLL) => {}
                () = outbox.mailer.queued.notified() => {}
                _ = stop.changed() => {}
            }
        }
    }
}

async fn deliver(outbox: &Outbox, mail: latchkey_store::MailRecord, lease: i64, claimed: Instant) {
    let now = outbox.clock.now();
    match outbox.mailer.deliver(&mail).await {
        Ok(()) => {
            metrics::counter!("latchkey_mail_sent_total", "kind" => mail.kind.clone()).increment(1);
            record_sent(outbox, &mail.id, lease, claimed).await;
        }
        Err(failure) => {
            let attempts = mail.attempts + 1;
            let give_up = failure.permanent || attempts >= outbox.max_attempts;
            let retry_at = (!give_up).then(|| now + backoff(outbox.retry_base_secs, attempts));
            if give_up {
                metrics::counter!("latchkey_mail_dead_total", "kind" => mail.kind.clone())
                    .increment(1);
                tracing::error!(id = %mail.id, kind = %mail.kind, attempts, error = %failure.message, "email is dead");
            } else {
                metrics::counter!("latchkey_mail_retried_total", "kind" => mail.kind.clone())
                    .increment(1);
                tracing::warn!(id = %mail.id, kind = %mail.kind, attempts, error = %failure.message, "email delivery failed; will retry");
            }
            if let Err(e) = outbox
                .store
                .mark_failed(&mail.id, lease, &failure.message, retry_at)
                .await
            {
                tracing::warn!(error = %e, id = %mail.id, "could not record a failed delivery");
            }
        }
    }
}

/// Records a message the SMTP server accepted. Until the record is made,
/// another node could send it again once the lease runs out, so a store
/// that cannot answer (an outage, a failover) is asked again, with a
/// growing pause, for as long as the lease leaves time.
async fn record_sent(outbox: &Outbox, id: &str, lease: i64, claimed: Instant) {
    let give_up_at = claimed + Duration::from_secs((LEASE_SECS - LEASE_MARGIN_SECS) as u64);
    let mut pause = Duration::from_millis(100);
    loop {
        match outbox.store.mark_sent(id, lease, outbox.clock.now()).await {
            Ok(true) => return,
            Ok(false) => {
                tracing::warn!(%id, "sent after this node's lease ran out");
                return;
            }
            Err(e) if Instant::now() + pause >= give_up_at => {
                tracing::error!(error = %e, %id, "sent, but could not record it; it may be sent again");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, %id, "sent, but could not record it yet; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The wait before the next attempt: `base * 2^(attempts-1)`, scaled by a
/// random factor in [0.5, 1.5) so that a burst of failures spreads out.
pub fn backoff(base_secs: i64, attempts: u32) -> i64 {
    let exponential = base_secs.saturating_mul(1_i64 << attempts.saturating_sub(1).min(20));
    let jitter: f64 = 0.5 + rand::random::<f64>();
    ((exponential as f64 * jitter) as i64).clamp(1, MAX_BACKOFF_SECS)
}

async fn update_gauges(outbox: &Outbox) {
    if let Ok((pending, dead)) = outbox.store.mail_counts().await {
        metrics::gauge!("latchkey_mail_queue_depth").set(pending as f64);
        metrics::gauge!("latchkey_mail_dead").set(dead as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        for _ in 0..100 {
            let first = backoff(30, 1);
            assert!((15..45).contains(&first), "{first}");
            let third = backoff(30, 3);
            assert!((60..180).contains(&third), "{third}");
            assert!(backoff(30, 40) <= 6 * 3600);
        }
    }
}
