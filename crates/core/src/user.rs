//! Accounts.

use serde_json::{Map, Value};

use crate::{Email, UnixTime, UserId, Username};

#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub username: Option<Username>,
    /// PHC string (argon2id, or an imported legacy format).
    pub password_hash: String,
    pub email_verified: bool,
    pub disabled: bool,
    /// Claims copied into tokens, e.g. `tenant_id`, `roles`.
    pub custom_claims: Map<String, Value>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// What an account creation needs; the store fills in the rest.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub username: Option<Username>,
    pub password_hash: String,
    pub email_verified: bool,
    pub custom_claims: Map<String, Value>,
}
