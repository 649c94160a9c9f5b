//! Values the store takes and gives that are not core domain types.

use latchkey_core::User;
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
    /// A session-specific idle limit; `None` follows the configuration.
    pub idle_timeout_secs: Option<i64>,
    /// How the user signed in (RFC 8176 `amr` values).
    pub amr: Vec<String>,
}

impl NewSession {
    /// The session as it stands once written.
    pub fn opened(&self) -> Session {
        Session {
            id: self.id,
            user_id: self.user_id,
            created_at: self.now,
            last_seen_at: self.now,
            expires_at: self.expires_at,
            ended_at: None,
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            idle_timeout_secs: self.idle_timeout_secs,
            authenticated_at: self.now,
            amr: self.amr.clone(),
        }
    }
}

#[derive(Debug)]
pub enum RefreshOutcome {
    /// The presented token was current; the replacement is now. The
    /// session's user comes along, so a refresh needs no second read.
    Rotated(Session, User),
    /// The presented token had been used before; its session is now ended.
    Reused(SessionId),
    /// The token was current but its session had ended.
    SessionEnded,
    /// The token was current but its session had run past its idle or
    /// absolute limit; it is now ended.
    Expired(Session),
    /// No such token.
    Unknown,
}

/// Why a session ended; stored for the audit trail and the sessions list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Logout,
    Revoked,
    PasswordChanged,
    EmailChanged,
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
            Self::EmailChanged => "email_changed",
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

/// What an emailed token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    VerifyEmail,
    ResetPassword,
    ChangeEmail,
}

impl TokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::ChangeEmail => "change_email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "verify_email" => Some(Self::VerifyEmail),
            "reset_password" => Some(Self::ResetPassword),
            "change_email" => Some(Self::ChangeEmail),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewEmailToken {
    pub hash: TokenHash,
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    /// For an email change: the address that takes effect.
    pub new_email: Option<latchkey_core::Email>,
    /// For an email change: the session that asked for it.
    pub session_id: Option<SessionId>,
    pub expires_at: UnixTime,
}

#[derive(Debug, Clone)]
pub struct EmailTokenRecord {
    pub user_id: UserId,
    pub purpose: TokenPurpose,
    pub new_email: Option<String>,
    /// The session that asked for an email change, if it was recorded.
    pub session_id: Option<SessionId>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub used_at: Option<UnixTime>,
}

/// A message to send, written with the change that causes it.
#[derive(Clone)]
pub struct NewMail {
    pub id: String,
    /// The template, e.g. `verify_email`.
    pub kind: String,
    pub recipient: String,
    /// Encrypted by the caller; it holds the message's link.
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for NewMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewMail")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailStatus {
    Pending,
    Sent,
    Dead,
}

impl MailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Dead => "dead",
        }
    }
}

#[derive(Clone)]
pub struct MailRecord {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub payload: Vec<u8>,
    pub status: MailStatus,
    pub attempts: u32,
    pub next_attempt_at: UnixTime,
    pub last_error: Option<String>,
    pub created_at: UnixTime,
    pub sent_at: Option<UnixTime>,
}

impl std::fmt::Debug for MailRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailRecord")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// One change in a [`crate::UnitOfWork`]: all of a unit's writes commit
/// together or not at all.
#[derive(Debug, Clone)]
pub enum Write {
    InsertUser {
        id: UserId,
        new: latchkey_core::NewUser,
    },
    InsertEmailToken(NewEmailToken),
    /// Fails the whole unit unless the token is unused, unexpired and of this purpose.
    ConsumeEmailToken {
        hash: TokenHash,
        purpose: TokenPurpose,
    },
    /// Marks every outstanding token of the purpose used.
    RevokeEmailTokens {
        user: UserId,
        purpose: TokenPurpose,
    },
    Enqueue(NewMail),
    SetPassword {
        user: UserId,
        hash: String,
    },
    /// Copies the user's stored hash into the password history and keeps
    /// only the newest `keep` entries (0 empties it). Goes before the
    /// [`Write::SetPassword`] that replaces that hash, in the same unit.
    RecordPasswordHistory {
        user: UserId,
        keep: u32,
    },
    /// Ends the user's open sessions, except one.
    EndSessions {
        user: UserId,
        except: Option<SessionId>,
        reason: EndReason,
    },
    MarkEmailVerified {
        user: UserId,
    },
    /// A new, verified address; fails with a conflict when it is taken.
    SetEmail {
        user: UserId,
        email: latchkey_core::Email,
    },
    /// A session and its first refresh token.
    CreateSession(NewSession),
    /// An event appended to the audit chain with the change it records.
    Audit(latchkey_core::audit::AuditEvent),
}

impl Write {
    /// The existing account this write changes (what it says about the
    /// account or its sessions), if any: what a cache of accounts and
    /// sessions must forget once the write commits.
    pub fn changes_user(&self) -> Option<UserId> {
        match self {
            Self::SetPassword { user, .. }
            | Self::EndSessions { user, .. }
            | Self::MarkEmailVerified { user }
            | Self::SetEmail { user, .. } => Some(*user),
            Self::InsertUser { .. }
            | Self::InsertEmailToken(_)
            | Self::ConsumeEmailToken { .. }
            | Self::RevokeEmailTokens { .. }
            | Self::Enqueue(_)
            | Self::RecordPasswordHistory { .. }
            | Self::CreateSession(_)
            | Self::Audit(_) => None,
        }
    }
}

/// A second factor as stored. `secret` is the master key's ciphertext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaFactor {
    pub id: String,
    pub user_id: UserId,
    /// `totp`.
    pub kind: String,
    pub name: String,
    pub secret: Vec<u8>,
    /// `None` while pending (enrolled but never confirmed with a code).
    pub confirmed_at: Option<UnixTime>,
    /// The last TOTP step accepted.
    pub last_step: Option<i64>,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}
