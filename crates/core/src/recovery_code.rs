//! Recovery codes: single-use second factors for when the authenticator is
//! lost. Ten random base32 characters (50 bits) shown as `XXXXX-XXXXX`;
//! only their SHA-256 is stored, which is enough for codes this random.

use sha2::{Digest, Sha256};

use crate::totp::base32;

/// Codes in a set.
pub const SET_SIZE: usize = 10;

/// A freshly generated code, to be shown to the user once.
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

impl RecoveryCode {
    pub fn generate() -> Self {
        // 50 bits from 7 random bytes: base32 of 7 bytes is 12 characters
        // of which the first 10 carry 50 random bits.
        let bytes: [u8; 7] = rand::random();
        let chars = base32(&bytes);
        let (a, b) = (&chars[..5], &chars[5..10]);
        Self(format!("{a}-{b}"))
    }

    /// A full set.
    pub fn generate_set() -> Vec<Self> {
        (0..SET_SIZE).map(|_| Self::generate()).collect()
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> [u8; 32] {
        hash_presented(&self.0)
    }
}

/// The hash of a code as the user typed it: case, spaces and dashes do not
/// matter.
pub fn hash_presented(code: &str) -> [u8; 32] {
    let normalized: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    Sha256::digest(normalized.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_two_groups_of_five_and_distinct() {
        let set = RecoveryCode::generate_set();
        assert_eq!(set.len(), SET_SIZE);
        for code in &set {
            let s = code.expose();
            assert_eq!(s.len(), 11);
            assert_eq!(&s[5..6], "-");
        }
        let unique: std::collections::HashSet<_> = set.iter().map(RecoveryCode::hash).collect();
        assert_eq!(unique.len(), SET_SIZE);
    }

    #[test]
    fn typing_variations_hash_alike() {
        let code = RecoveryCode::generate();
        let sloppy = code.expose().to_ascii_lowercase().replace('-', " ");
        assert_eq!(hash_presented(&sloppy), code.hash());
        assert_ne!(hash_presented("AAAAA-AAAAA"), hash_presented("AAAAA-AAAAB"));
    }
}
