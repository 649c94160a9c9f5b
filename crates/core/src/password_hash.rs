//! Password hashing: argon2id with configurable parameters (OWASP defaults:
//! m = 19456 KiB, t = 2, p = 1). Pure CPU work; the server runs it on a
//! bounded pool off the async threads.
//!
//! Verification also accepts hashes imported from other systems: argon2i,
//! argon2d and argon2id with any parameters, and the formats in [`legacy`]
//! (bcrypt, leochilds.uk scrypt, PBKDF2). A match on any of them asks for a
//! re-hash, so accounts move to our argon2id on their next login. Legacy
//! hashes are checked with the password as typed, then normalised, since the
//! systems that made them did not normalise. Costs
//! stored in a hash are bounded, so a hostile imported row cannot pin a CPU.

mod legacy;

use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::Password;

/// Highest argon2 memory cost accepted from a stored hash (2 GiB, RFC 9106's
/// first recommended option), unless our own parameters are higher.
const MAX_ARGON2_MEMORY_KIB: u32 = 2 * 1024 * 1024;
/// Highest argon2 work (memory × passes, in KiB) accepted from a stored
/// hash, unless our own parameters are higher: 4 GiB of block fills.
const MAX_ARGON2_WORK_KIB: u64 = 4 * 1024 * 1024;

/// What kind of hash a stored string is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashFormat {
    /// PHC `$argon2id$`, `$argon2i$` or `$argon2d$`.
    Argon2,
    /// `$2a$`, `$2b$` or `$2y$`.
    Bcrypt,
    /// leochilds.uk's `base64(salt):base64(key)`.
    Scrypt,
    /// PHC `$pbkdf2-sha256$` or `$pbkdf2-sha512$`.
    Pbkdf2,
}

/// Recognises a stored hash's format without checking any password (and so
/// without its cost). `Some` only for a hash that [`Hasher::verify`] can
/// check: well formed, of a supported variant, and within the work bounds;
/// an importer should reject a row for which this is `None`.
///
/// Argon2 hashes are held to the fixed bounds here; `verify` also accepts
/// larger ones up to the server's own configured parameters.
pub fn format_of(stored: &str) -> Option<HashFormat> {
    if parse_argon2(stored, None).is_some() {
        return Some(HashFormat::Argon2);
    }
    legacy::Legacy::parse(stored).map(|hash| hash.format())
}

/// A PHC argon2 hash of a known variant whose costs are within bounds (or
/// within `own`, the parameters we hash with).
fn parse_argon2(stored: &str, own: Option<&Params>) -> Option<PasswordHash> {
    let hash = PasswordHash::new(stored).ok()?;
    let known = [
        argon2::ARGON2ID_IDENT,
        argon2::ARGON2I_IDENT,
        argon2::ARGON2D_IDENT,
    ];
    if !known.contains(&hash.algorithm) {
        return None;
    }
    let params = Params::try_from(&hash).ok()?;
    let work = |p: &Params| u64::from(p.m_cost()) * u64::from(p.t_cost());
    let max_memory = own.map_or(0, Params::m_cost).max(MAX_ARGON2_MEMORY_KIB);
    let max_work = own.map_or(0, work).max(MAX_ARGON2_WORK_KIB);
    (params.m_cost() <= max_memory && work(&params) <= max_work).then_some(hash)
}

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
    dummy: PasswordHash,
}

impl Hasher {
    /// Builds the hasher and its dummy hash (used for unknown accounts, so
    /// that a login for a missing user costs the same as a wrong password).
    pub fn new(p: HashParams) -> Result<Self, InvalidParams> {
        let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
            .map_err(|e| InvalidParams(e.to_string()))?;
        // The dummy is never meant to match, so it needs no hashing: random
        // salt and output under our parameters cost a verification exactly
        // what a real hash costs. (Hashing one here would leave a 19 MiB
        // work area behind in an idle server.)
        let phc = argon2id_phc(&params, &rand::random(), &rand::random());
        let dummy = PasswordHash::new(&phc).map_err(|e| InvalidParams(e.to_string()))?;
        Ok(Self { params, dummy })
    }

