//! Usernames: 1 to 64 of `A-Z a-z 0-9 . _ -`, unique without regard to case.

use std::fmt;

const MAX_CHARS: usize = 64;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Username {
    display: String,
    key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("the username must be 1 to 64 characters long")]
    Length,
    #[error("the username may only contain letters, digits, '.', '_' and '-'")]
    BadCharacter,
}

impl Username {
    pub fn parse(raw: &str) -> Result<Self, UsernameError> {
        let display = raw.trim();
        if display.is_empty() || display.chars().count() > MAX_CHARS {
            return Err(UsernameError::Length);
        }
        if !display
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(UsernameError::BadCharacter);
        }
        Ok(Self::from_stored(display.to_owned()))
    }

    pub fn from_stored(display: String) -> Self {
        let key = display.to_ascii_lowercase();
        Self { display, key }
    }

    pub fn as_str(&self) -> &str {
        &self.display
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({})", self.display)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_folds_case() {
        let u = Username::parse(" Leo.Childs_1 ").unwrap();
        assert_eq!(u.as_str(), "Leo.Childs_1");
        assert_eq!(u.key(), "leo.childs_1");
    }

    #[test]
    fn rejects_bad() {
        assert_eq!(Username::parse(""), Err(UsernameError::Length));
        assert_eq!(Username::parse(&"a".repeat(65)), Err(UsernameError::Length));
        assert_eq!(Username::parse("a b"), Err(UsernameError::BadCharacter));
        assert_eq!(Username::parse("a@b"), Err(UsernameError::BadCharacter));
        assert_eq!(Username::parse("ünï"), Err(UsernameError::BadCharacter));
    }
}
