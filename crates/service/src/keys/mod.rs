//! The signing keys: created on first start, rotated by `latchkey keys
//! rotate`, published at `/.well-known/jwks.json`. A retired key stays
//! published (and accepted) until every token it signed has expired.

mod generate;
pub mod master;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use latchkey_core::claims::{ACCESS_TOKEN_TYP, AccessClaims};
use latchkey_core::{Error, UnixTime};
use latchkey_store::{Store, StoredKey};
use serde_json::{Value, json};

pub use generate::{alg_name, parse_alg};
pub use master::MasterKey;

/// Clock skew tolerated on `nbf` and `exp`: a few seconds between nodes'
/// clocks, no more (jsonwebtoken's own default would be 60 s; its time
/// checks are off and this one applies, to fresh and cached tokens alike).
pub const LEEWAY_SECS: i64 = 5;
/// Longest accepted token, well above any we issue.
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// An unknown `kid` may prompt a reload at most this often, so tokens with
/// made-up key ids cannot turn into a database query each.
const RELOAD_ON_DEMAND_EVERY_SECS: i64 = 10;

struct SigningKey {
    kid: String,
    alg: Algorithm,
    key: EncodingKey,
}

struct VerifyingKey {
    alg: Algorithm,
    key: DecodingKey,
}

#[derive(Default)]
struct Loaded {
    signing: Option<SigningKey>,
    verifying: HashMap<String, VerifyingKey>,
    jwks: Arc<Value>,
}

pub struct KeyRing {
    store: Arc<dyn Store>,
    master: Arc<MasterKey>,
    alg: Algorithm,
    issuer: String,
    audience: String,
    access_ttl_secs: i64,
    loaded: RwLock<Arc<Loaded>>,
    last_reload: AtomicI64,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// How a presented access token failed.
#[derive(Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// Signed by a key we do not know (yet): worth one reload.
    UnknownKey,
    Invalid,
}

impl KeyRing {
    /// Loads the keys, creating one when there is none of the configured algorithm.
    pub async fn open(
        store: Arc<dyn Store>,
        master: Arc<MasterKey>,
        alg: Algorithm,
        issuer: String,
        audience: String,
        access_ttl_secs: i64,
        now: UnixTime,
    ) -> Result<Self, Error> {
        let ring = Self {
            store,
            master,
            alg,
            issuer,
            audience,
            access_ttl_secs,
            loaded: RwLock::new(Arc::default()),
            last_reload: AtomicI64::new(i64::MIN),
        };
        ring.reload(now).await?;
        if ring.current().signing.is_none() {
            ring.rotate(now).await?;
        }
        Ok(ring)
    }

    /// Adds a new key of the configured algorithm and retires the others.
    pub async fn rotate(&self, now: UnixTime) -> Result<String, Error> {
        let generated = generate::generate(self.alg).map_err(|e| Error::Internal(e.to_string()))?;
        let sealed = self
            .master
            .encrypt(generated.private_pem.as_bytes(), &generated.kid)
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.store
            .add_signing_key(
                StoredKey {
                    kid: generated.kid.clone(),
                    alg: alg_name(self.alg).into(),
                    private_key_encrypted: sealed,
                    public_jwk: generated.public_jwk.to_string(),
                    created_at: now,
                    retired_at: None,
                },
                true,
            )
            .await?;
        self.reload(now).await?;
        Ok(generated.kid)
    }

    /// Reloads for a token signed by a key we do not know, unless that was
    /// done moments ago. Returns whether it reloaded.
    pub async fn reload_for_unknown_key(&self, now: UnixTime) -> Result<bool, Error> {
        let last = self.last_reload.load(Ordering::SeqCst);
        if now.saturating_sub(last) < RELOAD_ON_DEMAND_EVERY_SECS {
            return Ok(false);
        }
        self.reload(now).await?;
        Ok(true)
    }

