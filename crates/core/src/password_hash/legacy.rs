//! Imported hashes in formats Latchkey never writes: bcrypt, scrypt in the
//! leochilds.uk `salt:key` form, and PBKDF2 in PHC form. Verify-only: a
//! match always asks for a re-hash to argon2id.
//!
//! Each parser accepts only what its verifier can check, and only within a
//! work bound, so that a hostile imported row cannot pin a CPU for minutes.

use std::str::FromStr;

use argon2::PasswordHash;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use pbkdf2::PasswordVerifier;
use subtle::ConstantTimeEq;

use super::HashFormat;

/// Highest bcrypt cost accepted: 2^16 rounds, a few seconds of one core.
/// Real deployments use 10 to 14.
const MAX_BCRYPT_COST: u32 = 16;
/// Highest PBKDF2 iteration count accepted (OWASP asks for 600,000 with
/// SHA-256 and 210,000 with SHA-512).
const MAX_PBKDF2_ROUNDS: u32 = 10_000_000;

/// The leochilds.uk parameters: Node's `crypto.scrypt` defaults (N = 2^14,
/// r = 8, p = 1) and a 64-byte key. They are fixed, not stored, so the work
/// of a scrypt row is bounded by construction.
const SCRYPT_LOG_N: u8 = 14;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;
const SCRYPT_KEY_LEN: usize = 64;
/// leochilds.uk salts are 32 bytes; anything past this is not that form.
const SCRYPT_MAX_SALT_LEN: usize = 1024;

/// A parsed legacy hash, ready to check a password against.
pub(super) enum Legacy<'a> {
    /// A `$2a$`, `$2b$` or `$2y$` hash, checked as a string by the crate.
    Bcrypt(&'a str),
    Scrypt {
        salt: Vec<u8>,
        key: [u8; SCRYPT_KEY_LEN],
    },
    /// `$pbkdf2-sha256$…` or `$pbkdf2-sha512$…`.
    Pbkdf2(PasswordHash),
}

impl<'a> Legacy<'a> {
    pub(super) fn parse(stored: &'a str) -> Option<Self> {
        parse_bcrypt(stored)
            .or_else(|| parse_pbkdf2(stored))
            .or_else(|| parse_scrypt(stored))
    }

    pub(super) fn format(&self) -> HashFormat {
        match self {
            Self::Bcrypt(_) => HashFormat::Bcrypt,
            Self::Scrypt { .. } => HashFormat::Scrypt,
            Self::Pbkdf2(_) => HashFormat::Pbkdf2,
        }
    }

    /// Whether `password` is the one the hash was made from. Any error of
    /// the underlying crate counts as a mismatch.
    pub(super) fn matches(&self, password: &[u8]) -> bool {
        match self {
            // bcrypt reads only the first 72 bytes of a password: that is
            // the algorithm (every implementation does the same), so a
            // longer password verifies against a hash of the whole of it,
            // and so does any password sharing its first 72 bytes.
            // `bcrypt::verify` truncates the same way; an error is a
            // mismatch.
            Self::Bcrypt(stored) => matches!(bcrypt::verify(password, stored), Ok(true)),
            Self::Scrypt { salt, key } => scrypt_matches(password, salt, key),
            Self::Pbkdf2(hash) => pbkdf2::Pbkdf2::default()
                .verify_password(password, hash)
                .is_ok(),
        }
    }
}

fn parse_bcrypt(stored: &str) -> Option<Legacy<'_>> {
    // `$2x$` (crypt_blowfish's marker for hashes made by its sign-extension
    // bug) is left out: the crate would check it as `$2b$`, which is wrong.
    let rest = ["$2a$", "$2b$", "$2y$"]
        .iter()
        .find_map(|prefix| stored.strip_prefix(prefix))?;
    // Two decimal digits, not whatever `u32::from_str` accepts ("+5").
    let digits = rest.get(..2)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Length, separators, and the bcrypt-base64 salt and hash: no hashing.
    let parts = bcrypt::HashParts::from_str(stored).ok()?;
    (4..=MAX_BCRYPT_COST)
        .contains(&parts.get_cost())
        .then_some(Legacy::Bcrypt(stored))
}

