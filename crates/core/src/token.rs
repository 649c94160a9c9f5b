//! Opaque secrets handed to clients (session cookies, refresh tokens): 256
//! random bits, base64url. Only their SHA-256 is ever stored.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 32 bytes in base64url without padding.
const ENCODED_LEN: usize = 43;

/// A freshly generated secret, to be shown to the client once.
pub struct SecretToken(String);

impl SecretToken {
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

/// The SHA-256 of a token, which is all storage keeps.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// The hash of a token a client presented, or `None` if it cannot be one
    /// of ours (wrong length or alphabet), which saves a lookup.
    pub fn of_presented(token: &str) -> Option<Self> {
        let plausible = token.len() == ENCODED_LEN
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        plausible.then(|| Self::of(token))
    }

    pub fn from_stored(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Constant-time comparison.
    pub fn matches(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_unique_and_hash_back() {
        let a = SecretToken::generate();
        let b = SecretToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), ENCODED_LEN);
        assert!(
            TokenHash::of_presented(a.expose())
                .unwrap()
                .matches(&a.hash())
        );
        assert!(!a.hash().matches(&b.hash()));
    }

    #[test]
    fn implausible_tokens_are_refused_early() {
        assert!(TokenHash::of_presented("").is_none());
        assert!(TokenHash::of_presented(&"a".repeat(44)).is_none());
        assert!(TokenHash::of_presented(&"+".repeat(43)).is_none());
    }
}
