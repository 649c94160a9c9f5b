//! Values the store takes and gives that are not core domain types.

use latchkey_core::session::Session;
use latchkey_core::token::TokenHash;
use latchkey_core::{SessionId, UnixTime, UserId};

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub user_id: UserId,
    pub token_hash: TokenHash,
    pub refresh_hash: TokenHash,
    pub now: UnixTime,
    pub expires_at: UnixTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug)]
pub enum RefreshOutcome {
    /// The presented token was current; the replacement is now.
    Rotated(Session),
    /// The presented token had been used before; its session is now ended.
    Reused(SessionId),
    /// The token was current but its session had ended or expired.
    SessionEnded,
    /// No such token.
    Unknown,
}

/// Why a session ended; stored for the audit trail and the sessions list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Logout,
    Revoked,
    PasswordChanged,
    RefreshReuse,
    Expired,
    Disabled,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Revoked => "revoked",
            Self::PasswordChanged => "password_changed",
            Self::RefreshReuse => "refresh_reuse",
            Self::Expired => "expired",
            Self::Disabled => "disabled",
        }
    }
}

/// A JWT signing key as stored: the private half encrypted with the master key.
#[derive(Clone)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub private_key_encrypted: Vec<u8>,
    pub public_jwk: String,
    pub created_at: UnixTime,
    pub retired_at: Option<UnixTime>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}