    fn argon(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A PHC string for a new password (argon2id, a random 16-byte salt, a
    /// 32-byte output), computed in this thread's work area.
    pub fn hash(&self, password: &Password) -> Result<String, HashError> {
        let salt: [u8; SALT_LEN] = rand::random();
        let mut output = [0u8; OUTPUT_LEN];
        with_work_area(self.params.block_count(), |area| {
            self.argon().hash_password_into_with_memory(
                password.as_bytes(),
                &salt,
                &mut output,
                area,
            )
        })
        .map_err(|e| HashError(e.to_string()))?;
        Ok(argon2id_phc(&self.params, &salt, &output))
    }

    /// Checks a password against a stored hash; `None` runs the dummy hash
    /// and always answers `Mismatch`. A match on anything but argon2id with
    /// our current parameters asks for a re-hash; an unrecognised or
    /// over-costly hash is a `Mismatch`.
    pub fn verify(&self, password: &Password, stored: Option<&str>) -> Verdict {
        let Some(stored) = stored else {
            let _ = argon2_matches(password, &self.dummy);
            return Verdict::Mismatch;
        };
        if let Some(hash) = parse_argon2(stored, Some(&self.params)) {
            return if argon2_matches(password, &hash) {
                Verdict::Match {
                    needs_rehash: self.is_outdated(&hash),
                }
            } else {
                Verdict::Mismatch
            };
        }
        // The systems these come from did not normalise passwords, so the
        // password as typed is tried first, then the normalised form (what
        // an earlier import of ours, or a user who typed it so, would hold).
        // A match is re-hashed, normalised, like every other.
        let Some(hash) = legacy::Legacy::parse(stored) else {
            return Verdict::Mismatch;
        };
        let typed = password.as_typed_bytes().is_some_and(|t| hash.matches(t));
        if typed || hash.matches(password.as_bytes()) {
            Verdict::Match { needs_rehash: true }
        } else {
            Verdict::Mismatch
        }
    }

    fn is_outdated(&self, hash: &PasswordHash) -> bool {
        if hash.algorithm != argon2::ARGON2ID_IDENT || hash.version != Some(Version::V0x13 as u32) {
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

const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;

/// The PHC string of an argon2id (v1.3) hash.
fn argon2id_phc(params: &Params, salt: &[u8; SALT_LEN], output: &[u8; OUTPUT_LEN]) -> String {
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(output),
    )
}

thread_local! {
    /// Each hashing thread keeps one argon2 work area and reuses it: a
    /// verification neither allocates (and faults in) 19 MiB afresh nor
    /// leaves the allocator holding stray blocks, so its time and the
    /// process's memory stay flat.
    static WORK_AREA: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's work area, grown to `blocks` if needed.
fn with_work_area<T>(blocks: usize, f: impl FnOnce(&mut [argon2::Block]) -> T) -> T {
    WORK_AREA.with(|area| {
        let mut area = area.borrow_mut();
        if area.len() < blocks {
            area.resize(blocks, argon2::Block::default());
        }
        f(&mut area[..blocks])
    })
}

/// Verification takes its algorithm, version and parameters from the hash,
/// and compares the result in constant time.
fn argon2_matches(password: &Password, hash: &PasswordHash) -> bool {
    let check = || -> Option<bool> {
        let params = Params::try_from(hash).ok()?;
        let algorithm = Algorithm::new(hash.algorithm.as_str()).ok()?;
        let version = match hash.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let salt = hash.salt.as_ref()?;
        let expected = hash.hash.as_ref()?.as_bytes();
        let mut out = vec![0u8; expected.len()];
        let blocks = params.block_count();
        let argon = Argon2::new(algorithm, version, params);
        with_work_area(blocks, |area| {
            argon.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, area)
        })
        .ok()?;
        Some(subtle::ConstantTimeEq::ct_eq(out.as_slice(), expected).into())
    };
    check().unwrap_or(false)
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
        // The argon2 crate's own verifier agrees with our PHC string.
        use argon2::PasswordVerifier as _;
        let parsed = PasswordHash::new(&stored).unwrap();
        Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .unwrap();
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

    // From the argon2 reference implementation (Debian's `argon2` CLI):
    // `echo -n "correct horse battery staple" | argon2 latchkeysalt16b -id -t 1 -k 64 -p 1 -l 32 -e`,
    // and `-i` / `-d`, `-t 2`, `-v 10` for the others.
    const REF_ID: &str = "$argon2id$v=19$m=64,t=1,p=1$bGF0Y2hrZXlzYWx0MTZi$t3TtM3/TI+9L4WU5/zLLSsc8nYY5mFdeqC8vrgtNpKA";

    #[test]
    fn argon2_from_elsewhere_verifies_and_asks_for_rehash_unless_current() {
        let h = cheap();
        let good = pw("correct horse battery staple");
        assert_eq!(format_of(REF_ID), Some(HashFormat::Argon2));
        assert_eq!(
            h.verify(&good, Some(REF_ID)),
            Verdict::Match {
                needs_rehash: false
            }
        );
        for stored in [
            "$argon2i$v=19$m=64,t=2,p=1$bGF0Y2hrZXlzYWx0MTZi$qEpHv+AQRSfKwJewwbXp8NGJqR+pwwuTvw2ymf0WOnU",
            "$argon2d$v=19$m=64,t=2,p=1$bGF0Y2hrZXlzYWx0MTZi$RfXcEhNbuBnzmIvzXiqHtzjc7/mNOaclnx74+18TpEs",
            "$argon2id$v=19$m=64,t=2,p=1$bGF0Y2hrZXlzYWx0MTZi$w/TY7VN1vLP2Wr7yO9B5u750x3LmfJdSLz5JMUPWb1I",
            "$argon2id$v=16$m=64,t=1,p=1$bGF0Y2hrZXlzYWx0MTZi$AWEa5GZyVKqy2m6vnHQd0q9pGTubneIFYJmV4h2Et9w",
        ] {
            assert_eq!(format_of(stored), Some(HashFormat::Argon2));
            assert_eq!(
                h.verify(&good, Some(stored)),
                Verdict::Match { needs_rehash: true },
                "{stored}"
            );
            assert_eq!(h.verify(&pw("wrong"), Some(stored)), Verdict::Mismatch);
        }
    }

    #[test]
    fn argon2_costs_beyond_the_bounds_are_refused_unrun() {
        let good = pw("correct horse battery staple");
        for params in [
            "m=4194304,t=1,p=1",
            "m=65536,t=65536,p=1",
            "m=64,t=4294967295,p=1",
        ] {
            let stored = REF_ID.replace("m=64,t=1,p=1", params);
            assert_eq!(format_of(&stored), None, "{stored}");
            assert_eq!(cheap().verify(&good, Some(&stored)), Verdict::Mismatch);
        }
        // Our own parameters are always within bounds.
        let own = Params::new(MAX_ARGON2_MEMORY_KIB + 8, 1, 1, None).unwrap();
        let stored = REF_ID.replace("m=64", &format!("m={}", own.m_cost()));
        assert_eq!(format_of(&stored), None);
        assert!(parse_argon2(&stored, Some(&own)).is_some());
    }

    #[test]
    fn garbage_hash_is_a_mismatch() {
        assert_eq!(
            cheap().verify(&pw("x"), Some("not-a-hash")),
            Verdict::Mismatch
        );
    }
}
