//! The composition root: everything the use cases need, built once at start-up.

use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;

use latchkey_core::password_hash::Hasher;
use latchkey_core::session::Session;
use latchkey_core::token::SecretToken;
use latchkey_core::{Clock, Email, Error, User, Username};
use latchkey_store::Store;

use crate::check_cache::{SessionCache, TokenCache};
use crate::config::Config;
use crate::hash_pool::HashPool;
use crate::keys::{KeyRing, MasterKey, parse_alg};
use crate::mail::Mailer;
use crate::outbound::Fetch;

/// Requests' after-the-answer tasks (reset and verification mail) that may
/// run at once; each is one lookup and one small transaction.
const BACKGROUND_TASKS: usize = 64;

/// Everything a request handler may need, built once at start-up.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub hasher: Arc<Hasher>,
    pub pool: HashPool,
    pub keys: KeyRing,
    pub mailer: Mailer,
    /// Breached-password lists, if configured.
    pub breached: crate::breached::BreachedChecker,
    pub ephemeral: Arc<dyn latchkey_store::ephemeral::Ephemeral>,
    /// Bounds the work requests leave running after their answer.
    pub background: Arc<tokio::sync::Semaphore>,
    /// Parsed once from `trusted_proxies`.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub clock: Arc<dyn Clock>,
    /// Open sessions recently checked (see [`SessionCache`]).
    pub session_cache: SessionCache,
    /// Access tokens recently verified.
    pub token_cache: TokenCache,
}

/// What the client told us about itself, bounded.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// This request's id, for the audit trail.
    pub request_id: Option<String>,
}

/// A signed-in caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub session: Session,
    /// Where the request came from (for the audit trail).
    pub client: ClientInfo,
}

/// Tokens handed out at login or refresh.
#[derive(Debug)]
pub struct Issued {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: SecretToken,
    /// Only at login: the new session cookie.
    pub cookie_token: Option<SecretToken>,
    pub session: Session,
    pub user: User,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("cannot open the database: {0}")]
    Store(#[from] latchkey_store::StoreError),
    #[error(transparent)]
    MasterKey(#[from] crate::keys::master::MasterKeyError),
    #[error("{0}")]
    Other(String),
}

impl App {
    /// Creates the data directory, opens and migrates the store, loads the
    /// master key and the signing keys (creating them on first start).
    pub async fn start(
        config: Config,
        clock: Arc<dyn Clock>,
        master_key_env: Option<&str>,
        fetch: Arc<dyn Fetch>,
    ) -> Result<Self, StartError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.data_dir)
            .map_err(|e| StartError::DataDir(config.data_dir.display().to_string(), e))?;
        let store = latchkey_store::migrate(&config.database_url).await?;
        let master = Arc::new(MasterKey::load_or_create(&config.data_dir, master_key_env)?);
        let mailer = Mailer::new(&config, master.clone()).map_err(StartError::Other)?;
        let trusted_proxies = config
            .trusted_proxy_nets()
            .map_err(|e| StartError::Other(e.to_string()))?;
        let redis = Some(config.redis_url.as_str()).filter(|u| !u.is_empty());
        let ephemeral = latchkey_store::ephemeral::ephemeral(redis)
            .await
            .map_err(|e| StartError::Other(format!("redis_url: {e}")))?;
        let alg = parse_alg(&config.tokens.algorithm)
            .ok_or_else(|| StartError::Other("tokens.algorithm is not supported".into()))?;
        let keys = KeyRing::open(
            store.clone(),
            master,
            alg,
            config.public_url.clone(),
            config.tokens.audience.clone(),
            config.tokens.access_ttl_secs,
            clock.now(),
        )
        .await
        .map_err(|e| StartError::Other(e.to_string()))?;
        let hasher = Hasher::new(config.argon2).map_err(|e| StartError::Other(e.to_string()))?;
        let breached = crate::breached::BreachedChecker::new(&config.breached, fetch)
            .map_err(StartError::Other)?;
        let pool = HashPool::new(config.hash_threads(), config.hash_queue())
            .map_err(|e| StartError::Other(format!("cannot start the hash pool: {e}")))?;
        let config_cache_ms = config.session.check_cache_ms;
        Ok(Self {
            config,
            store,
            hasher: Arc::new(hasher),
            breached,
            pool,
            keys,
            mailer,
            ephemeral,
            background: Arc::new(tokio::sync::Semaphore::new(BACKGROUND_TASKS)),
            trusted_proxies,
            clock,
            session_cache: SessionCache::new(std::time::Duration::from_millis(config_cache_ms)),
            token_cache: TokenCache::new(),
        })
    }

    /// Parses an email given in a request, naming the field on failure.
    pub fn parse_email(raw: &str) -> Result<Email, Error> {
        Email::parse(raw).map_err(|e| Error::invalid("email", e.to_string()))
    }

    pub fn parse_username(raw: &str) -> Result<Username, Error> {
        Username::parse(raw).map_err(|e| Error::invalid("username", e.to_string()))
    }
}
