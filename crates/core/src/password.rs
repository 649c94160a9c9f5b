//! Passwords: any Unicode, NFKC-normalised the same way when set and when
//! checked (NIST SP 800-63B 5.1.1.2), bounded, never truncated.
//!
//! The rules here are pure. The checks that need I/O (a breached-password
//! list, the user's previous hashes) live in the server, which reports their
//! failures with the same [`PasswordRule`] names.

use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// The hard upper bound. A longer input is refused, never cut short.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A personal part (email local part, username) shorter than this is not
/// looked for in a password: "al" would reject half the dictionary.
pub const MIN_PERSONAL_PART_CHARS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordPolicy {
    /// Minimum length in characters (Unicode scalar values).
    pub min_length: usize,
    /// Composition rules (Cognito's), each off by default: NIST SP 800-63B
    /// advises against them, but some deployments must have them.
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub require_digit: bool,
    pub require_symbol: bool,
    /// How many of the user's most recent passwords, the current one
    /// included, a new password may not repeat. 0 turns the check off.
    pub history: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            require_uppercase: false,
            require_lowercase: false,
            require_digit: false,
            require_symbol: false,
            history: 5,
        }
    }
}

/// What is known about the account a new password is for, so that the
/// password can be refused for containing it.
#[derive(Debug, Clone, Copy, Default)]
pub struct PasswordContext<'a> {
    /// The part of the email address before the `@`.
    pub email_local_part: Option<&'a str>,
    pub username: Option<&'a str>,
}

/// A rule a new password failed, named so a UI can show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordRule {
    MinLength,
    MaxLength,
    /// `require_uppercase` is on and there is no uppercase letter.
    Uppercase,
    /// `require_lowercase` is on and there is no lowercase letter.
    Lowercase,
    /// `require_digit` is on and there is no digit.
    Digit,
    /// `require_symbol` is on and there is no symbol.
    Symbol,
    /// The password contains the local part of the account's email address.
    ContainsEmail,
    /// The password contains the account's username.
    ContainsUsername,
    /// The password is in a list of breached passwords (checked by the server).
    Breached,
    /// The password is one of the user's recent ones (checked by the server).
    Reused,
}

/// A failed rule with a sentence a UI can show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleFailure {
    pub rule: PasswordRule,
    pub message: String,
}

impl PasswordRule {
    pub const ALL: [Self; 10] = [
        Self::MinLength,
        Self::MaxLength,
        Self::Uppercase,
        Self::Lowercase,
        Self::Digit,
        Self::Symbol,
        Self::ContainsEmail,
        Self::ContainsUsername,
        Self::Breached,
        Self::Reused,
    ];

    /// The rule's name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MinLength => "min_length",
            Self::MaxLength => "max_length",
            Self::Uppercase => "uppercase",
            Self::Lowercase => "lowercase",
            Self::Digit => "digit",
            Self::Symbol => "symbol",
            Self::ContainsEmail => "contains_email",
            Self::ContainsUsername => "contains_username",
            Self::Breached => "breached",
            Self::Reused => "reused",
        }
    }

    /// The failure with its message; the message completes "the password …".
    pub fn failure(self, policy: &PasswordPolicy) -> RuleFailure {
        let message = match self {
            Self::MinLength => format!("must be at least {} characters long", policy.min_length),
            Self::MaxLength => format!("must be at most {MAX_PASSWORD_BYTES} bytes long"),
            Self::Uppercase => "must contain an uppercase letter".into(),
            Self::Lowercase => "must contain a lowercase letter".into(),
            Self::Digit => "must contain a digit".into(),
            Self::Symbol => {
                "must contain a symbol (a character that is not a letter or digit)".into()
            }
            Self::ContainsEmail => {
                "must not contain the part of your email address before the @".into()
            }
            Self::ContainsUsername => "must not contain your username".into(),
            Self::Breached => {
                "appears in a list of passwords exposed in data breaches; choose another".into()
            }
            Self::Reused => match policy.history {
                0 | 1 => "must not be your current password".into(),
                n => format!("must not be one of your last {n} passwords"),
            },
        };
        RuleFailure {
            rule: self,
            message,
        }
    }
}

/// A symbol as Cognito counts one: anything that is neither a letter nor a
/// digit nor a control character; a space counts unless it leads or trails.
fn has_symbol(s: &str) -> bool {
    let inner = s.trim_matches(char::is_whitespace);
    inner
        .chars()
        .any(|c| !c.is_alphanumeric() && !c.is_control())
}

/// Whether `password` holds `part` without regard to case, for a part of at
/// least [`MIN_PERSONAL_PART_CHARS`] characters.
fn contains_personal(password_lower: &str, part: Option<&str>) -> bool {
    let Some(part) = part else { return false };
    let part: String = part.trim().nfkc().collect::<String>().to_lowercase();
    part.chars().count() >= MIN_PERSONAL_PART_CHARS && password_lower.contains(&part)
}

