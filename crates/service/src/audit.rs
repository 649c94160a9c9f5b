//! Recording security events: one call, which also counts them under the
//! metric names SUMA Finance's dashboards use.

use latchkey_core::UserId;
use latchkey_core::audit::{AuditEvent, AuditKind};
use serde_json::Value;

/// How many events `GET /api/v1/me/events` shows.
pub const RECENT_EVENTS: u32 = 50;

use crate::context::{ClientInfo, Ctx, Principal};

impl Ctx {
    /// Appends an event to the audit chain. A failure to record is logged
    /// loudly but does not undo what already happened.
    pub(crate) async fn audit(
        &self,
        kind: AuditKind,
        result: &str,
        user: Option<UserId>,
        client: Option<&ClientInfo>,
        detail: Value,
    ) {
        let event = self.audit_event(kind, result, user, client, detail);
        if let Err(e) = self.store.append_audit(&event).await {
            metrics::counter!("latchkey_audit_write_failures_total").increment(1);
            tracing::error!(error = %e, kind = kind.as_str(), "could not record an audit event");
        }
    }

    /// An event to record (and count), for a unit of work that records it
    /// together with its change ([`latchkey_store::Write::Audit`]).
    pub(crate) fn audit_event(
        &self,
        kind: AuditKind,
        result: &str,
        user: Option<UserId>,
        client: Option<&ClientInfo>,
        detail: Value,
    ) -> AuditEvent {
        count(kind, result);
        let mut event = AuditEvent::new(kind, result, self.clock.now());
        event.user_id = user;
        if let Some(c) = client {
            event.ip.clone_from(&c.ip);
            event.user_agent.clone_from(&c.user_agent);
            event.request_id.clone_from(&c.request_id);
        }
        if !detail.is_null() {
            event.detail = detail.to_string();
        }
        event
    }

    /// Records that the signed-in caller did something, successfully.
    pub(crate) async fn audit_success(
        &self,
        principal: &Principal,
        kind: AuditKind,
        detail: Value,
    ) {
        self.audit(
            kind,
            "success",
            Some(principal.user.id),
            Some(&principal.client),
            detail,
        )
        .await;
    }

    /// Deletes audit events past the retention period (the chain stays
    /// verifiable from its checkpoint).
    pub(crate) async fn prune_audit(&self) {
        let days = i64::from(self.config.audit_retention_days);
        if days == 0 {
            return;
        }
        match self
            .store
            .prune_audit(self.clock.now() - days * 86_400)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "pruned audit events past retention"),
            Err(e) => tracing::warn!(error = %e, "could not prune the audit trail"),
        }
    }
}

fn count(kind: AuditKind, result: &str) {
    let ok = result == "success";
    match kind {
        AuditKind::Registration if ok => {
            metrics::counter!("latchkey_auth_registration_total").increment(1)
        }
        AuditKind::EmailVerification if ok => {
            metrics::counter!("latchkey_auth_email_verification_completed_total").increment(1);
        }
        AuditKind::SessionCreated => {
            metrics::counter!("latchkey_auth_session_created_total").increment(1)
        }
        AuditKind::SessionExpired => {
            metrics::counter!("latchkey_auth_session_expired_total").increment(1)
        }
        _ => {}
    }
}
