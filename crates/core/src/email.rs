//! Email addresses: trimmed, NFKC-normalised, matched case-insensitively.
//!
//! The lookup key lower-cases with Unicode's simple lowercase mapping only.
//! Unlike comparisons through upper case (Django CVE-2019-19844), that never
//! merges distinct letters: `ı` (dotless i) stays `ı`, so `ı@x` and `i@x`
//! remain two addresses.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// RFC 5321: 64 octets of local part, 254 for the whole path.
const MAX_LOCAL_BYTES: usize = 64;
const MAX_BYTES: usize = 254;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email {
    display: String,
    key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("the email address is empty")]
    Empty,
    #[error("the email address is longer than 254 bytes")]
    TooLong,
    #[error("the email address must have one @ with text on both sides")]
    Shape,
    #[error("the email address contains a space or a control character")]
    BadCharacter,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let display: String = raw.trim().nfkc().collect();
        if display.is_empty() {
            return Err(EmailError::Empty);
        }
        if display.len() > MAX_BYTES {
            return Err(EmailError::TooLong);
        }
        if display.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"' | '\\')
        }) {
            return Err(EmailError::BadCharacter);
        }
        let (local, domain) = display.rsplit_once('@').ok_or(EmailError::Shape)?;
        if local.is_empty()
            || domain.is_empty()
            || local.len() > MAX_LOCAL_BYTES
            || domain.contains('@')
            || local.contains('@')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains("..")
        {
            return Err(EmailError::Shape);
        }
        let key = display.to_lowercase();
        Ok(Self { display, key })
    }

    /// The address as the user wrote it, normalised (what mail is sent to).
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The case-insensitive lookup key that the unique index holds.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The local part, for password rules that forbid it.
    pub fn local_part(&self) -> &str {
        self.key.rsplit_once('@').map_or("", |(l, _)| l)
    }

    /// Rebuilds an address read back from storage.
    pub fn from_stored(display: String) -> Self {
        let key = display.to_lowercase();
        Self { display, key }
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.display)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn case_and_whitespace_do_not_make_a_new_address() {
        let a = Email::parse("  Alice@Example.COM ").unwrap();
        let b = Email::parse("alice@example.com").unwrap();
        assert_eq!(a.key(), b.key());
        assert_eq!(a.as_str(), "Alice@Example.COM");
    }

    #[test]
    fn nfkc_folds_compatibility_forms() {
        // Full-width letters and the "fi" ligature are the same address.
        let a = Email::parse("ｂｏｂ@example.com").unwrap();
        assert_eq!(a.key(), "bob@example.com");
        let b = Email::parse("ﬁn@example.com").unwrap();
        assert_eq!(b.key(), "fin@example.com");
    }

    #[test]
    fn dotless_i_is_not_i() {
        let dotless = Email::parse("ımran@example.com").unwrap();
        let plain = Email::parse("imran@example.com").unwrap();
        let upper = Email::parse("IMRAN@example.com").unwrap();
        assert_ne!(dotless.key(), plain.key());
        assert_eq!(plain.key(), upper.key());
        let dotted_capital = Email::parse("İmran@example.com").unwrap();
        assert_ne!(dotted_capital.key(), plain.key());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "   ",
            "no-at",
            "@x.com",
            "a@",
            "a b@x.com",
            "a@@x.com",
            "a@x..com",
            "a@.x",
            "<a@x.com>",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert_eq!(Email::parse(&long), Err(EmailError::Shape));
        let longer = format!("a@{}.com", "b".repeat(260));
        assert_eq!(Email::parse(&longer), Err(EmailError::TooLong));
    }
}
