//! The audit trail: security events, hash-chained so that a changed,
//! removed or inserted row shows. Each row's hash covers its content and the
//! previous row's hash; the first row's "previous" is 32 zero bytes (or,
//! after pruning, the hash of the last pruned row, kept as a checkpoint).

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{UnixTime, UserId};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    Registration,
    EmailVerification,
    LoginSucceeded,
    LoginFailed,
    Logout,
    SessionCreated,
    SessionEnded,
    SessionExpired,
    RefreshTokenReuse,
    PasswordChanged,
    PasswordResetRequested,
    PasswordResetCompleted,
    EmailChangeRequested,
    EmailChanged,
    Lockout,
    Unlock,
    AccountDisabled,
    AccountEnabled,
    KeysRotated,
    MfaEnrolled,
    MfaRemoved,
    MfaVerified,
    MfaFailed,
    RecoveryCodeUsed,
}

impl AuditKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::EmailVerification => "email_verification",
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::Logout => "logout",
            Self::SessionCreated => "session_created",
            Self::SessionEnded => "session_ended",
            Self::SessionExpired => "session_expired",
            Self::RefreshTokenReuse => "refresh_token_reuse",
            Self::PasswordChanged => "password_changed",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordResetCompleted => "password_reset_completed",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::Lockout => "lockout",
            Self::Unlock => "unlock",
            Self::AccountDisabled => "account_disabled",
            Self::AccountEnabled => "account_enabled",
            Self::KeysRotated => "keys_rotated",
            Self::MfaEnrolled => "mfa_enrolled",
            Self::MfaRemoved => "mfa_removed",
            Self::MfaVerified => "mfa_verified",
            Self::MfaFailed => "mfa_failed",
            Self::RecoveryCodeUsed => "recovery_code_used",
        }
    }
}

/// An event as recorded, before it gets its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: UnixTime,
    pub kind: String,
    /// `success`, or why not (e.g. `wrong_password`, `unknown_account`).
    pub result: String,
    pub user_id: Option<UserId>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// Extra facts as a JSON object (never a secret).
    pub detail: String,
}

impl AuditEvent {
    pub fn new(kind: AuditKind, result: &str, at: UnixTime) -> Self {
        Self {
            at,
            kind: kind.as_str().to_owned(),
            result: result.to_owned(),
            user_id: None,
            ip: None,
            user_agent: None,
            request_id: None,
            detail: "{}".into(),
        }
    }

    /// The row's hash: SHA-256 over the previous hash and every field, each
    /// length-prefixed so no two different rows can hash the same input.
    pub fn chain_hash(&self, seq: i64, previous: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"latchkey-audit-v1");
        h.update(previous);
        let user = self.user_id.map(|u| u.to_string()).unwrap_or_default();
        let fields: [&[u8]; 9] = [
            &seq.to_be_bytes(),
            &self.at.to_be_bytes(),
            self.kind.as_bytes(),
            self.result.as_bytes(),
            user.as_bytes(),
            self.ip.as_deref().unwrap_or_default().as_bytes(),
            self.user_agent.as_deref().unwrap_or_default().as_bytes(),
            self.request_id.as_deref().unwrap_or_default().as_bytes(),
            self.detail.as_bytes(),
        ];
        for field in fields {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field);
        }
        h.finalize().into()
    }
}

/// The chain's start.
pub const GENESIS: [u8; 32] = [0; 32];

/// A stored row: the event, its place and its hashes.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub seq: i64,
    pub event: AuditEvent,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// What `audit verify` found first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainBreak {
    /// The row's content no longer matches its hash.
    Changed { seq: i64 },
    /// The row does not follow the one before it: rows were removed or
    /// inserted before it.
    Broken { seq: i64, expected_seq: i64 },
}

/// Walks rows in order from a starting point (the genesis or the pruning
/// checkpoint) and reports the first break.
#[derive(Debug)]
pub struct ChainCheck {
    expected_seq: i64,
    previous: Vec<u8>,
    pub checked: u64,
}

impl ChainCheck {
    pub fn start(first_seq: i64, previous: Vec<u8>) -> Self {
        Self {
            expected_seq: first_seq,
            previous,
            checked: 0,
        }
    }

    pub fn next(&mut self, row: &AuditRecord) -> Result<(), ChainBreak> {
        if row.seq != self.expected_seq || row.prev_hash != self.previous {
            return Err(ChainBreak::Broken {
                seq: row.seq,
                expected_seq: self.expected_seq,
            });
        }
        if row.event.chain_hash(row.seq, &row.prev_hash).as_slice() != row.hash.as_slice() {
            return Err(ChainBreak::Changed { seq: row.seq });
        }
        self.expected_seq = row.seq + 1;
        self.previous.clone_from(&row.hash);
        self.checked += 1;
        Ok(())
    }

    /// After the last row: the chain must end where its head says.
    pub fn finish(&self, head_seq: i64) -> Result<(), ChainBreak> {
        if self.expected_seq != head_seq + 1 {
            return Err(ChainBreak::Broken {
                seq: head_seq,
                expected_seq: self.expected_seq,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_vec();
        (1..=n)
            .map(|seq| {
                let mut event =
                    AuditEvent::new(AuditKind::LoginFailed, "wrong_password", 1000 + seq);
                event.ip = Some("192.0.2.1".into());
                let hash = event.chain_hash(seq, &prev).to_vec();
                let row = AuditRecord {
                    seq,
                    event,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                row
            })
            .collect()
    }

    fn check(rows: &[AuditRecord], head: i64) -> Result<(), ChainBreak> {
        let mut c = ChainCheck::start(1, GENESIS.to_vec());
        for r in rows {
            c.next(r)?;
        }
        c.finish(head)
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(check(&chain(5), 5), Ok(()));
    }

    #[test]
    fn a_changed_row_is_named() {
        let mut rows = chain(5);
        rows[2].event.result = "success".into();
        assert_eq!(check(&rows, 5), Err(ChainBreak::Changed { seq: 3 }));
    }

    #[test]
    fn a_removed_or_inserted_row_breaks_the_chain() {
        let mut rows = chain(5);
        rows.remove(1);
        assert_eq!(
            check(&rows, 5),
            Err(ChainBreak::Broken {
                seq: 3,
                expected_seq: 2
            })
        );
        let rows = chain(5);
        assert_eq!(
            check(&rows[..4], 5),
            Err(ChainBreak::Broken {
                seq: 5,
                expected_seq: 5
            })
        );
        let mut rows = chain(5);
        let mut forged = rows[1].clone();
        forged.event.kind = "login_succeeded".into();
        forged.hash = forged
            .event
            .chain_hash(forged.seq, &forged.prev_hash)
            .to_vec();
        rows[1] = forged;
        assert_eq!(
            check(&rows, 5),
            Err(ChainBreak::Broken {
                seq: 3,
                expected_seq: 3
            })
        );
    }
}
