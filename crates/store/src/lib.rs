//! Persistence. One trait set ([`Store`]), two implementations (SQLite and
//! Postgres) generated from the same SQL, chosen once by [`connect`].
//! Every method that writes commits before it returns.

mod connect;
pub mod ephemeral;
mod error;
mod group_commit;
mod model;
mod rows;
mod sql;
mod sql_audit;
mod sql_mfa;
mod sql_outbox;
mod sql_unit_of_work;

pub mod postgres;
pub mod sqlite;
pub mod testing;

use async_trait::async_trait;
use latchkey_core::session::SessionPolicy;
use latchkey_core::token::TokenHash;
use latchkey_core::{NewUser, SessionId, UnixTime, User, UserId, session::Session};

pub use connect::{Backend, connect, migrate, sqlite_url_in};
pub use error::{Conflict, StoreError};
pub use model::{
    EmailTokenRecord, EndReason, MailRecord, MailStatus, MfaFactor, NewEmailToken, NewMail,
    NewSession, RefreshOutcome, StoredKey, TokenPurpose, Write,
};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Fails with [`StoreError::Conflict`] when the email or username is taken.
    async fn create_user(&self, new: NewUser, now: UnixTime) -> Result<User>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>>;
    /// Looks up by [`latchkey_core::Email::key`].
    async fn user_by_email(&self, email_key: &str) -> Result<Option<User>>;
    /// Looks up by [`latchkey_core::Username::key`].
    async fn user_by_username(&self, username_key: &str) -> Result<Option<User>>;
    /// Users ordered by creation, `limit` after the id `after`.
    async fn list_users(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>>;
    /// Returns false when there is no such user. Disabling ends every session.
    async fn set_disabled(&self, id: UserId, disabled: bool, now: UnixTime) -> Result<bool>;
    /// Replaces the stored hash (a rehash after login) without ending sessions.
    async fn replace_password_hash(&self, id: UserId, hash: &str, now: UnixTime) -> Result<()>;
    /// Up to `limit` of the user's previous password hashes, newest first
    /// (kept by [`Write::RecordPasswordHistory`]).
    async fn password_history(&self, id: UserId, limit: u32) -> Result<Vec<String>>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Creates a session and its first refresh token in one transaction.
    async fn create_session(&self, new: NewSession) -> Result<Session>;
    /// The session a cookie token belongs to.
    async fn session_by_token(&self, token: &TokenHash) -> Result<Option<(Session, User)>>;
    async fn session_with_user(&self, id: SessionId) -> Result<Option<(Session, User)>>;
    /// Records activity; keeps an idle session alive.
    async fn touch_session(&self, id: SessionId, now: UnixTime) -> Result<()>;
    /// Records that the user proved who they are again in this session
    /// (reauthentication). False if the session has ended or is unknown.
    async fn mark_authenticated(&self, id: SessionId, now: UnixTime) -> Result<bool>;
    /// Rotates a refresh token atomically: of two concurrent calls with the
    /// same token exactly one gets [`RefreshOutcome::Rotated`]. Presenting a
    /// token that was already rotated ends the whole session.
    async fn rotate_refresh_token(
        &self,
        presented: &TokenHash,
        replacement: &TokenHash,
        now: UnixTime,
        policy: &SessionPolicy,
    ) -> Result<RefreshOutcome>;
    /// Ends one session of a user (with its refresh tokens). False if the
    /// user has no such open session.
    async fn end_session(
        &self,
        user: UserId,
        id: SessionId,
        now: UnixTime,
        reason: EndReason,
    ) -> Result<bool>;
    /// Sessions of a user that have not been ended (expiry is the caller's rule).
    async fn open_sessions(&self, user: UserId) -> Result<Vec<Session>>;
    /// Deletes sessions that ended, or passed their absolute limit, before
    /// `before`, with their refresh tokens. Returns how many sessions.
    async fn prune_sessions(&self, before: UnixTime) -> Result<u64>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Adds a signing key; with `retire_others`, every current key is marked
    /// retired in the same transaction (it stays published until it expires).
    async fn add_signing_key(&self, key: StoredKey, retire_others: bool) -> Result<()>;
    async fn signing_keys(&self) -> Result<Vec<StoredKey>>;
}

/// Several writes committed together: the change and the mail it causes.
#[async_trait]
pub trait UnitOfWork: Send + Sync {
    /// Applies the writes in order in one transaction. A failed
    /// [`Write::ConsumeEmailToken`] gives [`StoreError::TokenUnusable`] and
    /// nothing is written.
    async fn apply(&self, writes: Vec<Write>, now: UnixTime) -> Result<()>;
    async fn email_token(&self, hash: &TokenHash) -> Result<Option<EmailTokenRecord>>;
}

