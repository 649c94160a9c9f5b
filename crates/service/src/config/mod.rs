//! Configuration: defaults, then a TOML file, then `LATCHKEY_*` environment
//! variables, then command-line flags. Unknown keys are refused, and every
//! error names the key it is about.
//!
//! - here: [`Config`], the command-line [`Overrides`], [`ConfigError`], and
//!   what the rest of the crate asks of a loaded configuration;
//! - `sections`: the `[section]` tables, each with its defaults;
//! - `env`: the layering in [`Config::load`] and the `LATCHKEY_*` names;
//! - `validate`: every check, in [`Config::validate`].
//!
//! This module depends on nothing else in the crate but the `pwned_file`
//! leaf (to check a breached-password file), so any module may import it.

use std::net::SocketAddr;
use std::path::PathBuf;

use latchkey_core::password::PasswordPolicy;
use latchkey_core::password_hash::HashParams;
use latchkey_core::session::SessionPolicy;
use serde::{Deserialize, Serialize};

mod env;
mod sections;
mod validate;

pub use sections::{
    BreachedConfig, EmailConfig, HashPoolConfig, RateLimits, SmtpConfig, SmtpTls, TokenConfig,
    UiConfig,
};

/// Compatibility route sets that configuration can switch on.
pub const COMPAT_SETS: &[&str] = &["sanctumtools", "leochilds"];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: String,
    pub data_dir: PathBuf,
    /// Empty means SQLite inside the data directory.
    pub database_url: String,
    /// Empty means `http://<listen>`. Every link and the token issuer derive from it.
    pub public_url: String,
    pub require_verified_email: bool,
    pub password: PasswordPolicy,
    /// Breached-password lists (a local file, a range API); none by default.
    pub breached: BreachedConfig,
    pub argon2: HashParams,
    pub session: SessionPolicy,
    pub tokens: TokenConfig,
    pub hash_pool: HashPoolConfig,
    pub smtp: SmtpConfig,
    pub email: EmailConfig,
    /// Compatibility routes: `sanctumtools`, `leochilds` (a list, or a
    /// comma-separated string in `LATCHKEY_COMPAT`).
    #[serde(deserialize_with = "list_or_csv")]
    pub compat: Vec<String>,
    /// Redis for counters shared by several nodes; empty keeps them in process.
    pub redis_url: String,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is believed.
    #[serde(deserialize_with = "list_or_csv")]
    pub trusted_proxies: Vec<String>,
    /// Browser origins allowed to call the API; none means CORS is off.
    #[serde(deserialize_with = "list_or_csv")]
    pub cors_origins: Vec<String>,
    pub rate_limit: RateLimits,
    pub lockout: latchkey_core::throttle::LockoutPolicy,
    /// Audit events older than this many days are pruned; 0 keeps them all.
    pub audit_retention_days: u32,
    /// The hosted pages (`/login`, `/signup`, `/account`…).
    pub ui: UiConfig,
    /// Set when `public_url` was derived from `listen` (not configured).
    #[serde(skip)]
    pub public_url_from_listen: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./latchkey-data"),
            database_url: String::new(),
            public_url: String::new(),
            require_verified_email: true,
            password: PasswordPolicy::default(),
            breached: BreachedConfig::default(),
            argon2: HashParams::default(),
            session: SessionPolicy::default(),
            tokens: TokenConfig::default(),
            hash_pool: HashPoolConfig::default(),
            smtp: SmtpConfig::default(),
            email: EmailConfig::default(),
            compat: Vec::new(),
            redis_url: String::new(),
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            rate_limit: RateLimits::default(),
            lockout: latchkey_core::throttle::LockoutPolicy::default(),
            audit_retention_days: 400,
            ui: UiConfig::default(),
            public_url_from_listen: false,
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// An error about one key: `key: problem`.
pub fn invalid(key: &str, problem: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("{key}: {problem}"))
}

fn list_or_csv<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match ListOrCsv::deserialize(d)? {
        ListOrCsv::List(v) => v,
        ListOrCsv::Csv(s) => s
            .split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
    })
}

impl Config {
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen
            .parse()
            .map_err(|_| invalid("listen", "not an address"))
    }

    /// The trusted proxies as networks (a bare address is a /32 or /128).
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<ipnet::IpNet>()
                    .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        invalid(
                            "trusted_proxies",
                            format!("{p:?} is not an address or CIDR range"),
                        )
                    })
            })
            .collect()
    }

    pub fn compat(&self, set: &str) -> bool {
        self.compat.iter().any(|c| c == set)
    }

    /// A link for an emailed token, always built from the configured public
    /// URL, never from anything in a request.
    pub fn link(&self, path: &str, token: &str) -> String {
        format!("{}{path}?token={token}", self.public_url)
    }

    pub fn is_https(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    pub fn hash_threads(&self) -> usize {
        match self.hash_pool.threads {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        }
    }

    pub fn hash_queue(&self) -> usize {
        match self.hash_pool.queue {
            0 => self.hash_threads() * 2,
            n => n,
        }
    }
}