fn parse_pbkdf2(stored: &str) -> Option<Legacy<'_>> {
    if !stored.starts_with("$pbkdf2-") {
        return None;
    }
    let hash = PasswordHash::new(stored).ok()?;
    // SHA-256 and SHA-512 only: pbkdf2 0.13 has no PHC SHA-1 (`$pbkdf2$`).
    pbkdf2::Algorithm::try_from(hash.algorithm.as_str()).ok()?;
    // Also refuses a version field, fewer than 1,000 rounds, and an output
    // whose length disagrees with `l`.
    let params = pbkdf2::Params::try_from(&hash).ok()?;
    if hash.salt.is_none() || hash.hash.is_none() || params.rounds() > MAX_PBKDF2_ROUNDS {
        return None;
    }
    Some(Legacy::Pbkdf2(hash))
}

/// `base64(salt):base64(key)`, as written by leochilds.uk's
/// `hashPassword`: `randomBytes(32)`, then `scrypt(password, salt, 64)`,
/// then `${salt.toString('base64')}:${key.toString('base64')}`.
///
/// The salt given to scrypt is the raw bytes (the decoded base64), not the
/// base64 text: the leochilds.uk architecture document's "Password Security"
/// diagram feeds the "Random 32-byte Salt" to scrypt and base64-encodes only
/// at "Store: salt:hash (base64)" (as text, a 32-byte salt would be 44
/// bytes), and leochilds.uk's published `verifyPassword` does
/// `Buffer.from(saltStr, 'base64')` before deriving. A hash derived from the
/// salt text is therefore not accepted.
fn parse_scrypt(stored: &str) -> Option<Legacy<'_>> {
    let (salt, key) = stored.split_once(':')?;
    if salt.len() > SCRYPT_MAX_SALT_LEN.div_ceil(3) * 4 {
        return None;
    }
    let salt = STANDARD.decode(salt).ok()?;
    let key = <[u8; SCRYPT_KEY_LEN]>::try_from(STANDARD.decode(key).ok()?).ok()?;
    (!salt.is_empty()).then_some(Legacy::Scrypt { salt, key })
}

