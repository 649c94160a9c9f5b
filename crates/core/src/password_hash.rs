//! Password hashing: argon2id with configurable parameters (OWASP defaults:
//! m = 19456 KiB, t = 2, p = 1). Pure CPU work; the server runs it on a
//! bounded pool off the async threads.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use serde::{Deserialize, Serialize};

use crate::Password;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HashParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            memory_kib: Params::DEFAULT_M_COST,
            iterations: Params::DEFAULT_T_COST,
            parallelism: Params::DEFAULT_P_COST,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid argon2 parameters: {0}")]
pub struct InvalidParams(String);

/// What checking a password against a stored hash found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Match { needs_rehash: bool },
    Mismatch,
}

#[derive(Debug, Clone)]
pub struct Hasher {
    params: Params,
    dummy: String,
}

impl Hasher {
    /// Builds the hasher and its dummy hash (used for unknown accounts, so
    /// that a login for a missing user costs the same as a wrong password).
    pub fn new(p: HashParams) -> Result<Self, InvalidParams> {
        let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
            .map_err(|e| InvalidParams(e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let dummy = argon
            .hash_password(b"latchkey-dummy-password-for-timing")
            .map_err(|e| InvalidParams(e.to_string()))?
            .to_string();
        Ok(Self { params, dummy })
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A PHC string for a new password.
    pub fn hash(&self, password: &Password) -> Result<String, HashError> {
        self.argon()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| HashError(e.to_string()))
    }

    /// Checks a password against a stored hash; `None` runs the dummy hash
    /// and always answers `Mismatch`.
    pub fn verify(&self, password: &Password, stored: Option<&str>) -> Verdict {
        let Some(stored) = stored else {
            let _ = self.check(password, &self.dummy);
            return Verdict::Mismatch;
        };
        match self.check(password, stored) {
            Some(hash) => Verdict::Match {
                needs_rehash: self.is_outdated(&hash),
            },
            None => Verdict::Mismatch,
        }
    }

    fn check(&self, password: &Password, stored: &str) -> Option<PasswordHash> {
        let hash = PasswordHash::new(stored).ok()?;
        // Verification takes its parameters from the stored hash.
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .ok()
            .map(|()| hash)
    }

    fn is_outdated(&self, hash: &PasswordHash) -> bool {
        let current = argon2::ARGON2ID_IDENT;
        if hash.algorithm != current {
            return true;
        }
        match Params::try_from(hash) {
            Ok(p) => {
                p.m_cost() != self.params.m_cost()
                    || p.t_cost() != self.params.t_cost()
                    || p.p_cost() != self.params.p_cost()
            }
            Err(_) => true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cheap() -> Hasher {
        Hasher::new(HashParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    fn pw(s: &str) -> Password {
        Password::parse_attempt(s).unwrap()
    }

    #[test]
    fn default_params_are_owasp() {
        let p = HashParams::default();
        assert_eq!((p.memory_kib, p.iterations, p.parallelism), (19456, 2, 1));
    }

    #[test]
    fn hash_then_verify() {
        let h = cheap();
        let stored = h.hash(&pw("correct horse")).unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(
            h.verify(&pw("correct horse"), Some(&stored)),
            Verdict::Match {
                needs_rehash: false
            }
        );
        assert_eq!(
            h.verify(&pw("correct hors"), Some(&stored)),
            Verdict::Mismatch
        );
        assert_eq!(h.verify(&pw(""), Some(&stored)), Verdict::Mismatch);
    }

    #[test]
    fn unknown_account_never_matches() {
        let h = cheap();
        assert_eq!(
            h.verify(&pw("latchkey-dummy-password-for-timing"), None),
            Verdict::Mismatch
        );
    }

    #[test]
    fn changed_parameters_ask_for_rehash() {
        let old = cheap().hash(&pw("pw-123456")).unwrap();
        let newer = Hasher::new(HashParams {
            memory_kib: 128,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        assert_eq!(
            newer.verify(&pw("pw-123456"), Some(&old)),
            Verdict::Match { needs_rehash: true }
        );
    }

    #[test]
    fn garbage_hash_is_a_mismatch() {
        assert_eq!(
            cheap().verify(&pw("x"), Some("not-a-hash")),
            Verdict::Mismatch
        );
    }
}
