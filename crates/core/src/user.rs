//! Accounts.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::clock::rfc3339;
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

/// The user as the API shows it: never a hash or any other secret.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub username: Option<String>,
    pub email_verified: bool,
    pub disabled: bool,
    pub custom_claims: Map<String, Value>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.as_str().to_owned(),
            username: u.username.as_ref().map(|n| n.as_str().to_owned()),
            email_verified: u.email_verified,
            disabled: u.disabled,
            custom_claims: u.custom_claims.clone(),
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}