fn scrypt_matches(password: &[u8], salt: &[u8], key: &[u8; SCRYPT_KEY_LEN]) -> bool {
    let Ok(params) = scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P) else {
        return false;
    };
    let mut derived = [0u8; SCRYPT_KEY_LEN];
    if scrypt::scrypt(password, salt, &params, &mut derived).is_err() {
        return false;
    }
    derived.ct_eq(key).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! Every vector here comes from another implementation, never from the
    //! code under test:
    //! - bcrypt `$2a$`: Openwall crypt_blowfish's own test vectors (also in
    //!   jBCrypt and bcrypt-ruby's suites);
    //! - bcrypt of a password that NFKC changes: Python 3.11's `crypt.crypt`;
    //! - bcrypt `$2y$` cost 10: the PHP manual's `password_verify` example;
    //! - other bcrypt: libxcrypt (Debian's libcrypt), through Python 3.11's
    //!   `crypt.crypt`;
    //! - scrypt: Node 20's `crypto.scrypt`, run with leochilds.uk's
    //!   `hashPassword` (raw `randomBytes(32)` salt, key length 64, defaults);
    //! - PBKDF2: Python's `hashlib.pbkdf2_hmac`, written as PHC with standard
    //!   base64 without padding.

    use super::super::{HashFormat, HashParams, Hasher, Verdict, format_of};
    use crate::Password;

    const REHASH: Verdict = Verdict::Match { needs_rehash: true };

    fn hasher() -> Hasher {
        Hasher::new(HashParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    fn verify(password: &str, stored: &str) -> Verdict {
        hasher().verify(&Password::parse_attempt(password).unwrap(), Some(stored))
    }

    /// Recognised, matches `password` and asks for a re-hash, and does not
    /// match that password with one more character.
    fn assert_only(password: &str, stored: &str, format: HashFormat) {
        assert_eq!(format_of(stored), Some(format), "{stored}");
        assert_eq!(verify(password, stored), REHASH, "{password:?} {stored}");
        let wrong = format!("{password}x");
        assert_eq!(
            verify(&wrong, stored),
            Verdict::Mismatch,
            "{wrong:?} {stored}"
        );
    }

    /// Not recognised, and never matches.
    fn assert_refused(password: &str, stored: &str) {
        assert_eq!(format_of(stored), None, "{stored}");
        assert_eq!(verify(password, stored), Verdict::Mismatch, "{stored}");
    }

    const LONG_72: &str =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    #[test]
    fn bcrypt_reference_vectors() {
        for (password, stored) in [
            (
                "U*U",
                "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            ),
            (
                "U*U*",
                "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK",
            ),
            (
                "U*U*U",
                "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a",
            ),
            (
                "",
                "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy",
            ),
            (
                "rasmuslerdorf",
                "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a",
            ),
            (
                "correct horse battery staple",
                "$2b$05$fSUO/oLSH1DIYrWopIN59OVc8PWwwZgKQChMAmyedJQAxNdLemoPW",
            ),
            (
                "correct horse battery staple",
                "$2y$05$xthQXOmvOWKyllgHjqSHKeFCIYpex4zbvlMpeJqd3OC3Kb3gkKFPG",
            ),
        ] {
            assert_only(password, stored, HashFormat::Bcrypt);
        }
    }

    #[test]
    fn bcrypt_reads_only_the_first_72_bytes() {
        // Openwall: the hash of a 98-byte password equals that of its
        // first 72 bytes.
        let openwall = "$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui";
        assert_eq!(verify(LONG_72, openwall), REHASH);
        let long = format!("{LONG_72}chars after 72 are ignored");
        assert_eq!(verify(&long, openwall), REHASH);
        assert_eq!(verify(&LONG_72[..71], openwall), Verdict::Mismatch);

        // libxcrypt, over the whole 100-byte password.
        let whole = "0123456789".repeat(10);
        let stored = "$2b$04$1tB3xzf5Iwkjwf7CaJ7BG.pqXjrhTvTgezS0uq3qfcTFyEYdH5wwC";
        assert_eq!(verify(&whole, stored), REHASH);
        assert_eq!(verify(&whole[..72], stored), REHASH);
        assert_eq!(verify(&whole[..71], stored), Verdict::Mismatch);
    }

    #[test]
    fn bcrypt_refuses_malformed_and_costly_hashes() {
        let good = "$2b$05$fSUO/oLSH1DIYrWopIN59OVc8PWwwZgKQChMAmyedJQAxNdLemoPW";
        let pw = "correct horse battery staple";
        for stored in [
            &good[..59],
            &format!("{good}A"),
            &good.replace("$2b$", "$2x$"),
            &good.replace("$2b$", "$2c$"),
            &good.replace("$2b$", "$2$"),
            &good.replace("$05$", "$03$"),
            &good.replace("$05$", "$+5$"),
            &good.replace("$05$", "$17$"),
            // Would take days if it were run.
            &good.replace("$05$", "$31$"),
            &good.replace('f', "!"),
            &good.replace('S', "é"),
        ] {
            assert_refused(pw, stored);
        }
    }

    const SCRYPT: &str = "rMinp8B51y4D8wv9ygaGiOobFifWMQuMCy8vLLeSbuQ=:p/LFmOhekXGRiSK+KUqPukMGL19utE5EVPdLfM3EUjaJD1gr/4sLg38+75PhXzokDHkpwbKyNaeYZoqwdp4KJg==";

    #[test]
    fn scrypt_leochilds_vectors() {
        assert_only("correct horse battery staple", SCRYPT, HashFormat::Scrypt);
        // UTF-8 bytes of a (NFKC-stable) non-ASCII password.
        let unicode = "mrmDMaqOBaYsrm5uJvsdRxGv3xruPZllmu6PbRQCHBM=:T0e++LgAKW1QQTYIqx1AF1zSDK8JLWEdCe8DKqGAK8BEPmOw2KgYPwDGZ1ZwPmGlIu6lEeqM53JNoCdQub7OLw==";
        assert_eq!(
            verify("p\u{e4}ssw\u{f6}rd-\u{fc}-\u{20ac}", unicode),
            REHASH
        );
        assert_eq!(verify("passwort-u-EUR", unicode), Verdict::Mismatch);
    }

    #[test]
    fn scrypt_salt_is_the_raw_bytes_not_the_base64_text() {
        // Node: scrypt(password, saltBase64String, 64). Same shape, but not
        // what leochilds.uk does, so it must not match.
        let text_salt = "P16I2VF0grQW0hsr3fmJj/U+kkm+HwgDb/zg174/+AA=:z0YhX9/5weJhWR3ZKJ38N51RoPhX1sgrCwIyFl3lTfyplpGjva+tOrKtGR69aJV7THkdmzgBrfmm3lMmYRpjqw==";
        assert_eq!(format_of(text_salt), Some(HashFormat::Scrypt));
        assert_eq!(
            verify("correct horse battery staple", text_salt),
            Verdict::Mismatch
        );
    }

    #[test]
    fn scrypt_refuses_malformed_hashes() {
        let (salt, key) = SCRYPT.split_once(':').unwrap();
        let pw = "correct horse battery staple";
        for stored in [
            salt,
            key,
            &format!("{salt}{key}"),
            &format!("{salt}:{key}:"),
            &format!(":{key}"),
            &format!("{salt}:"),
            &format!("{salt}:{}", &key[..86]),
            // 48-byte key.
            &format!("{salt}:{}", &key[..64]),
            &format!("{salt}:{}", key.replace('+', "-")),
            &format!("{}:{key}", salt.trim_end_matches('=')),
            &format!("{}:{key}", "QUFB".repeat(400)),
        ] {
            assert_refused(pw, stored);
        }
    }

    const PBKDF2_SHA256: &str = "$pbkdf2-sha256$i=1000,l=32$bnPfjiniX8fNGb1Wndfv2w$BIKH3/eKtTB8QEieJw/72OL2ZlCaSEbbEAyR77L5TjA";

    #[test]
    fn pbkdf2_phc_vectors() {
        let sha512 = "$pbkdf2-sha512$i=1000,l=64$snas/WvqxZ840Zyy906pjA$Jf5eXXbjQ/FOm4D/sIRA9bTYHomQUYG7Xw0bKJzOFt2MXTHM6M0rbIrihG4Qi6FkIU/qTvpiKkcrqNB1bjfi7w";
        for stored in [PBKDF2_SHA256, sha512] {
            assert_only("correct horse battery staple", stored, HashFormat::Pbkdf2);
        }
        // The algorithm named is the one used.
        let swapped = PBKDF2_SHA256.replace("sha256", "sha512");
        assert_eq!(format_of(&swapped), Some(HashFormat::Pbkdf2));
        assert_eq!(
            verify("correct horse battery staple", &swapped),
            Verdict::Mismatch
        );
    }

    #[test]
    fn pbkdf2_refuses_malformed_unsupported_and_costly_hashes() {
        let pw = "correct horse battery staple";
        let (head, hash) = PBKDF2_SHA256.rsplit_once('$').unwrap();
        for stored in [
            head,
            &format!("{head}$"),
            &format!("{head}${}", &hash[..20]),
            &PBKDF2_SHA256.replace("i=1000", "i=999"),
            &PBKDF2_SHA256.replace("l=32", "l=31"),
            &PBKDF2_SHA256.replace("$i=", "$v=1$i="),
            &PBKDF2_SHA256.replace("i=1000,", "i=1000,x=1,"),
            // Would take hours if it were run.
            &PBKDF2_SHA256.replace("i=1000", "i=10000001"),
            &PBKDF2_SHA256.replace("i=1000", "i=4294967295"),
            // PHC SHA-1 is not supported by the pbkdf2 crate.
            &PBKDF2_SHA256.replace("pbkdf2-sha256", "pbkdf2"),
            &PBKDF2_SHA256.replace("pbkdf2-sha256", "pbkdf2-sha1"),
            // passlib's own format (bare rounds, "ab64" alphabet) is not
            // PHC; made by passlib 1.7 `pbkdf2_sha256.using(rounds=1000)`.
            "$pbkdf2-sha256$1000$6V2LMeb831trLYWwlpIyRg$o9jjispaVSvRBtwGc1nwDAnI80IMEtBECUEh/MiGg/Q",
        ] {
            assert_refused(pw, stored);
        }
    }

    #[test]
    fn unknown_formats_are_refused() {
        for stored in [
            "",
            "x",
            "$",
            "$$",
            "::",
            "$1$salt$hash",
            "plaintext-password",
        ] {
            assert_refused("plaintext-password", stored);
        }
    }

    /// Typed with full-width letters, a ligature and a superscript; NFKC
    /// makes it "correct horse battery fine 2". The hashes below were made
    /// from the typed form, as the old systems did: bcrypt by Python 3.11's
    /// `crypt.crypt`, PBKDF2 by `hashlib.pbkdf2_hmac`, scrypt by Node's
    /// `crypto.scrypt` the leochilds.uk way.
    const TYPED: &str =
        "correct horse \u{ff42}\u{ff41}\u{ff54}\u{ff54}\u{ff45}\u{ff52}\u{ff59} \u{fb01}ne \u{b2}";
    const NORMALISED: &str = "correct horse battery fine 2";

    #[test]
    fn legacy_hashes_of_unnormalised_passwords_verify_as_typed() {
        for (stored, format) in [
            (
                "$2b$05$0m3g0..pGVyhrT/rSB1W6.LQ5BEiR2i01CegYKlPSFKf.csJE7YTi",
                HashFormat::Bcrypt,
            ),
            (
                "$pbkdf2-sha256$i=1000,l=32$kimN8PowKoyuf3zRI9VQOQ$bpuw0wSZrTu5C57k6lWM8Y1dSFABsQQZjY29wkX0un8",
                HashFormat::Pbkdf2,
            ),
            (
                "GWWrid8pkMQi/vJht52dKRmineID/RDq3WDspor5wVI=:8pPef4NCvT10CTUMkvUlzM3Se07WnC7BLitdAqIHYvuifngYShDbkfuZXroWHl/mNgL+a5pS3qBg1zNuaHH5pw==",
                HashFormat::Scrypt,
            ),
        ] {
            assert_eq!(format_of(stored), Some(format));
            assert_eq!(verify(TYPED, stored), REHASH, "{format:?}");
            // The old system would not have taken the normalised form
            // either, nor another spelling of it.
            assert_eq!(verify(NORMALISED, stored), Verdict::Mismatch, "{format:?}");
            let other = TYPED.replace('\u{b2}', "2");
            assert_eq!(verify(&other, stored), Verdict::Mismatch, "{format:?}");
        }
    }

    #[test]
    fn legacy_hashes_of_normalised_passwords_still_verify_in_any_spelling() {
        // Made from plain ASCII; a full-width "c" normalises to it.
        assert_eq!(
            verify("\u{ff43}orrect horse battery staple", SCRYPT),
            REHASH
        );
        assert_eq!(
            verify("\u{ff43}orrect horse battery staple", PBKDF2_SHA256),
            REHASH
        );
    }

    #[test]
    fn what_the_upgrade_hashes_is_the_normalised_form() {
        let h = hasher();
        let stored = h.hash(&Password::parse_attempt(TYPED).unwrap()).unwrap();
        for spelling in [TYPED, NORMALISED] {
            assert_eq!(
                h.verify(&Password::parse_attempt(spelling).unwrap(), Some(&stored)),
                Verdict::Match {
                    needs_rehash: false
                }
            );
        }
    }
}
