//! Passwords: any Unicode, NFKC-normalised the same way when set and when
//! checked (NIST SP 800-63B 5.1.1.2), bounded, never truncated.

use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// The hard upper bound. A longer input is refused, never cut short.
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordPolicy {
    /// Minimum length in characters (Unicode scalar values).
    pub min_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_length: 8 }
    }
}

/// A rule a new password failed, named so a UI can show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordRule {
    MinLength,
    MaxLength,
}

/// A failed rule with a sentence a UI can show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleFailure {
    pub rule: PasswordRule,
    pub message: String,
}

impl PasswordRule {
    fn failure(self, policy: &PasswordPolicy) -> RuleFailure {
        let message = match self {
            Self::MinLength => format!("must be at least {} characters long", policy.min_length),
            Self::MaxLength => format!("must be at most {MAX_PASSWORD_BYTES} bytes long"),
        };
        RuleFailure {
            rule: self,
            message,
        }
    }
}

/// A password in normalised form. Its `Debug` never shows the secret.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// A new password, checked against the policy. Every failed rule is listed.
    pub fn parse_new(raw: &str, policy: &PasswordPolicy) -> Result<Self, Vec<RuleFailure>> {
        let normalised: String = raw.nfkc().collect();
        let mut failed = Vec::new();
        if normalised.chars().count() < policy.min_length {
            failed.push(PasswordRule::MinLength);
        }
        if normalised.len() > MAX_PASSWORD_BYTES {
            failed.push(PasswordRule::MaxLength);
        }
        if failed.is_empty() {
            Ok(Self(normalised))
        } else {
            Err(failed.into_iter().map(|r| r.failure(policy)).collect())
        }
    }

    /// A password offered at login. No policy applies (the policy may have
    /// changed since it was set), only the size bound; `None` if over it.
    pub fn parse_attempt(raw: &str) -> Option<Self> {
        if raw.len() > MAX_PASSWORD_BYTES * 4 {
            return None;
        }
        let normalised: String = raw.nfkc().collect();
        (normalised.len() <= MAX_PASSWORD_BYTES).then_some(Self(normalised))
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_characters() {
        let policy = PasswordPolicy::default();
        assert!(Password::parse_new("ab€dé🙂gh", &policy).is_ok());
        let failed = Password::parse_new("short", &policy).unwrap_err();
        assert_eq!(failed[0].rule, PasswordRule::MinLength);
        assert_eq!(failed[0].message, "must be at least 8 characters long");
    }

    #[test]
    fn over_the_cap_is_refused_not_truncated() {
        let policy = PasswordPolicy::default();
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        let failed = Password::parse_new(&long, &policy).unwrap_err();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].rule, PasswordRule::MaxLength);
        assert!(Password::parse_attempt(&long).is_none());
        assert!(Password::parse_new(&"x".repeat(MAX_PASSWORD_BYTES), &policy).is_ok());
    }

    #[test]
    fn normalised_the_same_way_at_set_and_check() {
        let policy = PasswordPolicy::default();
        // "é" precomposed vs "e" + combining acute.
        let set = Password::parse_new("caf\u{e9}-secret", &policy).unwrap();
        let check = Password::parse_attempt("cafe\u{301}-secret").unwrap();
        assert_eq!(set.as_bytes(), check.as_bytes());
    }

    #[test]
    fn debug_hides_the_secret() {
        let p = Password::parse_attempt("hunter22").unwrap();
        assert!(!format!("{p:?}").contains("hunter"));
    }
}
