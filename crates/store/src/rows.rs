//! Rows as the database returns them, and their conversion to domain types.

use latchkey_core::session::Session;
use latchkey_core::{Email, SessionId, User, UserId, Username};

use crate::{StoreError, StoredKey};

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    email: Option<String>,
    username: Option<String>,
    password_hash: String,
    email_verified: bool,
    disabled: bool,
    custom_claims: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        let id = UserId::parse(&r.id).ok_or_else(|| corrupt("users.id", &r.id))?;
        let custom_claims = serde_json::from_str(&r.custom_claims)
            .map_err(|_| corrupt("users.custom_claims", &r.id))?;
        Ok(User {
            id,
            email: r.email.map(Email::from_stored),
            username: r.username.map(Username::from_stored),
            password_hash: r.password_hash,
            email_verified: r.email_verified,
            disabled: r.disabled,
            custom_claims,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    s_id: String,
    s_user_id: String,
    s_created_at: i64,
    s_last_seen_at: i64,
    s_expires_at: i64,
    s_ended_at: Option<i64>,
    s_ip: Option<String>,
    s_user_agent: Option<String>,
    s_idle_timeout_secs: Option<i64>,
    s_authenticated_at: Option<i64>,
    s_amr: String,
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;

    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        Ok(Session {
            id: SessionId::parse(&r.s_id).ok_or_else(|| corrupt("sessions.id", &r.s_id))?,
            user_id: UserId::parse(&r.s_user_id)
                .ok_or_else(|| corrupt("sessions.user_id", &r.s_id))?,
            created_at: r.s_created_at,
            last_seen_at: r.s_last_seen_at,
            expires_at: r.s_expires_at,
            ended_at: r.s_ended_at,
            ip: r.s_ip,
            user_agent: r.s_user_agent,
            idle_timeout_secs: r.s_idle_timeout_secs,
            authenticated_at: r.s_authenticated_at.unwrap_or(r.s_created_at),
            amr: r.s_amr.split_whitespace().map(str::to_owned).collect(),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SessionUserRow {
    #[sqlx(flatten)]
    session: SessionRow,
    #[sqlx(flatten)]
    user: UserRow,
}

impl TryFrom<SessionUserRow> for (Session, User) {
    type Error = StoreError;

    fn try_from(r: SessionUserRow) -> Result<Self, StoreError> {
        Ok((r.session.try_into()?, r.user.try_into()?))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    kid: String,
    alg: String,
    private_key: Vec<u8>,
    public_jwk: String,
    created_at: i64,
    retired_at: Option<i64>,
}

impl From<KeyRow> for StoredKey {
    fn from(r: KeyRow) -> Self {
        StoredKey {
            kid: r.kid,
            alg: r.alg,
            private_key_encrypted: r.private_key,
            public_jwk: r.public_jwk,
            created_at: r.created_at,
            retired_at: r.retired_at,
        }
    }
}

fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} of row {id}"))
}

#[derive(sqlx::FromRow)]
pub(crate) struct EmailTokenRow {
    user_id: String,
    purpose: String,
    new_email: Option<String>,
    session_id: Option<String>,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl TryFrom<EmailTokenRow> for crate::EmailTokenRecord {
    type Error = StoreError;

    fn try_from(r: EmailTokenRow) -> Result<Self, StoreError> {
        Ok(Self {
            user_id: UserId::parse(&r.user_id)
                .ok_or_else(|| corrupt("email_tokens.user_id", &r.user_id))?,
            purpose: crate::TokenPurpose::parse(&r.purpose)
                .ok_or_else(|| corrupt("email_tokens.purpose", &r.user_id))?,
            new_email: r.new_email,
            // An unreadable session id keeps no session: all of them end.
            session_id: r.session_id.as_deref().and_then(SessionId::parse),
            created_at: r.created_at,
            expires_at: r.expires_at,
            used_at: r.used_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MailRow {
    id: String,
    kind: String,
    recipient: String,
    payload: Vec<u8>,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
}

impl TryFrom<MailRow> for crate::MailRecord {
    type Error = StoreError;

    fn try_from(r: MailRow) -> Result<Self, StoreError> {
        let status = match r.status.as_str() {
            "pending" => crate::MailStatus::Pending,
            "sent" => crate::MailStatus::Sent,
            "dead" => crate::MailStatus::Dead,
            _ => return Err(corrupt("outbox.status", &r.id)),
        };
        Ok(Self {
            status,
            attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
            id: r.id,
            kind: r.kind,
            recipient: r.recipient,
            payload: r.payload,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            created_at: r.created_at,
            sent_at: r.sent_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    seq: i64,
    at: i64,
    kind: String,
    result: String,
    user_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    detail: String,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

impl TryFrom<AuditRow> for latchkey_core::audit::AuditRecord {
    type Error = StoreError;

    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        let user_id = match &r.user_id {
            Some(id) => Some(UserId::parse(id).ok_or_else(|| corrupt("audit_events.user_id", id))?),
            None => None,
        };
        Ok(Self {
            seq: r.seq,
            event: latchkey_core::audit::AuditEvent {
                at: r.at,
                kind: r.kind,
                result: r.result,
                user_id,
                ip: r.ip,
                user_agent: r.user_agent,
                request_id: r.request_id,
                detail: r.detail,
            },
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
    }
}