/// A password in normalised form (NFKC). Its `Debug` never shows the
/// secret.
#[derive(Clone)]
pub struct Password {
    normalised: String,
    /// A login attempt as typed, when normalising changed it: hashes
    /// imported from systems that did not normalise were made from it.
    as_typed: Option<String>,
}

impl Password {
    /// A new password, checked against the policy and the account it is
    /// for. Every failed rule is listed.
    pub fn parse_new(
        raw: &str,
        policy: &PasswordPolicy,
        context: PasswordContext<'_>,
    ) -> Result<Self, Vec<RuleFailure>> {
        // Bounded before the work below, so a huge input costs little.
        if raw.len() > MAX_PASSWORD_BYTES * 4 {
            return Err(vec![PasswordRule::MaxLength.failure(policy)]);
        }
        let normalised: String = raw.nfkc().collect();
        let mut failed = Vec::new();
        if normalised.chars().count() < policy.min_length {
            failed.push(PasswordRule::MinLength);
        }
        if normalised.len() > MAX_PASSWORD_BYTES {
            failed.push(PasswordRule::MaxLength);
        }
        let checks = [
            (
                policy.require_uppercase,
                PasswordRule::Uppercase,
                char::is_uppercase as fn(char) -> bool,
            ),
            (
                policy.require_lowercase,
                PasswordRule::Lowercase,
                char::is_lowercase,
            ),
            (policy.require_digit, PasswordRule::Digit, char::is_numeric),
        ];
        for (required, rule, class) in checks {
            if required && !normalised.chars().any(class) {
                failed.push(rule);
            }
        }
        if policy.require_symbol && !has_symbol(&normalised) {
            failed.push(PasswordRule::Symbol);
        }
        let lower = normalised.to_lowercase();
        if contains_personal(&lower, context.email_local_part) {
            failed.push(PasswordRule::ContainsEmail);
        }
        if contains_personal(&lower, context.username) {
            failed.push(PasswordRule::ContainsUsername);
        }
        if failed.is_empty() {
            Ok(Self {
                normalised,
                as_typed: None,
            })
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
        let as_typed = (normalised != raw).then(|| raw.to_owned());
        (normalised.len() <= MAX_PASSWORD_BYTES).then_some(Self {
            normalised,
            as_typed,
        })
    }

    /// The normalised password: what is hashed and what our own hashes
    /// are checked against.
    pub fn as_bytes(&self) -> &[u8] {
        self.normalised.as_bytes()
    }

    /// A login attempt exactly as typed, if that differs from the
    /// normalised form; only for hashes imported from systems that did not
    /// normalise.
    pub fn as_typed_bytes(&self) -> Option<&[u8]> {
        self.as_typed.as_deref().map(str::as_bytes)
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

    fn none() -> PasswordContext<'static> {
        PasswordContext::default()
    }

    fn rules(
        raw: &str,
        policy: &PasswordPolicy,
        context: PasswordContext<'_>,
    ) -> Vec<PasswordRule> {
        match Password::parse_new(raw, policy, context) {
            Ok(_) => Vec::new(),
            Err(failed) => failed.into_iter().map(|f| f.rule).collect(),
        }
    }

    #[test]
    fn composition_rules_are_off_by_default() {
        let policy = PasswordPolicy::default();
        assert!(rules("alllowercase", &policy, none()).is_empty());
        assert!(rules("ALLUPPERCASE", &policy, none()).is_empty());
    }

    #[test]
    fn each_composition_rule_is_named_when_on() {
        let policy = PasswordPolicy {
            require_uppercase: true,
            require_lowercase: true,
            require_digit: true,
            require_symbol: true,
            ..PasswordPolicy::default()
        };
        assert_eq!(
            rules("abcdefgh", &policy, none()),
            vec![
                PasswordRule::Uppercase,
                PasswordRule::Digit,
                PasswordRule::Symbol
            ]
        );
        assert_eq!(
            rules("ABCDEFG1", &policy, none()),
            vec![PasswordRule::Lowercase, PasswordRule::Symbol]
        );
        assert!(rules("Abcdefg1!", &policy, none()).is_empty());
        // Unicode letters count as letters, and a space inside counts as a
        // symbol (Cognito), but not one at either end.
        assert!(rules("Ärger über 1", &policy, none()).is_empty());
        assert_eq!(
            rules(" Abcdefg1 ", &policy, none()),
            vec![PasswordRule::Symbol]
        );
        // Full-width digits are digits after NFKC.
        assert!(rules("Abcdefg\u{ff11}#", &policy, none()).is_empty());
        let failed = Password::parse_new("abcdefgh", &policy, none()).unwrap_err();
        assert_eq!(failed[0].message, "must contain an uppercase letter");
    }

    #[test]
    fn the_email_local_part_and_username_are_refused_without_regard_to_case() {
        let policy = PasswordPolicy::default();
        let ada = PasswordContext {
            email_local_part: Some("ada.lovelace"),
            username: Some("Countess"),
        };
        assert_eq!(
            rules("my-ADA.Lovelace-pw", &policy, ada),
            vec![PasswordRule::ContainsEmail]
        );
        assert_eq!(
            rules("the countess of code", &policy, ada),
            vec![PasswordRule::ContainsUsername]
        );
        assert_eq!(
            rules("xxCOUNTESSada.lovelace", &policy, ada),
            vec![PasswordRule::ContainsEmail, PasswordRule::ContainsUsername]
        );
        assert!(rules("analytical engine", &policy, ada).is_empty());
        let failed = Password::parse_new("ada.lovelace!", &policy, ada).unwrap_err();
        assert_eq!(
            failed[0].message,
            "must not contain the part of your email address before the @"
        );
    }

    #[test]
    fn short_personal_parts_are_not_looked_for() {
        let policy = PasswordPolicy::default();
        let short = PasswordContext {
            email_local_part: Some("al"),
            username: Some("x"),
        };
        assert!(rules("always alert x", &policy, short).is_empty());
        let three = PasswordContext {
            email_local_part: Some("bob"),
            username: None,
        };
        assert_eq!(
            rules("thebobpassword", &policy, three),
            vec![PasswordRule::ContainsEmail]
        );
    }

    #[test]
    fn every_failed_rule_is_listed_at_once() {
        let policy = PasswordPolicy {
            require_digit: true,
            ..PasswordPolicy::default()
        };
        let ctx = PasswordContext {
            email_local_part: Some("eve"),
            username: None,
        };
        assert_eq!(
            rules("eve", &policy, ctx),
            vec![
                PasswordRule::MinLength,
                PasswordRule::Digit,
                PasswordRule::ContainsEmail
            ]
        );
    }

    #[test]
    fn server_side_rules_have_names_and_messages() {
        let policy = PasswordPolicy::default();
        let breached = PasswordRule::Breached.failure(&policy);
        assert_eq!(serde_json::to_value(&breached).unwrap()["rule"], "breached");
        let reused = PasswordRule::Reused.failure(&policy);
        assert_eq!(serde_json::to_value(&reused).unwrap()["rule"], "reused");
        assert_eq!(reused.message, "must not be one of your last 5 passwords");
        for rule in [
            PasswordRule::MinLength,
            PasswordRule::MaxLength,
            PasswordRule::Uppercase,
            PasswordRule::Lowercase,
            PasswordRule::Digit,
            PasswordRule::Symbol,
            PasswordRule::ContainsEmail,
            PasswordRule::ContainsUsername,
            PasswordRule::Breached,
            PasswordRule::Reused,
        ] {
            assert_eq!(serde_json::to_value(rule).unwrap(), rule.as_str());
        }
    }

    #[test]
    fn the_policy_reads_from_config_with_defaults() {
        let policy: PasswordPolicy =
            serde_json::from_str(r#"{"require_symbol": true, "history": 3}"#).unwrap();
        assert!(policy.require_symbol && !policy.require_digit);
        assert_eq!((policy.min_length, policy.history), (8, 3));
        assert!(serde_json::from_str::<PasswordPolicy>(r#"{"require_emoji": true}"#).is_err());
    }

    #[test]
    fn length_is_counted_in_characters() {
        let policy = PasswordPolicy::default();
        assert!(Password::parse_new("ab€dé🙂gh", &policy, none()).is_ok());
        let failed = Password::parse_new("short", &policy, none()).unwrap_err();
        assert_eq!(failed[0].rule, PasswordRule::MinLength);
        assert_eq!(failed[0].message, "must be at least 8 characters long");
    }

    #[test]
    fn over_the_cap_is_refused_not_truncated() {
        let policy = PasswordPolicy::default();
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        let failed = Password::parse_new(&long, &policy, none()).unwrap_err();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].rule, PasswordRule::MaxLength);
        assert!(Password::parse_attempt(&long).is_none());
        assert!(Password::parse_new(&"x".repeat(MAX_PASSWORD_BYTES), &policy, none()).is_ok());
    }

    #[test]
    fn normalised_the_same_way_at_set_and_check() {
        let policy = PasswordPolicy::default();
        // "é" precomposed vs "e" + combining acute.
        let set = Password::parse_new("caf\u{e9}-secret", &policy, none()).unwrap();
        let check = Password::parse_attempt("cafe\u{301}-secret").unwrap();
        assert_eq!(set.as_bytes(), check.as_bytes());
    }

    #[test]
    fn debug_hides_the_secret() {
        let p = Password::parse_attempt("hunter22").unwrap();
        assert!(!format!("{p:?}").contains("hunter"));
    }
}
