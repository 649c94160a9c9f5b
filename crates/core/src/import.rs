//! Accounts brought in from another system: what a row must hold to
//! become an account. Hashes are kept as they are (the next successful
//! login re-hashes them with argon2id).

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::password_hash::format_of;
use crate::{Email, NewUser, Username};

/// One row of an import file, as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRow {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    pub password_hash: String,
    #[serde(default)]
    pub email_verified: Option<bool>,
    /// A JSON object; in CSV, its JSON text.
    #[serde(default)]
    pub custom_claims: Option<Value>,
}

/// Longest custom-claims object accepted, as JSON text.
const MAX_CLAIMS_BYTES: usize = 8 * 1024;

impl ImportRow {
    /// The account this row describes, or why it cannot be one.
    pub fn into_new_user(self) -> Result<NewUser, String> {
        let blank = |s: &Option<String>| s.as_deref().is_none_or(|v| v.trim().is_empty());
        let email = if blank(&self.email) {
            None
        } else {
            Some(
                Email::parse(self.email.as_deref().unwrap_or_default())
                    .map_err(|e| format!("email: {e}"))?,
            )
        };
        let username = if blank(&self.username) {
            None
        } else {
            Some(
                Username::parse(self.username.as_deref().unwrap_or_default())
                    .map_err(|e| format!("username: {e}"))?,
            )
        };
        if email.is_none() && username.is_none() {
            return Err("a row needs an email or a username".into());
        }
        let hash = self.password_hash.trim().to_owned();
        if format_of(&hash).is_none() {
            return Err(
                "password_hash: not a recognised argon2, bcrypt, scrypt (salt:key) or PBKDF2 hash"
                    .into(),
            );
        }
        let custom_claims = match self.custom_claims {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(map)) => map,
            // CSV carries the object as JSON text.
            Some(Value::String(text)) if text.trim().is_empty() => Map::new(),
            Some(Value::String(text)) => match serde_json::from_str(&text) {
                Ok(Value::Object(map)) => map,
                _ => return Err("custom_claims: must be a JSON object".into()),
            },
            Some(_) => return Err("custom_claims: must be a JSON object".into()),
        };
        if Value::Object(custom_claims.clone()).to_string().len() > MAX_CLAIMS_BYTES {
            return Err("custom_claims: larger than 8 KiB".into());
        }
        Ok(NewUser {
            email,
            username,
            password_hash: hash,
            email_verified: self.email_verified.unwrap_or(false),
            custom_claims,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const BCRYPT: &str = "$2b$05$fSUO/oLSH1DIYrWopIN59OVc8PWwwZgKQChMAmyedJQAxNdLemoPW";

    fn row(email: &str, username: &str, hash: &str) -> ImportRow {
        ImportRow {
            email: Some(email.into()),
            username: Some(username.into()),
            password_hash: hash.into(),
            ..ImportRow::default()
        }
    }

    #[test]
    fn a_good_row_keeps_its_hash() {
        let u = row("A@example.com", "", BCRYPT).into_new_user().unwrap();
        assert_eq!(u.email.unwrap().key(), "a@example.com");
        assert!(u.username.is_none());
        assert_eq!(u.password_hash, BCRYPT);
    }

    #[test]
    fn claims_come_as_an_object_or_its_json_text() {
        let mut r = row("a@example.com", "", BCRYPT);
        r.custom_claims = Some(Value::String(r#"{"tenant_id":"t1"}"#.into()));
        assert_eq!(
            r.clone().into_new_user().unwrap().custom_claims["tenant_id"],
            "t1"
        );
        r.custom_claims = Some(Value::String("[1]".into()));
        assert!(r.into_new_user().unwrap_err().starts_with("custom_claims"));
    }

    #[test]
    fn bad_rows_say_why() {
        assert!(
            row("", "", BCRYPT)
                .into_new_user()
                .unwrap_err()
                .contains("email or a username")
        );
        assert!(
            row("nope", "", BCRYPT)
                .into_new_user()
                .unwrap_err()
                .starts_with("email")
        );
        assert!(
            row("a@example.com", "a b", BCRYPT)
                .into_new_user()
                .unwrap_err()
                .starts_with("username")
        );
        assert!(
            row("a@example.com", "", "plaintext")
                .into_new_user()
                .unwrap_err()
                .starts_with("password_hash")
        );
    }
}