    /// Re-reads the keys from the store (another node may have rotated).
    pub async fn reload(&self, now: UnixTime) -> Result<(), Error> {
        self.last_reload.store(now, Ordering::SeqCst);
        let stored = self.store.signing_keys().await?;
        let grace = self.access_ttl_secs + 2 * LEEWAY_SECS;
        let mut loaded = Loaded::default();
        let mut published = Vec::new();
        for key in stored {
            let Some(alg) = parse_alg(&key.alg) else {
                continue;
            };
            if key.retired_at.is_some_and(|r| r + grace <= now) {
                continue;
            }
            let jwk_value: Value = serde_json::from_str(&key.public_jwk)
                .map_err(|e| Error::Internal(format!("key {}: bad JWK: {e}", key.kid)))?;
            let jwk: Jwk = serde_json::from_value(jwk_value.clone())
                .map_err(|e| Error::Internal(format!("key {}: bad JWK: {e}", key.kid)))?;
            let decoding = DecodingKey::from_jwk(&jwk)
                .map_err(|e| Error::Internal(format!("key {}: {e}", key.kid)))?;
            if key.retired_at.is_none() && alg == self.alg {
                // Keys come oldest first, so the newest current key signs.
                let pem = self
                    .master
                    .decrypt(&key.private_key_encrypted, &key.kid)
                    .map_err(|e| Error::Internal(format!("key {}: {e}", key.kid)))?;
                let encoding = encoding_key(alg, &pem)
                    .map_err(|e| Error::Internal(format!("key {}: {e}", key.kid)))?;
                loaded.signing = Some(SigningKey {
                    kid: key.kid.clone(),
                    alg,
                    key: encoding,
                });
            }
            loaded
                .verifying
                .insert(key.kid.clone(), VerifyingKey { alg, key: decoding });
            published.push(jwk_value);
        }
        loaded.jwks = Arc::new(json!({ "keys": published }));
        if let Ok(mut slot) = self.loaded.write() {
            *slot = Arc::new(loaded);
        }
        Ok(())
    }

    fn current(&self) -> Arc<Loaded> {
        self.loaded.read().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn jwks(&self) -> Arc<Value> {
        self.current().jwks.clone()
    }

    /// The master key, for other secrets kept at rest.
    pub(crate) fn master(&self) -> &MasterKey {
        &self.master
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub fn access_ttl_secs(&self) -> i64 {
        self.access_ttl_secs
    }

    pub fn sign(&self, claims: &AccessClaims) -> Result<String, Error> {
        let loaded = self.current();
        let key = loaded
            .signing
            .as_ref()
            .ok_or_else(|| Error::Internal("no signing key".into()))?;
        let mut header = Header::new(key.alg);
        header.typ = Some(ACCESS_TOKEN_TYP.into());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.key).map_err(|e| Error::Internal(e.to_string()))
    }

    /// Accepts only our `typ`, our keys, each key's own algorithm, our issuer
    /// and audience, and a token within its lifetime. `jku`, `x5u` and an
    /// embedded `jwk` are never consulted.
    pub fn verify(&self, token: &str, now: UnixTime) -> Result<AccessClaims, VerifyError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::Invalid);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Invalid)?;
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(VerifyError::Invalid);
        }
        let kid = header.kid.ok_or(VerifyError::Invalid)?;
        let loaded = self.current();
        let key = loaded.verifying.get(&kid).ok_or(VerifyError::UnknownKey)?;
        if header.alg != key.alg {
            return Err(VerifyError::Invalid);
        }
        let mut validation = Validation::new(key.alg);
        // Time is checked below against our own clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.key, &validation)
            .map_err(|_| VerifyError::Invalid)?;
        let claims = data.claims;
        if !within_lifetime(claims.exp, claims.nbf, now) {
            return Err(VerifyError::Invalid);
        }
        Ok(claims)
    }
}

/// Whether a token's time window holds `now`, against our own clock (with
/// [`LEEWAY_SECS`] for other nodes' clocks): from `nbf - 5` up to, not
/// including, `exp + 5`.
pub fn within_lifetime(exp: UnixTime, nbf: UnixTime, now: UnixTime) -> bool {
    now < exp + LEEWAY_SECS && now >= nbf - LEEWAY_SECS
}

fn encoding_key(alg: Algorithm, pem: &[u8]) -> Result<EncodingKey, jsonwebtoken::errors::Error> {
    match alg {
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem),
        _ => EncodingKey::from_rsa_pem(pem),
    }
}

#[cfg(test)]
mod tests {
    use super::within_lifetime;

    #[test]
    fn the_lifetime_has_five_seconds_of_leeway_and_no_more() {
        let (nbf, exp) = (1_000, 1_900);
        assert!(within_lifetime(exp, nbf, nbf));
        assert!(within_lifetime(exp, nbf, exp + 4));
        assert!(!within_lifetime(exp, nbf, exp + 5));
        assert!(!within_lifetime(exp, nbf, exp + 6));
        assert!(!within_lifetime(exp, nbf, exp + 30));
        assert!(within_lifetime(exp, nbf, nbf - 5));
        assert!(!within_lifetime(exp, nbf, nbf - 6));
    }
}
