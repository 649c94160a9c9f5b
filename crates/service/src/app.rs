//! The composition root: the application built once at start-up, and the
//! capabilities callers reach it through. A caller (an HTTP handler, a CLI
//! command) names the capability it uses: `app.auth().login(…)`.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use latchkey_core::password_hash::Hasher;
use latchkey_core::{Clock, Email, Error, Username};

use crate::account::Account;
use crate::admin::Admin;
use crate::auth::Auth;
use crate::background::Background;
use crate::check_cache::{SessionCache, TokenCache};
use crate::config::Config;
use crate::context::Ctx;
use crate::hash_pool::HashPool;
use crate::keys::{KeyRing, MasterKey, parse_alg};
use crate::mail::Mailer;
use crate::outbound::Fetch;
use crate::recovery::Recovery;
use crate::sessions::Sessions;

/// Requests' after-the-answer tasks (reset and verification mail) that may
/// run at once; each is one lookup and one small transaction.
const BACKGROUND_TASKS: usize = 64;

/// A readiness check that takes longer than this says "not ready", so a
/// load balancer hears of an outage at once.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_millis(900);

/// The running application. Cloning it is cheap (one `Arc`).
#[derive(Debug, Clone)]
pub struct App {
    ctx: Arc<Ctx>,
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

/// Creates the data directory (0700) if it is missing. One that exists is
/// left as it is, with a warning naming its mode when group or others may
/// read or write it: it holds the master key, the SQLite database and mail
/// with working links.
pub fn create_data_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(
            path = %dir.display(),
            mode = %format!("{mode:04o}"),
            "the data directory {} is open to other users (mode {mode:04o}); \
             it holds the master key, the database and mail with working links: \
             chmod 700 it",
            dir.display(),
        );
    }
    Ok(())
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
        create_data_dir(&config.data_dir)
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
        let ctx = Ctx {
            config,
            store,
            hasher: Arc::new(hasher),
            breached,
            pool,
            keys,
            mailer: Arc::new(mailer),
            ephemeral,
            background: Arc::new(tokio::sync::Semaphore::new(BACKGROUND_TASKS)),
            trusted_proxies,
            clock,
            session_cache: SessionCache::new(std::time::Duration::from_millis(config_cache_ms)),
            token_cache: TokenCache::new(),
        };
        Ok(Self { ctx: Arc::new(ctx) })
    }

    /// Parses an email given in a request, naming the field on failure.
    pub fn parse_email(raw: &str) -> Result<Email, Error> {
        Email::parse(raw).map_err(|e| Error::invalid("email", e.to_string()))
    }

    pub fn parse_username(raw: &str) -> Result<Username, Error> {
        Username::parse(raw).map_err(|e| Error::invalid("username", e.to_string()))
    }

    /// Sign-up and login.
    pub fn auth(&self) -> Auth {
        Auth(self.ctx.clone())
    }

    /// Token and cookie checks, refresh, logout, a user's sessions.
    pub fn sessions(&self) -> Sessions {
        Sessions(self.ctx.clone())
    }

    /// Second factors and the second step of a login.
    pub fn mfa(&self) -> crate::mfa::Mfa {
        crate::mfa::Mfa(self.ctx.clone())
    }

    /// Email verification, forgotten password and reset.
    pub fn recovery(&self) -> Recovery {
        Recovery(self.ctx.clone())
    }

    /// The signed-in user's password, address and security events.
    pub fn account(&self) -> Account {
        Account(self.ctx.clone())
    }

    /// What an operator does: accounts, keys, the audit trail, the outbox.
    pub fn admin(&self) -> Admin {
        Admin(self.ctx.clone())
    }

    /// Background work every node runs: the outbox worker and the upkeep
    /// (key reload, pruning) once a minute.
    pub fn background(&self) -> Background {
        Background(self.ctx.clone())
    }

    /// The configuration the application runs with.
    pub fn config(&self) -> &Config {
        &self.ctx.config
    }

    /// The public signing keys (`/.well-known/jwks.json`).
    pub fn jwks(&self) -> Arc<serde_json::Value> {
        self.ctx.keys.jwks()
    }

    /// Proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> &[ipnet::IpNet] {
        &self.ctx.trusted_proxies
    }

    /// Whether the store answers (readiness), within [`READY_WITHIN`].
    pub async fn ready(&self) -> Result<(), Error> {
        match tokio::time::timeout(READY_WITHIN, self.ctx.store.ping()).await {
            Ok(answer) => Ok(answer?),
            Err(_) => Err(Error::Unavailable),
        }
    }

    /// The store's backend name (`sqlite`, `postgres`), for the start-up log.
    pub fn backend_name(&self) -> &'static str {
        self.ctx.store.backend().name()
    }

    /// Whether mail is written to files (no SMTP server configured).
    pub fn mail_goes_to_files(&self) -> bool {
        self.ctx.mailer.uses_files()
    }

    /// The store, for tests that check what was written.
    #[cfg(feature = "testing")]
    pub fn store(&self) -> &Arc<dyn latchkey_store::Store> {
        &self.ctx.store
    }

    /// The signing keys, for tests of rotation and reload.
    #[cfg(feature = "testing")]
    pub fn keys(&self) -> &KeyRing {
        &self.ctx.keys
    }

    /// The password hasher, for tests that write accounts directly.
    #[cfg(feature = "testing")]
    pub fn hasher(&self) -> &Hasher {
        &self.ctx.hasher
    }

    /// Wakes this node's outbox worker, for tests that move the clock.
    #[cfg(feature = "testing")]
    pub fn wake_mail_worker(&self) {
        self.ctx.mailer.queued.notify_one();
    }
}
