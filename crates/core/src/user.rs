//! Accounts.

use serde_json::{Map, Value};

use crate::{Email, UnixTime, UserId, Username};

#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    /// At least one of email and username is set.
    pub email: Option<Email>,
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
    pub email: Option<Email>,
    pub username: Option<Username>,
    pub password_hash: String,
    pub email_verified: bool,
    pub custom_claims: Map<String, Value>,
}

impl User {
    /// The address mail goes to, if the account has one.
    pub fn email_str(&self) -> Option<&str> {
        self.email.as_ref().map(Email::as_str)
    }

    /// Whether the account may log in before verifying its address: only
    /// an address can be unverified, so accounts without one never wait.
    pub fn awaits_verification(&self) -> bool {
        self.email.is_some() && !self.email_verified
    }
}
