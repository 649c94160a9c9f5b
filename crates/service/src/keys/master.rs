//! The master key encrypts signing keys (and later TOTP secrets) at rest.
//! It comes from `LATCHKEY_MASTER_KEY` (base64 of 32 bytes) or from
//! `<data dir>/master.key`, created with mode 0600 on first start. Nodes that
//! share one database must share one master key.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub const MASTER_KEY_FILE: &str = "master.key";

pub struct MasterKey(LessSafeKey);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("LATCHKEY_MASTER_KEY must be the base64 of 32 bytes")]
    BadEnv,
    #[error("{0} must hold the base64 of 32 bytes")]
    BadFile(String),
    #[error("cannot read or create {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("a secret could not be decrypted: wrong master key or damaged data")]
    Decrypt,
    #[error("the system random generator failed")]
    Random,
}

impl MasterKey {
    /// The key from `env` if given, else from the data directory's file,
    /// which is created when missing.
    pub fn load_or_create(data_dir: &Path, env: Option<&str>) -> Result<Self, MasterKeyError> {
        if let Some(value) = env {
            return Self::from_base64(value.trim()).ok_or(MasterKeyError::BadEnv);
        }
        let path = data_dir.join(MASTER_KEY_FILE);
        let io = |source| MasterKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                if let Ok(meta) = std::fs::metadata(&path)
                    && meta.permissions().mode() & 0o077 != 0
                {
                    tracing::warn!(path = %path.display(), "the master key file is readable by others; chmod 600 it");
                }
                Self::from_base64(text.trim())
                    .ok_or_else(|| MasterKeyError::BadFile(path.display().to_string()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut bytes)
                    .map_err(|_| MasterKeyError::Random)?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io)?;
                writeln!(file, "{}", STANDARD.encode(bytes)).map_err(io)?;
                file.sync_all().map_err(io)?;
                tracing::info!(path = %path.display(), "created a new master key");
                Self::from_bytes(&bytes).ok_or(MasterKeyError::Random)
            }
            Err(e) => Err(io(e)),
        }
    }

    fn from_base64(text: &str) -> Option<Self> {
        let bytes = STANDARD.decode(text).ok()?;
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 32 {
            return None;
        }
        UnboundKey::new(&AES_256_GCM, bytes)
            .ok()
            .map(|k| Self(LessSafeKey::new(k)))
    }

    /// AES-256-GCM with a random nonce; `context` is bound as associated data.
    pub fn encrypt(&self, plaintext: &[u8], context: &str) -> Result<Vec<u8>, MasterKeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| MasterKeyError::Random)?;
        let mut sealed = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| MasterKeyError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn decrypt(&self, blob: &[u8], context: &str) -> Result<Vec<u8>, MasterKeyError> {
        if blob.len() < NONCE_LEN {
            return Err(MasterKeyError::Decrypt);
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| MasterKeyError::Decrypt)?;
        let mut buf = sealed.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| MasterKeyError::Decrypt)?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = MasterKey::load_or_create(dir.path(), None).unwrap();
        let mode = std::fs::metadata(dir.path().join(MASTER_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = MasterKey::load_or_create(dir.path(), None).unwrap();
        let sealed = a.encrypt(b"secret", "kid-1").unwrap();
        assert_eq!(b.decrypt(&sealed, "kid-1").unwrap(), b"secret");
        assert!(b.decrypt(&sealed, "kid-2").is_err(), "context is bound");
    }

    #[test]
    fn env_key_wins_and_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        assert!(MasterKey::load_or_create(dir.path(), Some("short")).is_err());
        let env = STANDARD.encode([7u8; 32]);
        let k = MasterKey::load_or_create(dir.path(), Some(&env)).unwrap();
        let other = MasterKey::load_or_create(dir.path(), None).unwrap();
        let sealed = k.encrypt(b"x", "c").unwrap();
        assert!(other.decrypt(&sealed, "c").is_err());
    }
}