/// The hash-chained audit trail.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an event at the head of the chain; returns its sequence number.
    async fn append_audit(&self, event: &latchkey_core::audit::AuditEvent) -> Result<i64>;
    /// Events in chain order after `after_seq`, optionally of one user and
    /// from a time on.
    async fn audit_events(
        &self,
        user: Option<UserId>,
        since: Option<UnixTime>,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<latchkey_core::audit::AuditRecord>>;
    /// A user's latest events, newest first.
    async fn recent_audit_events(
        &self,
        user: UserId,
        limit: u32,
    ) -> Result<Vec<latchkey_core::audit::AuditRecord>>;
    /// Where the stored chain starts (first seq and the hash it follows) and its head seq.
    async fn audit_bounds(&self) -> Result<(i64, Vec<u8>, i64)>;
    /// Deletes events older than `before`, keeping the rest verifiable.
    async fn prune_audit(&self, before: UnixTime) -> Result<u64>;
}

/// Unlocks of login lockouts (by an operator, or a password reset), by
/// identifier hash: what tells a node that a lock it holds was lifted.
#[async_trait]
pub trait UnlockStore: Send + Sync {
    /// Records an unlock at `now`. Each unlock of an identifier reads
    /// later than the one before, even within one second or from a clock
    /// that is behind (it is then the previous value plus one), so a lock
    /// that saw the previous value knows it was lifted.
    async fn record_unlock(&self, identifiers: &[String], now: UnixTime) -> Result<()>;
    async fn last_unlock(&self, identifier: &str) -> Result<Option<UnixTime>>;
}

/// Second factors, recovery codes, and the tokens between a password and
/// its second step.
#[async_trait]
pub trait MfaStore: Send + Sync {
    async fn add_factor(&self, factor: &MfaFactor) -> Result<()>;
    /// A user's factors, pending ones included, oldest first.
    async fn factors(&self, user: UserId) -> Result<Vec<MfaFactor>>;
    /// Records `step` as used (and confirms a pending factor) unless the
    /// factor already accepted this step or a later one: of two concurrent
    /// uses of one code exactly one gets true.
    async fn accept_step(&self, user: UserId, id: &str, step: i64, now: UnixTime) -> Result<bool>;
    /// False if the user has no such factor. Removing the last confirmed
    /// factor also removes the recovery codes.
    async fn delete_factor(&self, user: UserId, id: &str) -> Result<bool>;
    /// Replaces the user's recovery codes (SHA-256 hashes) with a new set.
    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: &[[u8; 32]],
        now: UnixTime,
    ) -> Result<()>;
    /// Marks a code used; false if it is not the user's or was used.
    async fn use_recovery_code(&self, user: UserId, hash: &[u8; 32], now: UnixTime)
    -> Result<bool>;
    async fn recovery_codes_left(&self, user: UserId) -> Result<u32>;
    async fn create_mfa_token(
        &self,
        hash: &TokenHash,
        user: UserId,
        expires_at: UnixTime,
    ) -> Result<()>;
    /// Spends a token: its user, once, and only before it expires.
    async fn take_mfa_token(&self, hash: &TokenHash, now: UnixTime) -> Result<Option<UserId>>;
}

/// The outbox: messages waiting to be sent, sent, or given up on.
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Leases up to `limit` due messages for `lease_secs`; on Postgres rows
    /// another node holds are skipped (`FOR UPDATE SKIP LOCKED`).
    async fn claim_mail(
        &self,
        now: UnixTime,
        lease_secs: i64,
        limit: u32,
    ) -> Result<Vec<MailRecord>>;
    /// Records delivery and forgets the payload. `lease` is the claim's
    /// `locked_until`: a node whose lease ran out (and whose message another
    /// node may have claimed since) changes nothing. False when that happened.
    async fn mark_sent(&self, id: &str, lease: UnixTime, now: UnixTime) -> Result<bool>;
    /// Records a failed attempt under the same lease rule; `retry_at: None`
    /// marks the message dead.
    async fn mark_failed(
        &self,
        id: &str,
        lease: UnixTime,
        error: &str,
        retry_at: Option<UnixTime>,
    ) -> Result<bool>;
    /// Newest first.
    async fn list_mail(&self, status: Option<MailStatus>, limit: u32) -> Result<Vec<MailRecord>>;
    /// Puts a dead message back in the queue; false if there is no such dead message.
    async fn requeue_mail(&self, id: &str, now: UnixTime) -> Result<bool>;
    /// How many messages wait (pending) and how many are dead.
    async fn mail_counts(&self) -> Result<(u64, u64)>;
}

/// Everything Latchkey remembers.
#[async_trait]
pub trait Store:
    UserStore
    + SessionStore
    + KeyStore
    + UnitOfWork
    + Outbox
    + UnlockStore
    + AuditStore
    + MfaStore
    + std::fmt::Debug
{
    fn backend(&self) -> Backend;
    /// Answers when the database does.
    async fn ping(&self) -> Result<()>;
    /// Brings the schema up to date (embedded migrations).
    async fn migrate(&self) -> Result<()>;
}
